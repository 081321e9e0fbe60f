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

/// A signed transaction the wallet built but did not broadcast. Broadcasting the same
/// `signed` data again can only ever publish this one transaction, which is what makes
/// a retry after an unclear broadcast safe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prepared {
    pub tx_hash: String,
    /// Network fee of the whole transaction, paid by the pool.
    pub fee: Amount,
    /// Opaque, wallet-specific serialization to hand back to [`Wallet::broadcast`].
    pub signed: String,
}

/// Where the network has a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxStatus {
    /// No daemon knows it: not broadcast, or dropped.
    Unknown,
    /// Waiting in the mempool.
    InPool,
    /// Mined; 1 confirmation means it is in the newest block.
    Mined { confirmations: u64 },
}

#[async_trait]
pub trait Wallet: Send + Sync {
    /// Builds and signs one transaction paying every transfer, WITHOUT broadcasting it.
    /// Whatever this returns, nothing has been sent.
    async fn prepare(&self, transfers: &[Transfer]) -> Result<Prepared, WalletError>;

    /// Broadcasts a prepared transaction. An error other than `Rejected` leaves open
    /// whether it reached the network; asking [`Wallet::tx_status`] settles it.
    async fn broadcast(&self, prepared: &Prepared) -> Result<(), WalletError>;

    /// Where the network has this transaction.
    async fn tx_status(&self, tx_hash: &str) -> Result<TxStatus, WalletError>;

    /// Looks for an outgoing transaction made at or after `since_ms` that pays exactly
    /// these transfers. Only for payouts left in `processing` without a prepared
    /// transaction by a version that sent in one step.
    async fn find_sent(
        &self,
        transfers: &[Transfer],
        since_ms: i64,
    ) -> Result<Option<Sent>, WalletError>;

    /// Whether the wallet answers.
    async fn check(&self) -> Result<(), WalletError>;

    /// Everything `address` of this wallet has received in confirmed transactions,
    /// block rewards excluded: in proxy mode, what upstream pools paid.
    async fn received(&self, address: &str) -> Result<Amount, WalletError>;
}
