//! Stratum V2 server endpoint: pool (and solo) mode for Bitcoin-family coins.
//!
//! Miners reach the same job source, share validation, accounting and block
//! submission as on SV1 ports; only the wire differs. One concern per file:
//! - [`authority`]: the port's key pair (SRI encoding) and certificate validity;
//! - [`noise`]: the Noise NX handshake and encrypted SV2 frames over a connection;
//! - [`messages`]: SRI's message types, read from and made into frames;
//! - [`channel`]: one mining channel and the translation of our jobs to SV2 jobs;
//! - [`session`]: one connection, driven by the state machine in
//!   `defpool_core::stratum::sv2_state`.

pub mod authority;
pub mod channel;
pub mod messages;
pub mod noise;
pub mod session;

use std::sync::Arc;

use tokio::sync::watch;

use super::transport::{MinerRead, MinerWrite};
use super::{PortContext, PortWork};
use crate::mining::BitcoinSource;
pub use authority::Authority;

/// Bitcoin-family work served over SV2: templates from the coin's daemons (shared
/// with its SV1 ports), and the authority that signs this port's Noise certificates.
pub struct Sv2BitcoinWork {
    pub source: Arc<BitcoinSource>,
    pub authority: Authority,
}

impl PortWork for Sv2BitcoinWork {
    fn run_session<R: MinerRead + 'static, W: MinerWrite + 'static>(
        reader: R,
        writer: W,
        peer: std::net::SocketAddr,
        ctx: Arc<PortContext<Self>>,
        stop: watch::Receiver<bool>,
    ) -> impl std::future::Future<Output = W> + Send {
        session::run_session(reader, writer, peer, ctx, stop)
    }
}

impl super::bitcoin::HasBitcoinSource for Sv2BitcoinWork {
    fn bitcoin_source(&self) -> &Arc<BitcoinSource> {
        &self.source
    }
}
