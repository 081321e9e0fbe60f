//! Pure domain logic of DefPool.
//!
//! Nothing here opens a socket, touches a database or reads a clock: time and chain
//! state are passed in. That is what lets money, reward schemes and address rules be
//! tested with known vectors and property tests.

pub mod address;
pub mod api;
pub mod coin;
pub mod job;
pub mod payout;
pub mod pow;
pub mod profit;
#[cfg(feature = "randomx")]
pub mod randomx;
pub mod share;
pub mod stratum;
pub mod stream;
pub mod units;
pub mod vardiff;

pub use coin::{CoinSpec, Network};
pub use units::{Amount, Difficulty, FeeRate, Work};
