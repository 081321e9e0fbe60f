//! The `Wallet` trait: how the payout processor sends coins, whatever the coin.

use async_trait::async_trait;
use defpool_core::Amount;

/// One destination of a payout transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transfer {
    pub payout_id: i64,
    pub address: String,
    pub amount: Amount,
}

/// A transaction the wallet broadcast.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    pub tx_hash: String,
    /// Network fee of the whole transaction, paid by the pool.
    pub fee: Amount,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum WalletError {
    /// The call failed in a way that leaves open whether the wallet sent (timeout,
    /// connection dropped). The payout stays `processing` until reconciled.
    #[error("wallet outcome unknown: {0}")]
    Unknown(String),
    /// The wallet could not be reached before anything was sent.
    #[error("wallet unavailable: {0}")]
    Unavailable(String),
    /// Not enough unlocked funds right now; worth retrying later.
    #[error("wallet has not enough unlocked funds: {0}")]
    InsufficientFunds(String),
    /// The wallet refused; nothing was sent. `bad_address` when a destination was the
    /// reason, so the batch can be split to isolate it.
    #[error("wallet refused: {message}")]
    Rejected { message: String, bad_address: bool },
}

#[async_trait]
pub trait Wallet: Send + Sync {
    /// Sends one transaction paying every transfer.
    async fn send(&self, transfers: &[Transfer]) -> Result<Sent, WalletError>;

    /// Looks for an outgoing transaction made at or after `since_ms` that pays exactly
    /// these transfers: how a payout left `processing` by a crash is reconciled.
    async fn find_sent(
        &self,
        transfers: &[Transfer],
        since_ms: i64,
    ) -> Result<Option<Sent>, WalletError>;

    /// Confirmations of a transaction this wallet sent; `None` if it does not know it.
    async fn confirmations(&self, tx_hash: &str) -> Result<Option<u64>, WalletError>;

    /// Whether the wallet answers.
    async fn check(&self) -> Result<(), WalletError>;
}
