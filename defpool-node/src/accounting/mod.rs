//! Accounting: the share sink, block rounds, block maturity, proxy PPS credits and
//! the audit.

pub mod audit;
pub mod pps;
pub mod rounds;
pub mod sink;
pub mod unlocker;

pub use audit::run_audit;
pub use pps::{NetworkSource, ProxyRecorder};
pub use rounds::compute_split;
pub use sink::{FoundBlock, ShareSink, SinkError, SinkStats};
pub use unlocker::BalanceUpdater;
