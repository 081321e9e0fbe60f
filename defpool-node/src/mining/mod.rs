//! Where work comes from: job sources built from daemon templates (pool and solo
//! mode), and the share verifier.

pub mod bitcoin_source;
pub mod monero_source;
pub mod verifier;

pub use bitcoin_source::{BitcoinSource, BitcoinWork};
pub use monero_source::{MoneroJob, MoneroSource};
pub use verifier::RandomxVerifier;

use std::sync::Arc;

use crate::daemon::DaemonHealth;

/// A coin's job source, whatever its family (for health and status views).
#[derive(Clone)]
pub enum JobSource {
    Monero(Arc<MoneroSource>),
    Bitcoin(Arc<BitcoinSource>),
}

impl JobSource {
    pub fn health(&self) -> Vec<DaemonHealth> {
        match self {
            JobSource::Monero(s) => s.health(),
            JobSource::Bitcoin(s) => s.health(),
        }
    }
}
