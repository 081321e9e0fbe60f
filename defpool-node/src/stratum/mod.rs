//! Stratum listeners: one accept loop per configured port, one task per session.
//!
//! The accept loop owns the limits that protect the node as a whole: banned
//! addresses and the file-descriptor budget (a full node refuses new miners with a
//! rate-limited log line and a counter, and keeps serving the ones it has). On a TLS
//! port the handshake happens in the session's task, never in the accept loop, as does
//! the Noise handshake on an SV2 port ([`sv2`]).

pub mod bitcoin;
pub mod cryptonote;
pub mod lines;
pub mod proxy_bitcoin;
pub mod proxy_cryptonote;
pub mod router;
pub mod session_io;
pub mod sv2;
pub mod tls;
pub mod transport;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use defpool_core::vardiff::VardiffConfig;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::accounting::ShareSink;
use crate::config::{CoinConfig, PortConfig, StratumConfig};
use crate::mining::{BitcoinSource, MoneroSource, RandomxVerifier};
use transport::{MinerRead, MinerWrite};

/// File descriptors kept for everything that is not a miner (database, daemons,
/// wallet, API clients, log files).
const RESERVED_FDS: usize = 200;

/// State shared by every port and session of the node.
pub struct StratumShared {
    bans: Mutex<HashMap<IpAddr, Instant>>,
    /// Entries in `bans` (expired ones included until looked at): lets sessions skip
    /// the lock while nobody is banned.
    ban_entries: AtomicUsize,
    next_extra_nonce: AtomicU32,
    next_session: AtomicU64,
    /// Open miner sessions over all ports.
    pub sessions: AtomicUsize,
    /// Sessions the node can hold within its file-descriptor limit.
    pub max_sessions: usize,
    /// Connections refused because the node was full.
    pub refused_full: AtomicU64,
    /// Connections refused because their address is banned.
    pub refused_banned: AtomicU64,
    /// Connections to a TLS port that failed or timed out in the handshake.
    pub tls_handshake_failures: AtomicU64,
    last_full_log: Mutex<Option<Instant>>,
    warned_high: std::sync::atomic::AtomicBool,
    pub shares_accepted: AtomicU64,
    pub shares_rejected: AtomicU64,
    pub blocks_found: AtomicU64,
}

impl StratumShared {
    pub fn new() -> Arc<Self> {
        let limit = raise_fd_limit();
        let max_sessions = limit.saturating_sub(RESERVED_FDS).max(1);
        tracing::info!(fd_limit = limit, max_sessions, "stratum session capacity");
        Arc::new(StratumShared {
            bans: Mutex::new(HashMap::new()),
            ban_entries: AtomicUsize::new(0),
            next_extra_nonce: AtomicU32::new(rand::random()),
            next_session: AtomicU64::new(1),
            sessions: AtomicUsize::new(0),
            max_sessions,
            refused_full: AtomicU64::new(0),
            refused_banned: AtomicU64::new(0),
            tls_handshake_failures: AtomicU64::new(0),
            last_full_log: Mutex::new(None),
            warned_high: std::sync::atomic::AtomicBool::new(false),
            shares_accepted: AtomicU64::new(0),
            shares_rejected: AtomicU64::new(0),
            blocks_found: AtomicU64::new(0),
        })
    }

    /// A process-unique extra nonce for a new session.
    pub fn extra_nonce(&self) -> u32 {
        self.next_extra_nonce.fetch_add(1, Ordering::Relaxed)
    }

    pub fn session_id(&self) -> u64 {
        self.next_session.fetch_add(1, Ordering::Relaxed)
    }

    pub fn ban(&self, ip: IpAddr, duration: Duration) {
        if let Ok(mut bans) = self.bans.lock() {
            bans.insert(ip, Instant::now() + duration);
            self.ban_entries.store(bans.len(), Ordering::Release);
        }
    }

    pub fn is_banned(&self, ip: IpAddr) -> bool {
        let Ok(mut bans) = self.bans.lock() else {
            return false;
        };
        match bans.get(&ip) {
            Some(until) if *until > Instant::now() => true,
            Some(_) => {
                bans.remove(&ip);
                self.ban_entries.store(bans.len(), Ordering::Release);
                false
            }
            None => false,
        }
    }

    /// Whether an open session from `ip` must end because the address is banned
    /// now (by the operator, or after another session's invalid shares). Costs one
    /// atomic load while no address is banned.
    pub fn session_banned(&self, ip: IpAddr) -> bool {
        self.ban_entries.load(Ordering::Acquire) > 0 && self.is_banned(ip)
    }

    /// Bans in force now, with when each ends (`GET /api/v1/bans`).
    pub fn bans(&self) -> Vec<(IpAddr, Instant)> {
        let now = Instant::now();
        self.bans
            .lock()
            .map(|b| {
                b.iter()
                    .filter(|(_, until)| **until > now)
                    .map(|(ip, until)| (*ip, *until))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Lifts a ban; returns when it would have ended, `None` if the address was not
    /// banned.
    pub fn unban(&self, ip: IpAddr) -> Option<Instant> {
        let mut bans = self.bans.lock().ok()?;
        let until = bans.remove(&ip)?;
        self.ban_entries.store(bans.len(), Ordering::Release);
        (until > Instant::now()).then_some(until)
    }

    /// Takes a session slot; `None` when the node is full.
    fn admit(self: &Arc<Self>) -> Option<SessionSlot> {
        let now = self.sessions.fetch_add(1, Ordering::AcqRel) + 1;
        if now > self.max_sessions {
            self.sessions.fetch_sub(1, Ordering::AcqRel);
            self.refused_full.fetch_add(1, Ordering::Relaxed);
            let mut last = self.last_full_log.lock().ok()?;
            if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                *last = Some(Instant::now());
                tracing::error!(
                    sessions = self.max_sessions,
                    refused_total = self.refused_full.load(Ordering::Relaxed),
                    "node full: refusing new miners (file-descriptor limit); existing miners keep mining"
                );
            }
            return None;
        }
        if now * 10 >= self.max_sessions * 9 {
            if !self.warned_high.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    sessions = now,
                    max = self.max_sessions,
                    "90 % of session capacity in use"
                );
            }
        } else if now * 10 < self.max_sessions * 8 {
            self.warned_high.store(false, Ordering::Relaxed);
        }
        Some(SessionSlot(self.clone()))
    }
}

/// Releases the session count when a session ends.
pub struct SessionSlot(Arc<StratumShared>);

impl Drop for SessionSlot {
    fn drop(&mut self) {
        self.0.sessions.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Raises the soft file-descriptor limit to the hard one and returns it.
fn raise_fd_limit() -> usize {
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
        usize::try_from(lim.rlim_cur)
            .unwrap_or(usize::MAX)
            .min(1 << 24)
    }
}

/// Everything a session on one port needs; `W` is the coin's work (and with it the
/// stratum dialect the port speaks).
pub struct PortContext<W> {
    pub port: PortConfig,
    pub coin: CoinConfig,
    pub settings: StratumConfig,
    pub vardiff: Option<VardiffConfig>,
    pub work: W,
    pub sink: ShareSink,
    pub shared: Arc<StratumShared>,
    /// The port's TLS server side; `None` for plain TCP.
    pub tls: Option<tls::PortTls>,
    /// The live stream: miners connecting and leaving.
    pub events: crate::events::EventHub,
}

impl<W> PortContext<W> {
    /// Announces a miner that logged in on this port.
    pub fn miner_connected(&self, miner: &str, worker: &str, peer: std::net::SocketAddr) {
        self.events
            .publish(defpool_core::stream::Event::MinerConnected {
                coin: self.coin.spec().symbol.to_string(),
                miner: miner.to_string(),
                worker: worker.to_string(),
                peer: peer.to_string(),
            });
    }

    /// Announces a logged-in miner's session ending, with why.
    pub fn miner_disconnected(&self, miner: &str, worker: &str, reason: &str) {
        self.events
            .publish(defpool_core::stream::Event::MinerDisconnected {
                coin: self.coin.spec().symbol.to_string(),
                miner: miner.to_string(),
                worker: worker.to_string(),
                reason: reason.to_string(),
            });
    }
}

/// Monero work: templates from monerod, shares checked with RandomX. Spoken in the
/// CryptoNote (xmrig) dialect.
pub struct MoneroWork {
    pub source: Arc<MoneroSource>,
    pub verifier: Arc<RandomxVerifier>,
}

/// Bitcoin-family work (Litecoin, Bitcoin): templates from getblocktemplate, shares
/// checked with the coin's sha256d or scrypt. Spoken in the Bitcoin SV1 dialect.
pub struct BitcoinWork {
    pub source: Arc<BitcoinSource>,
}

/// Proxy-mode Monero work: jobs from upstream pools shared by nonce slots, shares
/// checked with RandomX before they go upstream. CryptoNote dialect.
pub struct ProxyMoneroWork {
    pub slots: Arc<crate::upstream::slots::SlotPool<crate::upstream::cryptonote::CnUpstream>>,
    pub verifier: Arc<RandomxVerifier>,
    pub recorder: crate::accounting::ProxyRecorder,
    /// How long a forwarded share waits for the upstream's verdict.
    pub verdict_timeout: Duration,
    /// `solo:` miners are mined from the coin's daemons by a pool-mode session on
    /// the same port; `None` when the coin has no daemon.
    pub solo: Option<Arc<PortContext<MoneroWork>>>,
    /// On a profit-switching port: the router that moves miners between the port's
    /// coins (this context is the first coin's); `None` on a port of one coin.
    pub router: Option<Arc<router::PortRouter<ProxyMoneroWork>>>,
}

/// A port's work and the dialect its sessions speak.
pub trait PortWork: Sized + Send + Sync + 'static {
    /// Serves one miner until it leaves; returns the writer so a TLS connection can be
    /// closed cleanly.
    fn run_session<R: MinerRead + 'static, W: MinerWrite + 'static>(
        reader: R,
        writer: W,
        peer: std::net::SocketAddr,
        ctx: Arc<PortContext<Self>>,
        stop: watch::Receiver<bool>,
    ) -> impl std::future::Future<Output = W> + Send;
}

impl PortWork for MoneroWork {
    fn run_session<R: MinerRead + 'static, W: MinerWrite + 'static>(
        reader: R,
        writer: W,
        peer: std::net::SocketAddr,
        ctx: Arc<PortContext<Self>>,
        stop: watch::Receiver<bool>,
    ) -> impl std::future::Future<Output = W> + Send {
        cryptonote::run_session(reader, writer, peer, ctx, stop)
    }
}

impl PortWork for ProxyMoneroWork {
    fn run_session<R: MinerRead + 'static, W: MinerWrite + 'static>(
        reader: R,
        writer: W,
        peer: std::net::SocketAddr,
        ctx: Arc<PortContext<Self>>,
        stop: watch::Receiver<bool>,
    ) -> impl std::future::Future<Output = W> + Send {
        proxy_cryptonote::run_session(reader, writer, peer, ctx, stop)
    }
}

impl PortWork for BitcoinWork {
    fn run_session<R: MinerRead + 'static, W: MinerWrite + 'static>(
        reader: R,
        writer: W,
        peer: std::net::SocketAddr,
        ctx: Arc<PortContext<Self>>,
        stop: watch::Receiver<bool>,
    ) -> impl std::future::Future<Output = W> + Send {
        bitcoin::run_session(reader, writer, peer, ctx, stop)
    }
}

/// Accepts miners on `listener` until `stop` flips.
pub async fn serve<P: PortWork>(
    listener: TcpListener,
    ctx: Arc<PortContext<P>>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            r = stop.changed() => {
                if r.is_err() || *stop.borrow() { return }
                continue;
            }
        };
        let (socket, peer) = match accepted {
            Ok(v) => v,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning on accept.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if ctx.shared.is_banned(peer.ip()) {
            ctx.shared.refused_banned.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%peer, "refused a banned address");
            continue;
        }
        let Some(slot) = ctx.shared.admit() else {
            continue;
        };
        let _ = socket.set_nodelay(true);
        let stop = stop.clone();
        // Two task types, so a plain session's task is not sized for TLS state.
        match &ctx.tls {
            None => {
                let ctx = ctx.clone();
                tokio::spawn(async move {
                    let (reader, writer) = socket.into_split();
                    P::run_session(reader, writer, peer, ctx, stop).await;
                    drop(slot);
                });
            }
            Some(tls) => {
                let acceptor = tls.acceptor.clone();
                tokio::spawn(tls::serve_connection(
                    acceptor,
                    socket,
                    peer,
                    ctx.clone(),
                    stop,
                    slot,
                ));
            }
        }
    }
}
