//! The payout processor: settles payout transactions that were built but not known
//! to be broadcast, creates automatic payouts, and sends due ones through the coin's
//! wallet.
//!
//! Order of writes per send: `processing` is committed (the intent); the wallet builds
//! and signs the transaction without broadcasting it; its hash, fee and signed bytes
//! are committed; only then is it broadcast, and `completed` committed. After a crash
//! or an unclear broadcast, [`PayoutProcessor::settle_prepared`] asks the network
//! whether that transaction exists and otherwise republishes the very same bytes. A
//! retry can therefore never pay a second time: at most one transaction exists per
//! payout attempt, and a new one is built only when the network refused the old one.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use defpool_core::payout::{split_reward, RoundWeights};
use defpool_core::stream::Event;
use defpool_core::{address, Amount, FeeRate, Work};

use super::wallet::{Prepared, Sent, Transfer, TxStatus, Wallet, WalletError};
use crate::config::{CoinConfig, Config};
use crate::events::EventHub;
use crate::failpoint;
use crate::live_config::LiveConfig;
use crate::store::{now_ms, PayoutRecord, Store, StoreError};

/// What one pass did, for logs and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcessReport {
    pub created: u32,
    pub sent: u32,
    pub failed: u32,
    pub deferred: u32,
    pub reconciled_sent: u32,
    pub reconciled_unsent: u32,
    pub waiting_for_wallet: u64,
    pub became_final: u32,
    /// Prepared transactions still waiting to be seen by the network.
    pub unsettled: u32,
}

pub struct PayoutProcessor {
    store: Store,
    config: Arc<Config>,
    wallets: BTreeMap<String, Arc<dyn Wallet>>,
    events: Option<EventHub>,
    /// When set, each pass reads the config from here, so a reload applies.
    live: Option<LiveConfig>,
}

impl PayoutProcessor {
    pub fn new(
        store: Store,
        config: Arc<Config>,
        wallets: BTreeMap<String, Arc<dyn Wallet>>,
    ) -> Self {
        PayoutProcessor {
            store,
            config,
            wallets,
            events: None,
            live: None,
        }
    }

    /// Reads `min_payout`, `auto_payout` and `[payouts]` afresh each pass.
    pub fn with_live_config(mut self, live: LiveConfig) -> Self {
        self.live = Some(live);
        self
    }

    /// The config in force for this pass.
    fn config(&self) -> Arc<Config> {
        match &self.live {
            Some(live) => live.current(),
            None => self.config.clone(),
        }
    }

    /// Announces every payout state change on the live stream.
    pub fn with_events(mut self, events: EventHub) -> Self {
        self.events = Some(events);
        self
    }

    /// Publishes the current state of payouts that changed in this pass.
    async fn announce_since(&self, coin: &str, since_ms: i64) -> Result<(), StoreError> {
        let Some(events) = &self.events else {
            return Ok(());
        };
        for p in self.store.payouts_changed_since(coin, since_ms).await? {
            events.publish(Event::PayoutChanged {
                payout: crate::api::payout_view(p),
            });
        }
        Ok(())
    }

    pub async fn run_once(&self) -> Result<ProcessReport, StoreError> {
        let mut report = ProcessReport::default();
        let config = self.config();
        for coin in &config.coins {
            let symbol = coin.spec().symbol;
            let pass_started = now_ms();
            let Some(wallet) = self.wallets.get(symbol) else {
                let reason =
                    format!("no wallet is configured for {symbol}; the payout waits until one is");
                report.waiting_for_wallet += self.store.set_pending_reason(symbol, &reason).await?;
                continue;
            };
            let settled = self
                .settle_prepared(coin, wallet.as_ref(), &mut report)
                .await?;
            self.reconcile(coin, wallet.as_ref(), &mut report).await?;
            if coin.auto_payout {
                for (account, balance) in self
                    .store
                    .accounts_due_for_payout(symbol, coin.min_payout_amount())
                    .await?
                {
                    match self
                        .store
                        .create_payout(symbol, &account, balance, "auto", None)
                        .await
                    {
                        Ok(p) => {
                            report.created += 1;
                            tracing::info!(coin = symbol, payout = p.id, %account, amount = %p.amount, "automatic payout created");
                        }
                        // Raced with a manual request or a balance change: next pass.
                        Err(StoreError::Conflict(_) | StoreError::InsufficientBalance { .. }) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            // While a built transaction is unsettled its inputs are not marked spent in
            // the wallet; building another could pick the same inputs and make both
            // fail. Wait until it is settled.
            if settled {
                self.send_due(coin, wallet.as_ref(), &mut report).await?;
            }
            self.follow_confirmations(coin, wallet.as_ref(), &mut report)
                .await?;
            self.announce_since(symbol, pass_started).await?;
        }
        Ok(report)
    }

    /// Settles payouts whose transaction was built and recorded but not seen
    /// broadcast: completes them when the network has the transaction, republishes
    /// the recorded bytes otherwise, and drops the transaction only when the wallet
    /// refused to publish it and the network still does not know it after
    /// `reconcile_after`. Returns whether none is left unsettled.
    async fn settle_prepared(
        &self,
        coin: &CoinConfig,
        wallet: &dyn Wallet,
        report: &mut ProcessReport,
    ) -> Result<bool, StoreError> {
        let symbol = coin.spec().symbol;
        let mut groups: BTreeMap<String, Vec<PayoutRecord>> = BTreeMap::new();
        for p in self.store.processing_payouts(symbol).await? {
            if let Some(tx) = p.tx_hash.clone() {
                groups.entry(tx).or_default().push(p);
            }
        }
        let mut all_settled = true;
        for (tx_hash, group) in groups {
            match wallet.tx_status(&tx_hash).await {
                Ok(TxStatus::InPool | TxStatus::Mined { .. }) => {
                    self.complete_prepared(&group, &tx_hash).await?;
                    report.reconciled_sent += group.len() as u32;
                    tracing::warn!(coin = symbol, tx = %tx_hash, payouts = group.len(), "payout transaction found on the network; recorded as sent");
                    continue;
                }
                Ok(TxStatus::Unknown) => {}
                Err(e) => {
                    tracing::warn!(coin = symbol, tx = %tx_hash, error = %e, "cannot tell whether a payout transaction was broadcast; asking again next pass");
                    all_settled = false;
                    report.unsettled += 1;
                    continue;
                }
            }
            let Some(signed) = self.store.signed_tx(&tx_hash).await? else {
                return Err(StoreError::Corrupt(format!(
                    "processing payouts with transaction {tx_hash} have no signed transaction"
                )));
            };
            let prepared = Prepared {
                tx_hash: tx_hash.clone(),
                fee: group
                    .iter()
                    .filter_map(|p| p.fee)
                    .fold(Amount::ZERO, |a, f| a.checked_add(f).unwrap_or(a)),
                signed,
            };
            match wallet.broadcast(&prepared).await {
                Ok(()) => {
                    self.complete_prepared(&group, &tx_hash).await?;
                    report.sent += group.len() as u32;
                    tracing::info!(coin = symbol, tx = %tx_hash, payouts = group.len(), "payout transaction republished");
                }
                Err(e @ WalletError::Rejected { .. })
                    if group.iter().all(|p| {
                        p.processing_at.unwrap_or(0)
                            <= now_ms() - self.config().payouts.reconcile_after.as_millis() as i64
                    }) =>
                {
                    // The wallet refused these exact bytes and no daemon has seen them
                    // for `reconcile_after`: the transaction can never be mined (inputs
                    // spent elsewhere, fee too low...). Build a new one.
                    let attempts = group.iter().map(|p| p.attempts).max().unwrap_or(1);
                    let retry_at = now_ms()
                        + backoff(self.config().payouts.retry_backoff, attempts).as_millis() as i64;
                    let reason = format!(
                        "transaction {tx_hash} was refused and never reached the network ({e}); it is built again"
                    );
                    self.store
                        .abandon_prepared(&tx_hash, &reason, retry_at)
                        .await?;
                    report.deferred += group.len() as u32;
                    tracing::error!(coin = symbol, tx = %tx_hash, error = %e, payouts = group.len(), "payout transaction refused by the network; payouts go back to pending");
                }
                Err(e) => {
                    all_settled = false;
                    report.unsettled += 1;
                    tracing::warn!(coin = symbol, tx = %tx_hash, error = %e, payouts = group.len(), "payout transaction not broadcast yet; republished next pass");
                }
            }
        }
        Ok(all_settled)
    }

    /// Completes the payouts of a recorded transaction with the fee shares recorded
    /// when it was built.
    async fn complete_prepared(
        &self,
        group: &[PayoutRecord],
        tx_hash: &str,
    ) -> Result<(), StoreError> {
        let pairs: Vec<(i64, Amount)> = group
            .iter()
            .map(|p| (p.id, p.fee.unwrap_or(Amount::ZERO)))
            .collect();
        self.store.complete_payouts(&pairs, tx_hash).await
    }

    /// Follows completed payouts' transactions until they are final.
    async fn follow_confirmations(
        &self,
        coin: &CoinConfig,
        wallet: &dyn Wallet,
        report: &mut ProcessReport,
    ) -> Result<(), StoreError> {
        let symbol = coin.spec().symbol;
        let final_after = self.config().payouts.final_confirmations;
        for p in self
            .store
            .unconfirmed_payouts(symbol, final_after, 100)
            .await?
        {
            let Some(tx) = p.tx_hash.as_deref() else {
                continue;
            };
            let confirmations = match wallet.tx_status(tx).await {
                Ok(TxStatus::Mined { confirmations }) => confirmations,
                Ok(TxStatus::InPool) => 0,
                Ok(TxStatus::Unknown) => {
                    tracing::warn!(
                        coin = symbol,
                        payout = p.id,
                        tx,
                        "no daemon knows this payout's transaction (dropped from the pool or reorganised out?)"
                    );
                    continue;
                }
                Err(e) => {
                    tracing::debug!(coin = symbol, error = %e, "cannot read payout confirmations now");
                    break;
                }
            };
            if confirmations != p.confirmations {
                self.store
                    .set_payout_confirmations(p.id, confirmations)
                    .await?;
                if confirmations >= final_after {
                    report.became_final += 1;
                    tracing::info!(
                        coin = symbol,
                        payout = p.id,
                        tx,
                        confirmations,
                        "payout final"
                    );
                }
            }
        }
        Ok(())
    }

    /// Settles payouts left in `processing` WITHOUT a recorded transaction for longer
    /// than `reconcile_after`. This version never broadcasts before recording, so such
    /// payouts were not sent by it; the wallet is still asked, for payouts an older
    /// version left behind while it sent in one step.
    async fn reconcile(
        &self,
        coin: &CoinConfig,
        wallet: &dyn Wallet,
        report: &mut ProcessReport,
    ) -> Result<(), StoreError> {
        let symbol = coin.spec().symbol;
        let cutoff = now_ms() - self.config().payouts.reconcile_after.as_millis() as i64;
        let stuck: Vec<PayoutRecord> = self
            .store
            .processing_payouts(symbol)
            .await?
            .into_iter()
            .filter(|p| p.tx_hash.is_none() && p.processing_at.unwrap_or(0) <= cutoff)
            .collect();
        if stuck.is_empty() {
            return Ok(());
        }
        // One batch shares its processing_at: try it whole first, then each payout
        // alone (the batch may have been split to isolate a bad address).
        let mut groups: BTreeMap<i64, Vec<PayoutRecord>> = BTreeMap::new();
        for p in stuck {
            groups
                .entry(p.processing_at.unwrap_or(0))
                .or_default()
                .push(p);
        }
        for (since, group) in groups {
            let transfers: Vec<Transfer> = group.iter().map(transfer_of).collect();
            match wallet.find_sent(&transfers, since).await {
                Ok(Some(sent)) if !self.store.tx_hash_known(&sent.tx_hash).await? => {
                    self.complete(&group, &sent).await?;
                    report.reconciled_sent += group.len() as u32;
                    tracing::warn!(coin = symbol, tx = %sent.tx_hash, payouts = group.len(), "payouts found sent after a restart; recorded, not resent");
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(coin = symbol, error = %e, "cannot reconcile payouts yet");
                    continue;
                }
            }
            for p in &group {
                match wallet.find_sent(&[transfer_of(p)], since).await {
                    Ok(Some(sent)) if !self.store.tx_hash_known(&sent.tx_hash).await? => {
                        self.complete(std::slice::from_ref(p), &sent).await?;
                        report.reconciled_sent += 1;
                    }
                    Ok(_) => {
                        self.store
                            .retry_payout_later(
                                p.id,
                                "not sent before a restart; sending again",
                                now_ms(),
                            )
                            .await?;
                        report.reconciled_unsent += 1;
                        tracing::warn!(
                            coin = symbol,
                            payout = p.id,
                            "payout was not sent before a restart; it goes out again"
                        );
                    }
                    Err(e) => {
                        tracing::warn!(coin = symbol, payout = p.id, error = %e, "cannot reconcile payout yet")
                    }
                }
            }
        }
        Ok(())
    }

    async fn send_due(
        &self,
        coin: &CoinConfig,
        wallet: &dyn Wallet,
        report: &mut ProcessReport,
    ) -> Result<(), StoreError> {
        let spec = coin.spec();
        let due = self
            .store
            .due_payouts(
                spec.symbol,
                now_ms(),
                self.config().payouts.max_batch as i64,
            )
            .await?;
        let mut valid = Vec::with_capacity(due.len());
        for p in due {
            // One bad address fails its own payout, never the batch.
            match address::validate(spec, coin.network, &p.account) {
                Ok(_) => valid.push(p),
                Err(e) => {
                    self.store
                        .fail_payout(p.id, &format!("invalid address: {e}"))
                        .await?;
                    report.failed += 1;
                }
            }
        }
        if valid.is_empty() {
            return Ok(());
        }
        let ids: Vec<i64> = valid.iter().map(|p| p.id).collect();
        let moved = self.store.mark_processing(&ids).await?;
        let batch: Vec<PayoutRecord> = valid
            .into_iter()
            .filter(|p| moved.contains(&p.id))
            .collect();
        failpoint::hit("payout.before_send").await;
        self.send_batch(spec.symbol, wallet, batch, report).await
    }

    async fn send_batch(
        &self,
        symbol: &str,
        wallet: &dyn Wallet,
        batch: Vec<PayoutRecord>,
        report: &mut ProcessReport,
    ) -> Result<(), StoreError> {
        let transfers: Vec<Transfer> = batch.iter().map(transfer_of).collect();
        let prepared = match wallet.prepare(&transfers).await {
            Ok(p) => p,
            Err(WalletError::Rejected {
                bad_address: true, ..
            }) if batch.len() > 1 => {
                // Find the bad destination by building each payout on its own.
                for p in batch {
                    Box::pin(self.send_batch(symbol, wallet, vec![p], report)).await?;
                }
                return Ok(());
            }
            Err(WalletError::Rejected { message, .. }) => {
                for p in &batch {
                    self.store
                        .fail_payout(p.id, &format!("wallet refused: {message}"))
                        .await?;
                    report.failed += 1;
                }
                tracing::warn!(coin = symbol, %message, payouts = batch.len(), "wallet refused payouts; credited back");
                return Ok(());
            }
            // Building never broadcasts, so even an unclear outcome means nothing left.
            Err(
                e @ (WalletError::InsufficientFunds(_)
                | WalletError::Unavailable(_)
                | WalletError::Unknown(_)),
            ) => {
                self.defer_or_fail(symbol, &batch, &e, report).await?;
                return Ok(());
            }
        };
        let fees = split_fee(&batch, prepared.fee);
        self.store
            .record_prepared(&fees, &prepared.tx_hash, &prepared.signed)
            .await?;
        failpoint::hit("payout.prepared").await;
        match wallet.broadcast(&prepared).await {
            Ok(()) => {
                failpoint::hit("payout.after_send").await;
                self.store
                    .complete_payouts(&fees, &prepared.tx_hash)
                    .await?;
                report.sent += batch.len() as u32;
                tracing::info!(coin = symbol, tx = %prepared.tx_hash, fee = %prepared.fee, payouts = batch.len(), "payouts sent");
            }
            Err(e) => {
                // Recorded: the next pass asks the network and republishes these bytes.
                report.unsettled += 1;
                tracing::warn!(coin = symbol, tx = %prepared.tx_hash, error = %e, payouts = batch.len(), "payout transaction built but its broadcast is unclear; settled next pass");
            }
        }
        Ok(())
    }

    /// Puts payouts the wallet could not build yet back to pending with a backoff, or
    /// fails them (credited back) once they used up `payouts.max_attempts`.
    async fn defer_or_fail(
        &self,
        symbol: &str,
        batch: &[PayoutRecord],
        e: &WalletError,
        report: &mut ProcessReport,
    ) -> Result<(), StoreError> {
        let max_attempts = self.config().payouts.max_attempts;
        for p in batch {
            // `p` was read before mark_processing counted this attempt.
            let attempts = p.attempts + 1;
            if attempts >= max_attempts {
                self.store
                    .fail_payout(p.id, &format!("gave up after {attempts} attempts: {e}"))
                    .await?;
                report.failed += 1;
                tracing::warn!(coin = symbol, payout = p.id, error = %e, attempts, "payout failed after its last attempt; credited back");
                continue;
            }
            let retry_at = now_ms()
                + backoff(self.config().payouts.retry_backoff, attempts).as_millis() as i64;
            self.store
                .retry_payout_later(p.id, &e.to_string(), retry_at)
                .await?;
            report.deferred += 1;
        }
        tracing::warn!(coin = symbol, error = %e, payouts = batch.len(), "payouts deferred");
        Ok(())
    }

    /// Records a transaction found sent by [`Self::reconcile`].
    async fn complete(&self, batch: &[PayoutRecord], sent: &Sent) -> Result<(), StoreError> {
        self.store
            .complete_payouts(&split_fee(batch, sent.fee), &sent.tx_hash)
            .await
    }
}

/// Splits a transaction's network fee over its payouts by amount, exactly.
fn split_fee(batch: &[PayoutRecord], fee: Amount) -> Vec<(i64, Amount)> {
    let mut weights = RoundWeights::new();
    for p in batch {
        weights.insert(p.id.to_string(), Work(u128::from(p.amount.atomic()).max(1)));
    }
    let fees: BTreeMap<String, Amount> = split_reward(fee, FeeRate::ZERO, &weights)
        .map(|s| s.credits.into_iter().collect())
        .unwrap_or_default();
    batch
        .iter()
        .map(|p| {
            (
                p.id,
                fees.get(&p.id.to_string()).copied().unwrap_or(Amount::ZERO),
            )
        })
        .collect()
}

fn transfer_of(p: &PayoutRecord) -> Transfer {
    Transfer {
        payout_id: p.id,
        address: p.account.clone(),
        amount: p.amount,
    }
}

/// `first`, then doubling per attempt, capped at one hour.
fn backoff(first: Duration, attempts: u32) -> Duration {
    let exp = attempts.saturating_sub(1).min(16);
    first
        .saturating_mul(1u32 << exp)
        .min(Duration::from_secs(3600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let first = Duration::from_secs(60);
        assert_eq!(backoff(first, 1), Duration::from_secs(60));
        assert_eq!(backoff(first, 2), Duration::from_secs(120));
        assert_eq!(backoff(first, 30), Duration::from_secs(3600));
    }
}
