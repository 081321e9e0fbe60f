//! Accounting: the share sink, block rounds, block maturity and the audit.

pub mod audit;
pub mod rounds;
pub mod sink;
pub mod unlocker;

pub use audit::run_audit;
pub use rounds::compute_split;
pub use sink::{FoundBlock, ShareSink, SinkError, SinkStats};
pub use unlocker::BalanceUpdater;
