//! One Bitcoin-dialect miner (cpuminer, ASIC firmware) in proxy mode.
//!
//! The miner gets a slot on an upstream connection: its extranonce1 is the slot's
//! prefix of the upstream extranonce2, and the upstream's extranonce1 is folded into
//! `coinb1` of every job it is sent ([`defpool_core::stratum::extranonce_split`]), so
//! up to 65,536 miners share one connection without ever searching the same
//! coinbase, and a failover to another upstream needs no reconnect (the next job
//! carries the new extranonce1). Difficulty is the upstream's. Every share is
//! checked here with the coin's proof of work against the upstream's difficulty; only
//! valid shares go upstream. The miner is answered at once; the upstream's verdict is
//! recorded when it comes and decides the share's PPS credit.

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use defpool_core::address;
use defpool_core::pow::bitcoin::PowAlgorithm;
use defpool_core::share::bitcoin::{
    check_submit, DuplicateKey, NtimeWindow, SubmitRules, DEFAULT_MAX_NTIME_AHEAD_SECS,
};
use defpool_core::stratum::bitcoin::{
    answer_configure, parse_request, response_error, response_ok, set_difficulty, set_extranonce,
    set_version_mask, subscribe_result, AuthorizeParams, ClientRequest, ConfigureParams, ErrorCode,
    SubmitParams,
};
use defpool_core::stratum::extranonce_split::{Layout, MinerSplit, NonceSpace};
use defpool_core::stratum::identity::{parse_identity, MinerIdentity};
use defpool_core::Difficulty;
use serde_json::Value;
use tokio::sync::watch;
use tracing::Instrument;

use super::lines::{LineBuffer, LineError};
use super::router::{PortRouter, RouteGuard, RouteSignal};
use super::session_io::{invalid_share, send_to_miner, BadMessages};
use super::transport::{MinerRead, MinerWrite};
use super::{PortContext, PortWork};
use crate::accounting::ProxyRecorder;
use crate::store::{now_ms, NewProxyShare, NewShare, UpstreamVerdict};
use crate::upstream::bitcoin::{verdict, BtcUpstream, BtcUpstreamJob, SubmitError, Verdict};
use crate::upstream::slots::{SlotLease, SlotPool};
use defpool_core::profit::MinerAlgorithms;

/// Jobs a session remembers: the current one and a few before it.
const KEPT_JOBS: usize = 4;
/// How long a subscribe waits for a new upstream connection's first job.
const FIRST_JOB_WAIT: Duration = Duration::from_secs(20);
/// Workers one connection may authorize.
const MAX_WORKERS: usize = 16;

/// Proxy-mode Bitcoin-family work: jobs from upstream pools shared by extranonce
/// slots, shares checked with the coin's proof of work before they go upstream.
pub struct ProxyBitcoinWork {
    /// Upstream connections and their slots; one slot holds one miner, so a pool
    /// sized [`SLOTS_PER_CONNECTION`] matches the 2-byte prefix of an upstream
    /// extranonce2 of 4 bytes or more.
    pub slots: Arc<SlotPool<BtcUpstream>>,
    pub recorder: ProxyRecorder,
    /// How long a forwarded share waits for the upstream's verdict.
    pub verdict_timeout: Duration,
    /// On a profit-switching port: the router that moves miners between the port's
    /// coins (this context is the first coin's); `None` on a port of one coin.
    pub router: Option<Arc<PortRouter<ProxyBitcoinWork>>>,
    /// `solo:` miners are mined from the coin's daemons by a pool-mode session on
    /// the same port; `None` when the coin has no daemon.
    pub solo: Option<Arc<PortContext<super::BitcoinWork>>>,
}

/// How long shares on the previous coin's jobs are still taken after a profit
/// switch: a miner may be hashing its last job of the old coin when the new one comes.
const PREVIOUS_COIN_GRACE: Duration = Duration::from_secs(30);

/// A session on a profit-switching port.
struct Route {
    router: Arc<PortRouter<ProxyBitcoinWork>>,
    signal: Arc<RouteSignal>,
    _guard: RouteGuard<ProxyBitcoinWork>,
    /// Index of the coin mined now among the router's targets.
    coin: usize,
    /// The coin mined before the last switch, for late shares on its jobs.
    previous: Option<PreviousCoin>,
}

struct PreviousCoin {
    ctx: Arc<PortContext<ProxyBitcoinWork>>,
    lease: Option<SlotLease<BtcUpstream>>,
    jobs: VecDeque<SentJob>,
    until: std::time::Instant,
}

/// Miners per upstream connection with the usual 2-byte prefix.
pub const SLOTS_PER_CONNECTION: usize = 65_536;

impl PortWork for ProxyBitcoinWork {
    fn run_session<R: MinerRead + 'static, W: MinerWrite + 'static>(
        reader: R,
        writer: W,
        peer: SocketAddr,
        ctx: Arc<PortContext<Self>>,
        stop: watch::Receiver<bool>,
    ) -> impl std::future::Future<Output = W> + Send {
        run_session(reader, writer, peer, ctx, stop)
    }
}

/// A job sent to this session.
struct SentJob {
    job: Arc<BtcUpstreamJob>,
    /// The miner's place in the job's nonce space.
    split: MinerSplit,
    /// Shares already submitted on it (duplicate detection).
    seen: HashSet<DuplicateKey>,
}

struct Session<W> {
    ctx: Arc<PortContext<ProxyBitcoinWork>>,
    peer: SocketAddr,
    id: u64,
    algorithm: PowAlgorithm,
    lease: Option<SlotLease<BtcUpstream>>,
    /// On a profit-switching port, where the router wants the miner (boxed: most
    /// sessions are on ports of one coin and should not carry it).
    route: Option<Box<Route>>,
    /// The miner's cut of the nonce space, fixed at subscribe (its extranonce1 and
    /// extranonce2 size); `None` before.
    layout: Option<Layout>,
    /// Its split in the newest nonce space it was sent a job in.
    split: Option<MinerSplit>,
    subscribed: bool,
    /// The miner takes `mining.set_extranonce`.
    extranonce_subscribed: bool,
    workers: Vec<(String, MinerIdentity)>,
    /// BIP 310 mask agreed with the miner (within the upstream's).
    version_mask: Option<u32>,
    jobs: VecDeque<SentJob>,
    /// Upstream connection of the last job sent (a new one makes its jobs clean).
    generation: u64,
    sent_difficulty: Option<f64>,
    invalid_shares: u32,
    bad: BadMessages,
    writer: W,
}

enum End {
    Closed,
    Reason(String),
    /// A `solo:` miner: the daemon-fed session takes the connection over (from
    /// `handle_line`, before the lines are known).
    HandOver,
    /// The same, with the lines and buffer the daemon-fed session continues from.
    HandedOver(Box<(Vec<u8>, LineBuffer)>),
}

/// Serves one miner until it leaves, misbehaves or the node stops.
pub fn run_session<R: MinerRead, W: MinerWrite>(
    mut reader: R,
    writer: W,
    peer: SocketAddr,
    ctx: Arc<PortContext<ProxyBitcoinWork>>,
    stop: watch::Receiver<bool>,
) -> impl std::future::Future<Output = W> + Send {
    // Ports are built per coin family; a non-Bitcoin coin here is a wiring bug.
    let algorithm = PowAlgorithm::try_from(ctx.coin.spec().algorithm).ok();
    let mut session = Session {
        id: ctx.shared.session_id(),
        peer,
        algorithm: algorithm.unwrap_or(PowAlgorithm::Sha256d),
        lease: None,
        route: None,
        layout: None,
        split: None,
        subscribed: false,
        extranonce_subscribed: false,
        workers: Vec::new(),
        version_mask: None,
        jobs: VecDeque::new(),
        generation: 0,
        sent_difficulty: None,
        invalid_shares: 0,
        bad: BadMessages::new(),
        writer,
        ctx,
    };
    async move {
        if algorithm.is_none() {
            tracing::error!("proxy_bitcoin session on a coin that is not Bitcoin-family");
            return session.writer;
        }
        let end = session.run(&mut reader, stop.clone()).await;
        let end = match end {
            End::HandedOver(rest) => {
                let agreed = session
                    .split
                    .as_ref()
                    .map(|s| (s.miner_extranonce1().to_vec(), s.miner_extranonce2_len()));
                match (session.ctx.work.solo.clone(), agreed) {
                    (Some(solo), Some((miner_extranonce1, miner_extranonce2_len))) => {
                        tracing::info!(peer = %session.peer, "solo miner on a proxy port: mined from the daemon");
                        let (lines, pending) = *rest;
                        let handover = super::bitcoin::HandOver {
                            lines,
                            pending,
                            miner_extranonce1,
                            miner_extranonce2_len,
                            version_mask: session.version_mask,
                        };
                        // The upstream slot is given back: the miner's nonce space is
                        // the daemon-fed session's now.
                        drop(session.lease.take());
                        // Boxed: inline, the daemon-fed session's future would make
                        // every proxy session's task as large as both.
                        return Box::pin(super::bitcoin::run_handed_over(
                            reader,
                            session.writer,
                            session.peer,
                            solo,
                            stop,
                            handover,
                        ))
                        .await;
                    }
                    _ => End::Reason("solo hand-over without a daemon-fed session".into()),
                }
            }
            other => other,
        };
        let _span = session.span().entered();
        let reason = match &end {
            End::Closed => "closed by the miner".to_string(),
            End::Reason(r) => r.clone(),
            End::HandOver | End::HandedOver(_) => "handed over".to_string(),
        };
        tracing::info!(%reason, "proxy session closed");
        for (_, i) in &session.workers {
            session
                .ctx
                .miner_disconnected(&i.address, &i.worker, &reason);
        }
        session.writer
    }
}

impl<W: MinerWrite> Session<W> {
    fn span(&self) -> tracing::Span {
        tracing::info_span!("proxy_session", id = self.id, peer = %self.peer, port = %self.ctx.port.listen)
    }

    async fn run<R: MinerRead>(&mut self, reader: &mut R, mut stop: watch::Receiver<bool>) -> End {
        let mut pending = LineBuffer::new(self.ctx.settings.max_line_bytes);
        let idle = self.ctx.settings.idle_timeout;
        let idle_timer = tokio::time::sleep(idle);
        tokio::pin!(idle_timer);
        // Subscribed once the miner has a slot on an upstream connection.
        let mut jobs_rx: Option<watch::Receiver<Option<Arc<BtcUpstreamJob>>>> = None;
        // Set with the first lease on a profit-switching port.
        let mut route_signal: Option<Arc<RouteSignal>> = None;
        loop {
            let job_changed = async {
                match jobs_rx.as_mut() {
                    Some(rx) => rx.changed().await.is_ok(),
                    None => std::future::pending().await,
                }
            };
            let route_changed = async {
                match &route_signal {
                    Some(signal) => signal.notify.notified().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = pending.read_from(reader) => {
                    let lines = match r {
                        Ok(Some(lines)) => lines,
                        Ok(None) => continue,
                        Err(LineError::Closed) => return End::Closed,
                        Err(LineError::TooLong(n)) => {
                            let _ = self.send(&response_error(&Value::Null, ErrorCode::Other, &format!("Request line longer than {n} bytes"))).await;
                            return End::Reason(format!("line over {n} bytes"));
                        }
                        Err(e) => return End::Reason(e.to_string()),
                    };
                    idle_timer.as_mut().reset(tokio::time::Instant::now() + idle);
                    let mut offset = 0;
                    for raw in lines.split(|b| *b == b'\n') {
                        let start = offset;
                        offset += raw.len() + 1;
                        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
                        let span = self.span();
                        match Box::pin(self.handle_line(line).instrument(span)).await {
                            Ok(()) => {}
                            // This line (the authorize) and the ones after it are the
                            // daemon-fed session's to answer.
                            Err(End::HandOver) => {
                                let rest = lines[start..].to_vec();
                                return End::HandedOver(Box::new((rest, pending)));
                            }
                            Err(end) => return end,
                        }
                    }
                    if jobs_rx.is_none() {
                        if let Some(lease) = &self.lease {
                            let mut rx = lease.upstream.jobs();
                            let current = rx.borrow_and_update().clone();
                            jobs_rx = Some(rx);
                            route_signal = self.route.as_ref().map(|r| r.signal.clone());
                            // Subscribe/authorize sent the job current then; one that
                            // came since is sent now.
                            if let Some(job) = current.filter(|j| self.ready_for_jobs() && !self.was_sent(j)) {
                                if let Err(e) = self.push_job(job, false).await {
                                    return e;
                                }
                            }
                        }
                    }
                }
                () = route_changed => {
                    match self.switch_coin().await {
                        Ok(true) => {
                            if let Some(lease) = &self.lease {
                                let mut rx = lease.upstream.jobs();
                                rx.borrow_and_update();
                                jobs_rx = Some(rx);
                            }
                        }
                        Ok(false) => {}
                        Err(e) => return e,
                    }
                }
                ok = job_changed => {
                    if !ok {
                        return End::Reason("upstream connection stopped".into());
                    }
                    if let Some(route) = self.route.as_mut() {
                        // Past its grace time the previous coin's slot is given back.
                        if route.previous.as_ref().is_some_and(|p| p.until <= std::time::Instant::now()) {
                            route.previous = None;
                        }
                    }
                    let job = jobs_rx.as_mut().and_then(|rx| rx.borrow_and_update().clone());
                    if let Some(job) = job {
                        if self.ready_for_jobs() {
                            if let Err(e) = self.push_job(job, false).await {
                                return e;
                            }
                        }
                    }
                }
                _ = &mut idle_timer => {
                    return End::Reason(format!("idle for {}", humantime::format_duration(idle)));
                }
                r = stop.changed() => {
                    if r.is_err() || *stop.borrow() {
                        return End::Reason("node shutting down".into());
                    }
                }
            }
        }
    }

    fn was_sent(&self, job: &BtcUpstreamJob) -> bool {
        self.jobs
            .back()
            .is_some_and(|j| j.job.proxy_job_id == job.proxy_job_id)
    }

    fn ready_for_jobs(&self) -> bool {
        self.subscribed && !self.workers.is_empty()
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), End> {
        send_to_miner(&mut self.writer, bytes)
            .await
            .map_err(End::Reason)
    }

    async fn error(&mut self, id: &Value, code: ErrorCode, message: &str) -> Result<(), End> {
        self.send(&response_error(id, code, message)).await
    }

    fn bad_message(&mut self) -> Result<(), End> {
        self.bad
            .count(self.ctx.settings.max_bad_messages_per_minute)
            .map_err(End::Reason)
    }

    async fn handle_line(&mut self, line: &[u8]) -> Result<(), End> {
        if self.ctx.shared.session_banned(self.peer.ip()) {
            return Err(End::Reason("address is banned".into()));
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        let (id, request) = match parse_request(line) {
            Ok(v) => v,
            Err(e) => {
                tracing::debug!(error = %e, "malformed request");
                let reply = e.response().unwrap_or_else(|| {
                    response_error(&Value::Null, ErrorCode::Other, &e.to_string())
                });
                self.send(&reply).await?;
                return self.bad_message();
            }
        };
        match request {
            ClientRequest::Subscribe(_) => self.subscribe(&id).await,
            ClientRequest::Configure(params) => self.configure(&id, params).await,
            ClientRequest::Authorize(params) => self.authorize(&id, params).await,
            ClientRequest::ExtranonceSubscribe => {
                self.extranonce_subscribed = true;
                self.send(&response_ok(&id, true)).await
            }
            // The difficulty is the upstream's: the hint is acknowledged, not used.
            ClientRequest::SuggestDifficulty(_) => self.send(&response_ok(&id, true)).await,
            ClientRequest::Submit(params) => self.submit(&id, params).await,
        }
    }

    /// A slot on an upstream connection and that connection's current job (a new
    /// connection needs a moment for its handshake and first job).
    async fn ensure_lease(&mut self) -> Result<Arc<BtcUpstreamJob>, &'static str> {
        if self.lease.is_none() && self.route.is_none() {
            if let Some(router) = self.ctx.work.router.clone() {
                // The port's coins share one algorithm: the miner's.
                let algorithms = MinerAlgorithms::of([self.ctx.coin.spec().algorithm]);
                let label = format!("session {:x} from {}", self.id, self.peer.ip());
                let admission = router
                    .admit(self.id, label, algorithms)
                    .ok_or("This port has no coin for this miner")?;
                let ctx = router
                    .target(admission.coin)
                    .cloned()
                    .ok_or("This port has no coin for this miner")?;
                tracing::info!(coin = ctx.coin.spec().symbol, reason = %admission.reason, "profit-switching port: first coin");
                self.ctx = ctx;
                self.route = Some(Box::new(Route {
                    router,
                    signal: admission.signal,
                    _guard: admission.guard,
                    coin: admission.coin,
                    previous: None,
                }));
            }
        }
        if self.lease.is_none() {
            self.lease = Some(
                self.ctx
                    .work
                    .slots
                    .lease()
                    .ok_or("Proxy cannot open an upstream connection; try again")?,
            );
        }
        let Some(lease) = &self.lease else {
            return Err("no upstream slot");
        };
        let mut rx = lease.upstream.jobs();
        tokio::time::timeout(FIRST_JOB_WAIT, rx.wait_for(|j| j.is_some()))
            .await
            .ok()
            .and_then(|r| r.ok().and_then(|j| j.clone()))
            .ok_or("No job from the upstream yet; try again")
    }

    fn slot(&self) -> u32 {
        self.lease.as_ref().map_or(0, |l| l.slot)
    }

    async fn subscribe(&mut self, id: &Value) -> Result<(), End> {
        if self.subscribed {
            // Same extranonce again (some firmware subscribes twice).
            if let Some(split) = &self.split {
                let result = subscribe_result(
                    &format!("{:x}", self.id),
                    split.miner_extranonce1(),
                    split.miner_extranonce2_len(),
                );
                return self.send(&response_ok(id, result)).await;
            }
        }
        let job = match self.ensure_lease().await {
            Ok(j) => j,
            Err(message) => {
                self.error(id, ErrorCode::Other, message).await?;
                return Err(End::Reason(message.into()));
            }
        };
        let split = match Layout::for_space(&job.space)
            .and_then(|layout| MinerSplit::new(&job.space, layout, self.slot()))
        {
            Ok(s) => s,
            Err(e) => {
                // The upstream's extranonce2 holds fewer miners than the slot pool.
                tracing::warn!(error = %e, slot = self.slot(), "miner does not fit the upstream's nonce space");
                self.error(
                    id,
                    ErrorCode::Other,
                    "Proxy is full for this upstream; try again later",
                )
                .await?;
                return Err(End::Reason(format!("no room upstream: {e}")));
            }
        };
        let result = subscribe_result(
            &format!("{:x}", self.id),
            split.miner_extranonce1(),
            split.miner_extranonce2_len(),
        );
        self.layout = Some(split.layout());
        self.split = Some(split);
        self.subscribed = true;
        self.send(&response_ok(id, result)).await?;
        if !self.workers.is_empty() {
            self.push_job(job, true).await?;
        }
        Ok(())
    }

    async fn configure(&mut self, id: &Value, params: ConfigureParams) -> Result<(), End> {
        // Version rolling is what the upstream granted, so the slot is taken now.
        let upstream_mask = match self.ensure_lease().await {
            Ok(job) => job.version_mask,
            Err(_) => None,
        };
        let answer = answer_configure(&params, upstream_mask, true);
        if let Some(rolling) = answer.version_rolling {
            if !rolling.min_bit_count_met {
                tracing::info!(
                    mask = format!("{:08x}", rolling.mask),
                    "miner wants more version bits than the upstream allows; it runs degraded"
                );
            }
            self.version_mask = Some(rolling.mask);
        }
        self.extranonce_subscribed |= answer.subscribe_extranonce;
        self.send(&response_ok(id, Value::Object(answer.result)))
            .await
    }

    async fn authorize(&mut self, id: &Value, params: AuthorizeParams) -> Result<(), End> {
        let identity = match parse_identity(&params.username, &params.password) {
            Ok(i) => i,
            Err(e) => {
                self.error(id, ErrorCode::UnauthorizedWorker, &e.to_string())
                    .await?;
                return Err(End::Reason(format!("bad login: {e}")));
            }
        };
        if (identity.solo || self.ctx.port.solo) && self.workers.is_empty() {
            return self.solo_handover(id).await;
        }
        if let Err(e) = address::validate(
            self.ctx.coin.spec(),
            self.ctx.coin.network,
            &identity.address,
        ) {
            self.error(
                id,
                ErrorCode::UnauthorizedWorker,
                &format!("Invalid payment address: {e}"),
            )
            .await?;
            return Err(End::Reason(format!("bad address: {e}")));
        }
        if let Some(first) = self.workers.first() {
            // One payout address per connection: shares are credited per session.
            if first.1.address != identity.address {
                return self
                    .error(
                        id,
                        ErrorCode::UnauthorizedWorker,
                        "One payout address per connection",
                    )
                    .await;
            }
        }
        let known = self.workers.iter().any(|(u, _)| *u == params.username);
        if self.workers.len() >= MAX_WORKERS && !known {
            return self
                .error(id, ErrorCode::UnauthorizedWorker, "Too many workers")
                .await;
        }
        let first = self.workers.is_empty();
        if !known {
            tracing::info!(miner = %identity.address, worker = %identity.worker, slot = self.slot(), "miner authorized (proxy)");
            self.ctx
                .miner_connected(&identity.address, &identity.worker, self.peer);
            if let (Some(route), true) = (&self.route, self.workers.is_empty()) {
                route
                    .router
                    .rename(self.id, format!("{}.{}", identity.address, identity.worker));
            }
            self.workers.push((params.username, identity));
        }
        self.send(&response_ok(id, true)).await?;
        if first && self.subscribed {
            if let Some(job) = self.lease.as_ref().and_then(|l| l.upstream.current()) {
                self.push_job(job, true).await?;
            }
        }
        Ok(())
    }

    /// A `solo:` miner's first authorize: handed to a daemon-fed session of the coin
    /// when the coin has daemons and the miner's extranonces fit that session's.
    async fn solo_handover(&mut self, id: &Value) -> Result<(), End> {
        let message = if self.ctx.work.solo.is_none() {
            "Solo mining is not available on this proxy port: the coin has no daemon"
        } else if !self.subscribed {
            "Subscribe before authorizing a solo miner on a proxy port"
        } else if self.split.as_ref().is_some_and(|s| {
            super::bitcoin::HandOver::fits(s.miner_extranonce1().len(), s.miner_extranonce2_len())
        }) {
            return Err(End::HandOver);
        } else {
            "Solo mining needs a shorter extranonce than this proxy port gave; use a solo port"
        };
        self.error(id, ErrorCode::UnauthorizedWorker, message)
            .await?;
        Err(End::Reason(format!("solo miner refused: {message}")))
    }

    /// The miner's split for a job's nonce space: the same layout (extranonce1 and
    /// extranonce2 size unchanged, padded if the space grew); a new one announced with
    /// `mining.set_extranonce` if the space shrank and the miner takes that.
    async fn split_for(&mut self, space: &NonceSpace) -> Result<MinerSplit, End> {
        if let Some(split) = self.split.as_ref().filter(|s| {
            s.upstream_extranonce1() == space.extranonce1
                && s.miner_extranonce2_len() + s.layout().prefix_len + s.pad_len()
                    == space.extranonce2_size
        }) {
            return Ok(split.clone());
        }
        let slot = self.slot();
        if let Some(layout) = self.layout.filter(|l| l.fits(space)) {
            if let Ok(split) = MinerSplit::new(space, layout, slot) {
                self.split = Some(split.clone());
                return Ok(split);
            }
        }
        let fresh = Layout::for_space(space)
            .and_then(|layout| MinerSplit::new(space, layout, slot))
            .map_err(|e| {
                End::Reason(format!(
                    "miner does not fit the upstream's new nonce space: {e}"
                ))
            })?;
        if !self.extranonce_subscribed {
            return Err(End::Reason(
                "upstream extranonce2 shrank; the miner must reconnect".into(),
            ));
        }
        self.send(&set_extranonce(
            fresh.miner_extranonce1(),
            fresh.miner_extranonce2_len(),
        ))
        .await?;
        self.layout = Some(fresh.layout());
        self.split = Some(fresh.clone());
        Ok(fresh)
    }

    /// Sends `mining.set_difficulty` when the upstream's changed, then the job.
    async fn push_job(&mut self, job: Arc<BtcUpstreamJob>, force_clean: bool) -> Result<(), End> {
        let split = self.split_for(&job.space).await?;
        // The upstream's mask may have shrunk (set_version_mask or a failover).
        if let Some(mask) = self.version_mask {
            let allowed = mask & job.version_mask.unwrap_or(0);
            if allowed != mask {
                self.version_mask = Some(allowed);
                self.send(&set_version_mask(allowed)).await?;
            }
        }
        if self.sent_difficulty != Some(job.difficulty) {
            self.sent_difficulty = Some(job.difficulty);
            self.send(&set_difficulty(job.difficulty)).await?;
        }
        // A job of a new upstream connection makes the older ones worthless.
        let clean = job.clean_jobs || force_clean || job.generation != self.generation;
        self.generation = job.generation;
        if clean {
            self.jobs.clear();
        }
        if self.jobs.len() == KEPT_JOBS {
            self.jobs.pop_front();
        }
        let line = if clean == job.clean_jobs {
            job.miner_notify_line(&split).into_owned()
        } else {
            defpool_core::stratum::bitcoin::notify(
                &split.miner_work(&job.work).notify(&job.proxy_job_id, clean),
            )
        };
        self.jobs.push_back(SentJob {
            job,
            split,
            seen: HashSet::new(),
        });
        self.send(&line).await
    }

    /// Counts a rejected share, bans after too many invalid ones, and answers.
    async fn reject(
        &mut self,
        id: &Value,
        code: ErrorCode,
        message: &str,
        counts_as_invalid: bool,
    ) -> Result<(), End> {
        self.ctx
            .shared
            .shares_rejected
            .fetch_add(1, Ordering::Relaxed);
        if counts_as_invalid {
            if let Some(end) = invalid_share(
                &mut self.invalid_shares,
                &self.ctx.shared,
                &self.ctx.settings,
                self.peer.ip(),
            ) {
                let _ = self
                    .error(
                        id,
                        code,
                        &format!("Banned: too many invalid shares ({message})"),
                    )
                    .await;
                return Err(End::Reason(end));
            }
        }
        self.error(id, code, message).await
    }

    async fn submit(&mut self, id: &Value, params: SubmitParams) -> Result<(), End> {
        // After a profit switch, a share on one of the previous coin's jobs is checked,
        // forwarded and credited on that coin: the session takes the previous coin's
        // state for this one share.
        let on_previous = !self
            .jobs
            .iter()
            .any(|j| j.job.proxy_job_id == params.job_id)
            && self.route.as_ref().is_some_and(|r| {
                r.previous.as_ref().is_some_and(|p| {
                    p.until > std::time::Instant::now()
                        && p.jobs.iter().any(|j| j.job.proxy_job_id == params.job_id)
                })
            });
        if !on_previous {
            return self.submit_on_current(id, params).await;
        }
        self.swap_previous();
        let result = self.submit_on_current(id, params).await;
        self.swap_previous();
        result
    }

    /// Exchanges the current coin's context, slot and jobs with the previous coin's.
    fn swap_previous(&mut self) {
        if let Some(p) = self.route.as_mut().and_then(|r| r.previous.as_mut()) {
            std::mem::swap(&mut self.ctx, &mut p.ctx);
            std::mem::swap(&mut self.lease, &mut p.lease);
            std::mem::swap(&mut self.jobs, &mut p.jobs);
        }
    }

    /// Moves the miner to the coin the router wants, if it differs from the current
    /// one: the same slot (so the same extranonce1) on that coin's upstream, the new
    /// difficulty and a clean job. The previous coin's jobs stay valid for
    /// [`PREVIOUS_COIN_GRACE`]. Returns whether the miner moved (it stays when the new
    /// coin has no job for it now).
    async fn switch_coin(&mut self) -> Result<bool, End> {
        let Some(route) = self.route.as_ref() else {
            return Ok(false);
        };
        let (router, from, to) = (route.router.clone(), route.coin, route.signal.target());
        if to == from || self.lease.is_none() {
            return Ok(false);
        }
        let Some(ctx) = router.target(to).cloned() else {
            return Ok(false);
        };
        let symbol = ctx.coin.spec().symbol;
        let Some(lease) = ctx.work.slots.lease_slot(self.slot()) else {
            tracing::warn!(
                to = symbol,
                "profit switch: no upstream slot; the miner stays"
            );
            router.stayed(self.id, from);
            return Ok(false);
        };
        let mut rx = lease.upstream.jobs();
        let first = tokio::time::timeout(FIRST_JOB_WAIT, rx.wait_for(|j| j.is_some()))
            .await
            .ok()
            .and_then(|r| r.ok().and_then(|j| j.clone()));
        let Some(job) = first else {
            tracing::warn!(
                to = symbol,
                "profit switch: the upstream has no job; the miner stays"
            );
            router.stayed(self.id, from);
            return Ok(false);
        };
        let old_ctx = std::mem::replace(&mut self.ctx, ctx);
        let old_jobs = std::mem::take(&mut self.jobs);
        let old_lease = self.lease.replace(lease);
        for (_, i) in &self.workers {
            old_ctx.miner_disconnected(
                &i.address,
                &i.worker,
                &format!("profit switch to {symbol}"),
            );
            self.ctx.miner_connected(&i.address, &i.worker, self.peer);
        }
        tracing::info!(
            from = old_ctx.coin.spec().symbol,
            to = symbol,
            slot = self.slot(),
            difficulty = job.difficulty,
            "profit switch: miner moved"
        );
        if let Some(route) = self.route.as_mut() {
            route.coin = to;
            route.previous = Some(PreviousCoin {
                ctx: old_ctx,
                lease: old_lease,
                jobs: old_jobs,
                until: std::time::Instant::now() + PREVIOUS_COIN_GRACE,
            });
        }
        if self.ready_for_jobs() {
            self.push_job(job, true).await?;
        }
        Ok(true)
    }

    async fn submit_on_current(&mut self, id: &Value, params: SubmitParams) -> Result<(), End> {
        if !self.subscribed {
            return self
                .error(
                    id,
                    ErrorCode::NotSubscribed,
                    ErrorCode::NotSubscribed.message(),
                )
                .await;
        }
        let Some(identity) = self
            .workers
            .iter()
            .find(|(u, _)| *u == params.worker)
            .map(|(_, i)| i.clone())
        else {
            return self
                .error(
                    id,
                    ErrorCode::UnauthorizedWorker,
                    ErrorCode::UnauthorizedWorker.message(),
                )
                .await;
        };
        let Some(upstream) = self.lease.as_ref().map(|l| l.upstream.clone()) else {
            return self
                .error(
                    id,
                    ErrorCode::NotSubscribed,
                    ErrorCode::NotSubscribed.message(),
                )
                .await;
        };
        let Some(index) = self
            .jobs
            .iter()
            .position(|j| j.job.proxy_job_id == params.job_id)
        else {
            return self
                .reject(
                    id,
                    ErrorCode::JobNotFound,
                    ErrorCode::JobNotFound.message(),
                    false,
                )
                .await;
        };
        let job = self.jobs[index].job.clone();
        // Not on the connection in use (or none is up): the upstream cannot take it.
        if upstream.generation() != Some(job.generation) {
            return self
                .reject(
                    id,
                    ErrorCode::JobNotFound,
                    "Stale share: the upstream changed",
                    false,
                )
                .await;
        }
        let rules = SubmitRules {
            extranonce2_len: self.jobs[index].split.miner_extranonce2_len(),
            ntime: NtimeWindow::for_job(
                job.work.ntime,
                job.work.ntime,
                DEFAULT_MAX_NTIME_AHEAD_SECS,
            ),
            version_mask: self.version_mask,
        };
        // Firmware that sends the whole rolled version: keep the masked bits.
        let params =
            super::bitcoin::normalize_version_bits(params, job.work.version, self.version_mask);
        let checked = match check_submit(&params, job.work.version, &rules) {
            Ok(c) => c,
            Err(e) => {
                let message = e.to_string();
                return self.reject(id, e.code(), &message, true).await;
            }
        };
        if !self.jobs[index].seen.insert(checked.duplicate_key()) {
            return self
                .reject(
                    id,
                    ErrorCode::DuplicateShare,
                    ErrorCode::DuplicateShare.message(),
                    false,
                )
                .await;
        }
        let split = &self.jobs[index].split;
        let upstream_en2 = match split.upstream_extranonce2(checked.extranonce2.as_bytes()) {
            Ok(e) => e,
            Err(e) => {
                let message = e.to_string();
                return self.reject(id, ErrorCode::Other, &message, true).await;
            }
        };
        // The header the upstream will check: its coinbase with the upstream
        // extranonces, byte for byte what the miner hashed.
        let header = job.work.header(
            split.upstream_extranonce1(),
            &upstream_en2,
            checked.version,
            checked.ntime,
            checked.nonce,
        );
        let header_bytes = header.to_bytes();
        let algorithm = self.algorithm;
        let hash = match algorithm {
            PowAlgorithm::Sha256d => algorithm.hash_header(&header_bytes),
            PowAlgorithm::Scrypt => {
                match tokio::task::spawn_blocking(move || algorithm.hash_header(&header_bytes))
                    .await
                {
                    Ok(h) => h,
                    Err(e) => {
                        tracing::error!(error = %e, "share hashing failed");
                        return self
                            .error(
                                id,
                                ErrorCode::Other,
                                "Share could not be checked; try again",
                            )
                            .await;
                    }
                }
            }
        };
        let share_target = match Difficulty::new(job.difficulty) {
            Ok(d) => algorithm.target_for_difficulty(d),
            Err(_) => {
                return self
                    .reject(id, ErrorCode::Other, "Upstream difficulty unusable", false)
                    .await
            }
        };
        if !share_target.is_met_by(&hash) {
            return self
                .reject(
                    id,
                    ErrorCode::LowDifficultyShare,
                    ErrorCode::LowDifficultyShare.message(),
                    true,
                )
                .await;
        }
        let network_target = job.work.bits.to_target().ok();
        if network_target.is_some_and(|t| t.is_met_by(&hash)) {
            tracing::info!(height = job.height, miner = %identity.address, "block candidate: forwarded upstream");
        }
        // Forward first (this only queues the line), then answer the miner without
        // waiting for the upstream's verdict.
        let version_bits = match (&params.version_bits, job.version_mask) {
            (Some(_), Some(mask)) => Some(checked.version & mask),
            _ => None,
        };
        let forwarded = upstream
            .submit(
                &job,
                &upstream_en2,
                checked.ntime,
                checked.nonce,
                version_bits,
            )
            .await;
        let coin = self.ctx.coin.spec().symbol.to_string();
        let network_difficulty = network_target
            .map(|t| algorithm.difficulty_of_target(&t))
            .unwrap_or(1.0);
        let share = NewShare {
            coin: coin.clone(),
            miner: identity.address.clone(),
            worker: identity.worker.clone(),
            difficulty: job.difficulty,
            network_difficulty,
            height: job.height,
            accepted: true,
            solo: false,
            created_at: now_ms(),
        };
        if self.ctx.sink.submit(share).await.is_err() {
            tracing::error!("share sink stopped");
        }
        self.ctx
            .shared
            .shares_accepted
            .fetch_add(1, Ordering::Relaxed);
        // The verdict is awaited (and recorded) whatever happens to the miner's
        // connection: start that before answering, which may fail.
        let recorder = self.ctx.work.recorder.clone();
        let network = (recorder.network)(&coin);
        let record = NewProxyShare {
            coin,
            miner: identity.address,
            worker: identity.worker,
            upstream: upstream.endpoint_url(job.upstream),
            difficulty: job.difficulty,
            verdict: UpstreamVerdict::Lost,
            reason: None,
            network,
            created_at: now_ms(),
        };
        let wait = self.ctx.work.verdict_timeout.max(Duration::from_secs(1));
        tokio::spawn(
            record_verdict(upstream, job, forwarded, wait, recorder, record)
                .instrument(tracing::Span::current()),
        );
        self.send(&response_ok(id, true)).await
    }
}

/// Waits for the upstream's verdict on a forwarded share, feeds the upstream's
/// health check and records the verdict (which decides the PPS credit).
async fn record_verdict(
    upstream: Arc<BtcUpstream>,
    job: Arc<BtcUpstreamJob>,
    forwarded: Result<
        tokio::sync::oneshot::Receiver<Result<Value, crate::upstream::CallError>>,
        SubmitError,
    >,
    wait: Duration,
    recorder: ProxyRecorder,
    record: NewProxyShare,
) {
    let outcome = match forwarded {
        Ok(rx) => verdict(rx, wait).await,
        Err(e) => {
            tracing::warn!(error = %e, "share not forwarded");
            Verdict::Lost
        }
    };
    upstream.share_outcome(&job, outcome.accepted());
    let (verdict, reason) = match outcome {
        Verdict::Accepted => (UpstreamVerdict::Accepted, None),
        Verdict::Rejected(reason) => {
            tracing::warn!(%reason, "upstream rejected a share");
            (UpstreamVerdict::Rejected, Some(reason))
        }
        Verdict::Lost => {
            tracing::warn!("share lost upstream: no verdict");
            (
                UpstreamVerdict::Lost,
                Some("no verdict from the upstream".into()),
            )
        }
    };
    recorder
        .record(NewProxyShare {
            verdict,
            reason,
            ..record
        })
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounting::ShareSink;
    use crate::config::Config;
    use crate::events::EventHub;
    use crate::store::Store;
    use crate::stratum::StratumShared;
    use crate::upstream::{Endpoint, UpstreamSettings, UpstreamUrl};
    use defpool_core::job::bitcoin::StratumWork;
    use defpool_core::stratum::bitcoin::Notify;
    use serde_json::json;
    use std::time::Instant;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
    use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
    use tokio::net::{TcpListener, TcpStream};

    const MINER: &str = "rltc1q8w9trsek7jws6uzqaky24x2n2yrdwx8zzt7qcz";
    /// About 65 scrypt hashes per share.
    const UPSTREAM_DIFFICULTY: f64 = 0.001;

    /// A line-JSON peer: the scripted upstream pool or a test miner.
    struct Peer {
        lines: Lines<BufReader<OwnedReadHalf>>,
        write: OwnedWriteHalf,
    }

    impl Peer {
        fn new(s: TcpStream) -> Peer {
            let (r, w) = s.into_split();
            Peer {
                lines: BufReader::new(r).lines(),
                write: w,
            }
        }

        async fn next(&mut self) -> Value {
            let line = tokio::time::timeout(Duration::from_secs(10), self.lines.next_line())
                .await
                .expect("nothing received")
                .unwrap()
                .expect("connection closed");
            serde_json::from_str(&line).unwrap()
        }

        /// The next message that is not a notification of `skip`.
        async fn next_not(&mut self, skip: &str) -> Value {
            loop {
                let v = self.next().await;
                if v["method"] != skip {
                    return v;
                }
            }
        }

        async fn send(&mut self, v: Value) {
            self.write
                .write_all(format!("{v}\n").as_bytes())
                .await
                .unwrap();
        }

        async fn call(&mut self, id: u64, method: &str, params: Value) -> Value {
            self.send(json!({"id": id, "method": method, "params": params}))
                .await;
            loop {
                let v = self.next().await;
                if v["id"] == json!(id) && v.get("method").is_none() {
                    return v;
                }
            }
        }
    }

    fn job_params(job_id: &str, clean: bool) -> Value {
        // A coinbase that pushes height 436 (BIP34) before the extranonce.
        let coinb1 = format!("01000000{}{}ffffffff2003b40100", "01", "00".repeat(32));
        json!([
            job_id,
            "11".repeat(32),
            coinb1,
            "ffffffff0100f2052a010000001600140000000000000000000000000000000000000000000000",
            ["22".repeat(32)],
            "20000000",
            "207fffff",
            "5f5e1000",
            clean
        ])
    }

    /// The upstream pool's side of the handshake.
    async fn upstream_handshake(pool: &mut Peer, en1: &str) {
        loop {
            let r = pool.next().await;
            let id = r["id"].clone();
            match r["method"].as_str().unwrap() {
                "mining.subscribe" => {
                    pool.send(json!({"id": id, "error": null, "result": [[], en1, 4]}))
                        .await
                }
                "mining.extranonce.subscribe" => {
                    pool.send(json!({"id": id, "error": null, "result": true}))
                        .await
                }
                "mining.configure" => {
                    pool.send(json!({"id": id, "error": null, "result": {"version-rolling": true, "version-rolling.mask": "1fffe000"}}))
                        .await
                }
                "mining.authorize" => {
                    pool.send(json!({"id": id, "error": null, "result": true}))
                        .await;
                    return;
                }
                other => panic!("unexpected {other}"),
            }
        }
    }

    /// Hashes the miner's view of a job until a share meets `difficulty` (or, with
    /// `low`, one that does not).
    fn find_share(
        notify: &Notify,
        en1: &[u8],
        en2_len: usize,
        difficulty: f64,
        low: bool,
        version_bits: u32,
    ) -> (String, u32) {
        let work = StratumWork::from_notify(notify).unwrap();
        let target =
            PowAlgorithm::Scrypt.target_for_difficulty(Difficulty::new(difficulty).unwrap());
        let en2 = vec![0x5a; en2_len];
        let version = work.version | version_bits;
        for nonce in 0u32.. {
            let header = work.header(en1, &en2, version, work.ntime, nonce);
            let hash = PowAlgorithm::Scrypt.hash_header(&header.to_bytes());
            if target.is_met_by(&hash) != low {
                return (hex::encode(&en2), nonce);
            }
        }
        unreachable!()
    }

    /// What the upstream checks: the header from its own notify with its extranonce1
    /// and the submitted extranonce2 meets its difficulty.
    fn upstream_checks(notify: &Value, en1: &[u8], submit: &Value) -> bool {
        let notify: Notify = serde_json::from_value(notify.clone()).unwrap();
        let work = StratumWork::from_notify(&notify).unwrap();
        let en2 = hex::decode(submit[2].as_str().unwrap()).unwrap();
        let u = |i: usize| u32::from_str_radix(submit[i].as_str().unwrap(), 16).unwrap();
        let version = match submit.get(5) {
            Some(_) => {
                defpool_core::share::bitcoin::rolled_version(work.version, u(5), 0x1fff_e000)
            }
            None => work.version,
        };
        let header = work.header(en1, &en2, version, u(3), u(4));
        let hash = PowAlgorithm::Scrypt.hash_header(&header.to_bytes());
        PowAlgorithm::Scrypt
            .target_for_difficulty(Difficulty::new(UPSTREAM_DIFFICULTY).unwrap())
            .is_met_by(&hash)
    }

    struct Proxy {
        port: u16,
        store: Store,
        _dir: tempfile::TempDir,
        _stop: watch::Sender<bool>,
    }

    async fn proxy(upstream_ports: &[u16], version_rolling: bool) -> Proxy {
        let upstream_port = upstream_ports[0];
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let listen = port.local_addr().unwrap();
        let config = Config::from_toml_str(&format!(
            r#"
[[coins]]
symbol = "LTC"
network = "regtest"
mode = "proxy"
scheme = "pps"
pool_address = "{MINER}"
  [[coins.upstreams]]
  url = "stratum+tcp://127.0.0.1:{upstream_port}"
  login = "{MINER}.proxy"

[[ports]]
listen = "{listen}"
protocol = "sv1"
coin = "LTC"
difficulty = 1
"#
        ))
        .unwrap();
        let store = Store::connect(
            &format!("sqlite://{}", dir.path().join("db.sqlite").display()),
            4,
        )
        .await
        .unwrap();
        let (sink, _) = ShareSink::start(store.clone(), 1024, 10, Duration::from_millis(20));
        let (recorder, _) = ProxyRecorder::start(store.clone(), Arc::new(|_| None));
        let (stop_tx, stop) = watch::channel(false);
        let endpoints: Vec<Endpoint> = upstream_ports
            .iter()
            .map(|&port| Endpoint {
                url: UpstreamUrl {
                    host: "127.0.0.1".into(),
                    port,
                },
                raw_url: format!("stratum+tcp://127.0.0.1:{port}"),
                login: format!("{MINER}.proxy"),
                password: "x".into(),
            })
            .collect();
        let upstream_stop = stop.clone();
        let slots = SlotPool::new(SLOTS_PER_CONNECTION, move || {
            BtcUpstream::spawn(
                endpoints.clone(),
                UpstreamSettings {
                    backoff_min: Duration::from_millis(50),
                    ..UpstreamSettings::default()
                },
                version_rolling,
                upstream_stop.clone(),
            )
        });
        let ctx = Arc::new(PortContext {
            port: config.ports[0].clone(),
            coin: config.coins[0].clone(),
            settings: config.stratum.clone(),
            vardiff: None,
            work: ProxyBitcoinWork {
                slots,
                recorder,
                verdict_timeout: Duration::from_secs(5),
                router: None,
                solo: None,
            },
            sink,
            shared: StratumShared::new(),
            tls: None,
            events: EventHub::new(),
        });
        tokio::spawn(super::super::serve(port, ctx, stop));
        Proxy {
            port: listen.port(),
            store,
            _dir: dir,
            _stop: stop_tx,
        }
    }

    struct Miner {
        peer: Peer,
        en1: Vec<u8>,
        en2_len: usize,
    }

    async fn miner(port: u16, worker: &str) -> Miner {
        let mut peer = Peer::new(TcpStream::connect(("127.0.0.1", port)).await.unwrap());
        let r = peer
            .call(1, "mining.subscribe", json!(["cpuminer/2.5.1"]))
            .await;
        let en1 = hex::decode(r["result"][1].as_str().unwrap()).unwrap();
        let en2_len = r["result"][2].as_u64().unwrap() as usize;
        let r = peer
            .call(
                2,
                "mining.authorize",
                json!([format!("{MINER}.{worker}"), "x"]),
            )
            .await;
        assert_eq!(r["result"], true, "{r}");
        Miner { peer, en1, en2_len }
    }

    /// Two cpuminer-like miners behind the proxy: each gets its own prefix as
    /// extranonce1 and the upstream's extranonce1 inside coinb1; their shares are
    /// answered at once, reach the upstream with extranonce2 = prefix ‖ miner's, and
    /// the upstream finds the very header the miner hashed. Bad shares stay local. A
    /// new upstream extranonce1 reaches the miners in the next job, without a
    /// reconnect, and their shares keep checking out upstream.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn miners_share_one_upstream_connection_and_their_shares_check_out_upstream() {
        let upstream = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream_port = upstream.local_addr().unwrap().port();
        let proxy = proxy(&[upstream_port], false).await;

        let first_miner = tokio::spawn(miner(proxy.port, "rig1"));
        let (s, _) = upstream.accept().await.unwrap();
        let mut pool = Peer::new(s);
        upstream_handshake(&mut pool, "aabbccdd").await;
        pool.send(
            json!({"id": null, "method": "mining.set_difficulty", "params": [UPSTREAM_DIFFICULTY]}),
        )
        .await;
        let job1 = job_params("up-1", true);
        pool.send(json!({"id": null, "method": "mining.notify", "params": job1}))
            .await;
        let mut a = first_miner.await.unwrap();
        let mut b = miner(proxy.port, "rig2").await;
        assert_eq!(a.en1.len(), 2);
        assert_ne!(a.en1, b.en1, "one slot each");
        assert_eq!((a.en2_len, b.en2_len), (2, 2));
        let mut lines = Vec::new();
        for m in [&mut a, &mut b] {
            let d = m.peer.next().await;
            assert_eq!(d["method"], "mining.set_difficulty");
            assert_eq!(d["params"][0], UPSTREAM_DIFFICULTY);
            let n = m.peer.next().await;
            assert_eq!(n["method"], "mining.notify");
            let coinb1 = n["params"][2].as_str().unwrap();
            assert!(coinb1.ends_with("ffffffff2003b40100aabbccdd"), "{coinb1}");
            lines.push(n["params"].clone());
        }
        assert_eq!(
            lines[0], lines[1],
            "one notify line for every miner of the connection"
        );
        let notify_a: Notify = serde_json::from_value(lines[0].clone()).unwrap();
        assert_ne!(notify_a.job_id, "up-1", "miners see the proxy's job id");

        // A valid share: answered at once, forwarded, checked by the upstream.
        let (en2, nonce) = find_share(&notify_a, &a.en1, a.en2_len, UPSTREAM_DIFFICULTY, false, 0);
        let submit = json!([
            format!("{MINER}.rig1"),
            notify_a.job_id,
            en2,
            "5f5e1000",
            format!("{nonce:08x}")
        ]);
        let r = a.peer.call(4, "mining.submit", submit.clone()).await;
        assert_eq!(r["result"], true, "{r}");
        let up = pool.next().await;
        assert_eq!(up["method"], "mining.submit");
        assert_eq!(up["params"][0], format!("{MINER}.proxy"));
        assert_eq!(up["params"][1], "up-1", "the upstream's job id");
        assert_eq!(
            up["params"][2],
            format!("{}{}", hex::encode(&a.en1), en2),
            "prefix ‖ miner extranonce2"
        );
        assert!(upstream_checks(
            &job1,
            &hex::decode("aabbccdd").unwrap(),
            &up["params"]
        ));
        pool.send(json!({"id": up["id"], "result": true, "error": null}))
            .await;

        // Duplicate, low difficulty, unknown job: refused locally, never forwarded.
        let r = a.peer.call(4, "mining.submit", submit.clone()).await;
        assert_eq!(r["error"][0], 22, "{r}");
        let (en2_low, nonce_low) =
            find_share(&notify_a, &a.en1, a.en2_len, UPSTREAM_DIFFICULTY, true, 0);
        let r = a
            .peer
            .call(
                4,
                "mining.submit",
                json!([
                    format!("{MINER}.rig1"),
                    notify_a.job_id.as_str(),
                    en2_low,
                    "5f5e1000",
                    format!("{nonce_low:08x}")
                ]),
            )
            .await;
        assert_eq!(r["error"][0], 23, "{r}");
        let r = a
            .peer
            .call(
                4,
                "mining.submit",
                json!([format!("{MINER}.rig1"), "99", en2, "5f5e1000", "00000000"]),
            )
            .await;
        assert_eq!(r["error"][0], 21, "{r}");

        // The upstream moves the connection to a new extranonce1: the miners keep
        // their session and extranonce1, the next job carries the new one.
        pool.send(
            json!({"id": null, "method": "mining.set_extranonce", "params": ["11223344", 4]}),
        )
        .await;
        let job2 = job_params("up-2", true);
        pool.send(json!({"id": null, "method": "mining.notify", "params": job2}))
            .await;
        let n = b.peer.next_not("mining.set_difficulty").await;
        assert_eq!(
            n["method"], "mining.notify",
            "no set_extranonce, no reconnect: {n}"
        );
        let notify_b: Notify = serde_json::from_value(n["params"].clone()).unwrap();
        assert!(notify_b.coinb1.ends_with("11223344"));
        let (en2, nonce) = find_share(&notify_b, &b.en1, b.en2_len, UPSTREAM_DIFFICULTY, false, 0);
        let r = b
            .peer
            .call(
                5,
                "mining.submit",
                json!([
                    format!("{MINER}.rig2"),
                    notify_b.job_id,
                    en2,
                    "5f5e1000",
                    format!("{nonce:08x}")
                ]),
            )
            .await;
        assert_eq!(r["result"], true, "{r}");
        let up = pool.next().await;
        assert_eq!(up["params"][1], "up-2");
        assert!(upstream_checks(
            &job2,
            &hex::decode("11223344").unwrap(),
            &up["params"]
        ));
        pool.send(
            json!({"id": up["id"], "result": null, "error": [23, "Low difficulty share", null]}),
        )
        .await;

        // Both verdicts are recorded: one accepted, one rejected.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let t = proxy.store.proxy_totals("LTC", None).await.unwrap();
            if t.accepted + t.rejected == 2 {
                assert_eq!((t.accepted, t.rejected, t.lost), (1, 1, 0));
                break;
            }
            assert!(Instant::now() < deadline, "verdicts not recorded: {t:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A version-rolling miner behind the proxy: the upstream's mask is what the miner
    /// gets, its rolled bits go upstream. Then the upstream dies: the proxy moves to
    /// the second one, the miner keeps its connection and extranonce1 and gets a
    /// clean job with the new upstream's extranonce1; a share on the dead upstream's
    /// job is stale, one on the new job checks out upstream.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn version_rolling_and_failover_without_reconnecting_the_miner() {
        let first = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let second = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ports = [
            first.local_addr().unwrap().port(),
            second.local_addr().unwrap().port(),
        ];
        let proxy = proxy(&ports, true).await;

        let mut peer = Peer::new(TcpStream::connect(("127.0.0.1", proxy.port)).await.unwrap());
        let configure = tokio::spawn(async move {
            let r = peer
                .call(
                    1,
                    "mining.configure",
                    json!([["version-rolling"], {"version-rolling.mask": "ffffffff"}]),
                )
                .await;
            (peer, r)
        });
        let (s, _) = first.accept().await.unwrap();
        let mut pool = Peer::new(s);
        upstream_handshake(&mut pool, "aabbccdd").await;
        let job1 = job_params("first-1", true);
        pool.send(
            json!({"id": null, "method": "mining.set_difficulty", "params": [UPSTREAM_DIFFICULTY]}),
        )
        .await;
        pool.send(json!({"id": null, "method": "mining.notify", "params": job1}))
            .await;
        let (mut peer, r) = configure.await.unwrap();
        assert_eq!(r["result"]["version-rolling"], true, "{r}");
        assert_eq!(
            r["result"]["version-rolling.mask"], "1fffe000",
            "the upstream's mask"
        );
        let r = peer.call(2, "mining.subscribe", json!([])).await;
        let en1 = hex::decode(r["result"][1].as_str().unwrap()).unwrap();
        let en2_len = r["result"][2].as_u64().unwrap() as usize;
        let worker = format!("{MINER}.asic");
        assert_eq!(
            peer.call(3, "mining.authorize", json!([worker, "x"])).await["result"],
            true
        );
        let n = peer.next_not("mining.set_difficulty").await;
        let old: Notify = serde_json::from_value(n["params"].clone()).unwrap();

        let (en2, nonce) = find_share(&old, &en1, en2_len, UPSTREAM_DIFFICULTY, false, 0x4000);
        let share = json!([
            worker,
            old.job_id,
            en2,
            "5f5e1000",
            format!("{nonce:08x}"),
            "00004000"
        ]);
        assert_eq!(peer.call(4, "mining.submit", share).await["result"], true);
        let up = pool.next().await;
        assert_eq!(up["params"][5], "00004000", "{up}");
        assert!(upstream_checks(
            &job1,
            &[0xaa, 0xbb, 0xcc, 0xdd],
            &up["params"]
        ));
        pool.send(json!({"id": up["id"], "result": true, "error": null}))
            .await;

        // The first upstream dies; the second takes over.
        drop(pool);
        let (s, _) = second.accept().await.unwrap();
        let mut pool = Peer::new(s);
        upstream_handshake(&mut pool, "99887766").await;
        let job2 = job_params("second-1", false);
        pool.send(
            json!({"id": null, "method": "mining.set_difficulty", "params": [UPSTREAM_DIFFICULTY]}),
        )
        .await;
        pool.send(json!({"id": null, "method": "mining.notify", "params": job2}))
            .await;
        let n = peer.next_not("mining.set_difficulty").await;
        assert_eq!(
            n["method"], "mining.notify",
            "no set_extranonce, no reconnect: {n}"
        );
        let new: Notify = serde_json::from_value(n["params"].clone()).unwrap();
        assert!(
            new.clean_jobs,
            "a new upstream's first job is clean for the miner"
        );
        assert!(new.coinb1.ends_with("99887766"));

        let (en2, nonce) = find_share(&old, &en1, en2_len, UPSTREAM_DIFFICULTY, false, 0x6000);
        let stale = json!([
            worker,
            old.job_id,
            en2,
            "5f5e1000",
            format!("{nonce:08x}"),
            "00006000"
        ]);
        assert_eq!(peer.call(5, "mining.submit", stale).await["error"][0], 21);
        let (en2, nonce) = find_share(&new, &en1, en2_len, UPSTREAM_DIFFICULTY, false, 0x2000);
        let share = json!([
            worker,
            new.job_id,
            en2,
            "5f5e1000",
            format!("{nonce:08x}"),
            "00002000"
        ]);
        assert_eq!(peer.call(6, "mining.submit", share).await["result"], true);
        let up = pool.next().await;
        assert_eq!(up["params"][1], "second-1");
        assert!(upstream_checks(
            &job2,
            &[0x99, 0x88, 0x77, 0x66],
            &up["params"]
        ));
        pool.send(json!({"id": up["id"], "result": true, "error": null}))
            .await;
        let deadline = Instant::now() + Duration::from_secs(10);
        while proxy
            .store
            .proxy_totals("LTC", None)
            .await
            .unwrap()
            .accepted
            < 2
        {
            assert!(Instant::now() < deadline, "verdicts not recorded");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
