//! Profitability in the node: price and network-figure sources over HTTP and the coin
//! daemons ([`source`]), the `[profit]` config ([`config`]), and the monitor that
//! keeps fresh values for the router, the proxy's PPS credits, the API and the stream
//! ([`monitor`]). The arithmetic and the switching decision are pure and live in
//! [`defpool_core::profit`].

pub mod config;
pub mod monitor;
pub mod source;

pub use config::ProfitConfig;
pub use monitor::ProfitMonitor;
pub use source::{NetworkSource, PriceSource, SourceError};
