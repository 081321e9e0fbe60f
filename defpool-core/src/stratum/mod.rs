//! Stratum V1 as typed messages, and what both of its dialects share.
//!
//! Sockets, sessions and rate limits live in the node; here is only what a line means:
//! [`cryptonote`] is the xmrig / CryptoNote dialect (`login`, `submit`, `job`),
//! [`bitcoin`] the Bitcoin dialect (`mining.subscribe`, `mining.notify`, …),
//! [`dialect`] tells them apart from a connection's first line, and [`identity`] reads
//! who a miner is from the login and password both dialects carry.
//!
//! For Stratum V2, whose messages and framing come from the Stratum Reference
//! Implementation crates in the node, only what needs no I/O lives here: the
//! connection state machine ([`sv2_state`]) and the authority key encoding
//! ([`sv2_key`]).

pub mod bitcoin;
pub mod cryptonote;
pub mod dialect;
pub mod extranonce_split;
pub mod identity;
pub mod sv2_key;
pub mod sv2_state;

pub use dialect::{detect_dialect, Dialect};
pub use identity::{parse_identity, IdentityError, MinerIdentity};
