//! The balance updater: fixes the split of new blocks (immature credits), follows
//! their confirmations on the chain, and credits them at maturity or drops them when
//! the chain no longer has them.

use std::collections::BTreeMap;
use std::sync::Arc;

use defpool_core::stream::Event;

use crate::accounting::compute_split;
use crate::config::Config;
use crate::daemon::DaemonSet;
use crate::events::EventHub;
use crate::store::{BlockRecord, Store, StoreError};

/// What one pass did, for logs and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UpdateReport {
    pub splits_computed: u32,
    pub confirmed: u32,
    pub orphaned: u32,
    pub still_pending: u32,
    pub errors: u32,
}

pub struct BalanceUpdater {
    store: Store,
    config: Arc<Config>,
    daemons: BTreeMap<String, Arc<DaemonSet>>,
    events: Option<EventHub>,
}

impl BalanceUpdater {
    pub fn new(
        store: Store,
        config: Arc<Config>,
        daemons: BTreeMap<String, Arc<DaemonSet>>,
    ) -> Self {
        BalanceUpdater {
            store,
            config,
            daemons,
            events: None,
        }
    }

    /// Announces confirmed and orphaned blocks and the balances they changed on the
    /// live stream.
    pub fn with_events(mut self, events: EventHub) -> Self {
        self.events = Some(events);
        self
    }

    /// Publishes a block's new state and the balances of its credited accounts.
    async fn announce(&self, block_id: i64, confirmed: bool) -> Result<(), StoreError> {
        let Some(events) = &self.events else {
            return Ok(());
        };
        let Some(record) = self.store.block(block_id).await? else {
            return Ok(());
        };
        let coin = record.coin.clone();
        let block = crate::api::block_view(record);
        events.publish(if confirmed {
            Event::BlockConfirmed { block }
        } else {
            Event::BlockOrphaned { block }
        });
        let mut accounts: Vec<String> = self
            .store
            .block_credits(block_id)
            .await?
            .into_iter()
            .map(|c| c.account)
            .collect();
        accounts.dedup();
        for account in accounts {
            if let Some(b) = self.store.balance(&coin, &account).await? {
                events.publish(Event::BalanceChanged {
                    miner: account,
                    balance: crate::api::balance_view(b),
                });
            }
        }
        Ok(())
    }

    /// One pass over every pending block.
    pub async fn run_once(&self) -> Result<UpdateReport, StoreError> {
        let mut report = UpdateReport::default();
        let pending = self.store.pending_blocks().await?;
        let mut by_coin: BTreeMap<String, Vec<BlockRecord>> = BTreeMap::new();
        for block in pending {
            by_coin.entry(block.coin.clone()).or_default().push(block);
        }
        for (coin, mut blocks) in by_coin {
            let Some(coin_cfg) = self.config.coin(&coin) else {
                tracing::warn!(%coin, "pending blocks of a coin that is no longer configured");
                report.still_pending += blocks.len() as u32;
                continue;
            };
            for block in blocks.iter_mut().filter(|b| !b.credits_computed) {
                let split = compute_split(&self.store, block).await?;
                match self
                    .store
                    .record_block_credits(block, &split, coin_cfg.fee_account())
                    .await
                {
                    Ok(()) => {
                        block.credits_computed = true;
                        report.splits_computed += 1;
                        tracing::info!(%coin, block = block.id, height = block.height, accounts = split.credits.len(), "block round computed; credits immature");
                    }
                    Err(StoreError::Conflict(msg)) => {
                        tracing::debug!(%coin, block = block.id, %msg, "split already recorded")
                    }
                    Err(e) => return Err(e),
                }
            }
            let Some(daemons) = self.daemons.get(&coin).filter(|d| !d.is_empty()) else {
                report.still_pending += blocks.len() as u32;
                continue;
            };
            let heights: Vec<u64> = blocks.iter().map(|b| b.height).collect();
            let (tip, hashes) = match daemons.chain_state(&heights).await {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!(%coin, error = %e, "no daemon answered; blocks stay pending");
                    report.errors += 1;
                    report.still_pending += blocks.len() as u32;
                    continue;
                }
            };
            for (block, chain_hash) in blocks.iter().zip(hashes) {
                let confirmations = (tip + 1).saturating_sub(block.height);
                match chain_hash {
                    Some(h) if !h.eq_ignore_ascii_case(&block.hash) => {
                        self.store.orphan_block(block.id).await?;
                        report.orphaned += 1;
                        self.announce(block.id, false).await?;
                        tracing::warn!(%coin, block = block.id, height = block.height, ours = %block.hash, chain = %h, "block orphaned");
                    }
                    Some(_) if confirmations >= block.maturity && block.credits_computed => {
                        self.store.confirm_block(block.id, confirmations).await?;
                        report.confirmed += 1;
                        self.announce(block.id, true).await?;
                        tracing::info!(%coin, block = block.id, height = block.height, confirmations, "block matured; credits moved to balances");
                    }
                    _ => {
                        self.store
                            .set_block_confirmations(block.id, confirmations.min(block.maturity))
                            .await?;
                        report.still_pending += 1;
                    }
                }
            }
        }
        Ok(report)
    }
}
