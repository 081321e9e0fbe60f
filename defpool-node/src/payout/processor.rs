//! The payout processor: reconciles payouts a crash left in `processing`, creates
//! automatic payouts, and sends due ones through the coin's wallet.
//!
//! Order of writes per send: `processing` is committed (the intent), then the wallet
//! is called, then the result is committed. A crash between the last two is repaired
//! by [`PayoutProcessor::reconcile`], which asks the wallet what it really sent, so no
//! payout is ever sent twice.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use defpool_core::payout::{split_reward, RoundWeights};
use defpool_core::{address, Amount, FeeRate, Work};

use super::wallet::{Sent, Transfer, Wallet, WalletError};
use crate::config::{CoinConfig, Config};
use crate::failpoint;
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
}

pub struct PayoutProcessor {
    store: Store,
    config: Arc<Config>,
    wallets: BTreeMap<String, Arc<dyn Wallet>>,
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
        }
    }

    pub async fn run_once(&self) -> Result<ProcessReport, StoreError> {
        let mut report = ProcessReport::default();
        for coin in &self.config.coins {
            let symbol = coin.spec().symbol;
            let Some(wallet) = self.wallets.get(symbol) else {
                let reason =
                    format!("no wallet is configured for {symbol}; the payout waits until one is");
                report.waiting_for_wallet += self.store.set_pending_reason(symbol, &reason).await?;
                continue;
            };
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
            self.send_due(coin, wallet.as_ref(), &mut report).await?;
            self.follow_confirmations(coin, wallet.as_ref(), &mut report)
                .await?;
        }
        Ok(report)
    }

    /// Follows completed payouts' transactions until they are final.
    async fn follow_confirmations(
        &self,
        coin: &CoinConfig,
        wallet: &dyn Wallet,
        report: &mut ProcessReport,
    ) -> Result<(), StoreError> {
        let symbol = coin.spec().symbol;
        let final_after = self.config.payouts.final_confirmations;
        for p in self
            .store
            .unconfirmed_payouts(symbol, final_after, 100)
            .await?
        {
            let Some(tx) = p.tx_hash.as_deref() else {
                continue;
            };
            match wallet.confirmations(tx).await {
                Ok(Some(c)) if c != p.confirmations => {
                    self.store.set_payout_confirmations(p.id, c).await?;
                    if c >= final_after {
                        report.became_final += 1;
                        tracing::info!(
                            coin = symbol,
                            payout = p.id,
                            tx,
                            confirmations = c,
                            "payout final"
                        );
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) => tracing::warn!(
                    coin = symbol,
                    payout = p.id,
                    tx,
                    "the wallet does not know this payout's transaction"
                ),
                Err(e) => {
                    tracing::debug!(coin = symbol, error = %e, "cannot read payout confirmations now");
                    break;
                }
            }
        }
        Ok(())
    }

    /// Settles payouts left in `processing` for longer than `reconcile_after`.
    async fn reconcile(
        &self,
        coin: &CoinConfig,
        wallet: &dyn Wallet,
        report: &mut ProcessReport,
    ) -> Result<(), StoreError> {
        let symbol = coin.spec().symbol;
        let cutoff = now_ms() - self.config.payouts.reconcile_after.as_millis() as i64;
        let stuck: Vec<PayoutRecord> = self
            .store
            .processing_payouts(symbol)
            .await?
            .into_iter()
            .filter(|p| p.processing_at.unwrap_or(0) <= cutoff)
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
            .due_payouts(spec.symbol, now_ms(), self.config.payouts.max_batch as i64)
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
        match wallet.send(&transfers).await {
            Ok(sent) => {
                failpoint::hit("payout.after_send").await;
                self.complete(&batch, &sent).await?;
                report.sent += batch.len() as u32;
                tracing::info!(coin = symbol, tx = %sent.tx_hash, fee = %sent.fee, payouts = batch.len(), "payouts sent");
            }
            Err(WalletError::Rejected {
                bad_address: true, ..
            }) if batch.len() > 1 => {
                // Find the bad destination by sending each payout on its own.
                for p in batch {
                    Box::pin(self.send_batch(symbol, wallet, vec![p], report)).await?;
                }
            }
            Err(WalletError::Rejected { message, .. }) => {
                for p in &batch {
                    self.store
                        .fail_payout(p.id, &format!("wallet refused: {message}"))
                        .await?;
                    report.failed += 1;
                }
                tracing::warn!(coin = symbol, %message, payouts = batch.len(), "wallet refused payouts; credited back");
            }
            Err(e @ (WalletError::InsufficientFunds(_) | WalletError::Unavailable(_))) => {
                for p in &batch {
                    // `p` was read before mark_processing counted this attempt.
                    let retry_at = now_ms()
                        + backoff(self.config.payouts.retry_backoff, p.attempts + 1).as_millis()
                            as i64;
                    self.store
                        .retry_payout_later(p.id, &e.to_string(), retry_at)
                        .await?;
                    report.deferred += 1;
                }
                tracing::warn!(coin = symbol, error = %e, payouts = batch.len(), "payouts deferred");
            }
            Err(WalletError::Unknown(message)) => {
                // Maybe sent: leave them processing for reconciliation.
                tracing::error!(coin = symbol, %message, payouts = batch.len(), "wallet outcome unknown; payouts stay processing until reconciled");
            }
        }
        Ok(())
    }

    /// Records a sent transaction, splitting its fee over the payouts by amount.
    async fn complete(&self, batch: &[PayoutRecord], sent: &Sent) -> Result<(), StoreError> {
        let mut weights = RoundWeights::new();
        for p in batch {
            weights.insert(p.id.to_string(), Work(u128::from(p.amount.atomic()).max(1)));
        }
        let fees: BTreeMap<String, Amount> = split_reward(sent.fee, FeeRate::ZERO, &weights)
            .map(|s| s.credits.into_iter().collect())
            .unwrap_or_default();
        let pairs: Vec<(i64, Amount)> = batch
            .iter()
            .map(|p| {
                (
                    p.id,
                    fees.get(&p.id.to_string()).copied().unwrap_or(Amount::ZERO),
                )
            })
            .collect();
        self.store.complete_payouts(&pairs, &sent.tx_hash).await
    }
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
