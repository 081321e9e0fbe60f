//! Where work comes from: job sources built from daemon templates (pool and solo
//! mode), and the share verifier.

pub mod bitcoin_source;
pub mod monero_source;
pub mod verifier;

pub use bitcoin_source::{BitcoinSource, BitcoinWork};
pub use monero_source::{MoneroJob, MoneroSource};
pub use verifier::RandomxVerifier;
