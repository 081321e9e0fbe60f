//! Payouts: requests (with their rules), wallets, and the processor that sends them.

pub mod bitcoin_wallet;
pub mod monero_wallet;
pub mod processor;
pub mod requests;
pub mod wallet;

pub use processor::PayoutProcessor;
pub use requests::{request_payout, update_settings, PayoutRequestError};
pub use wallet::{Prepared, Sent, Transfer, TxStatus, Wallet, WalletError};
