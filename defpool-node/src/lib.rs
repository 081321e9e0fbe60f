//! The DefPool node: stratum, daemons, ledger, payouts and the REST API.
//!
//! `main.rs` only parses flags and calls [`app::run`]; everything is reachable as a
//! library so integration tests and benches drive the same code.

pub mod accounting;
pub mod api;
pub mod app;
pub mod config;
pub mod daemon;
pub mod events;
pub mod failpoint;
pub mod live_config;
pub mod mining;
pub mod payout;
pub mod profit;
pub mod store;
pub mod stratum;
pub mod upstream;
