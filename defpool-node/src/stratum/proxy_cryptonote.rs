//! One CryptoNote (xmrig) miner in proxy mode.
//!
//! The miner gets a slot on an upstream connection: the upstream's job with the
//! top nonce byte (blob byte 42) set to the slot, and xmrig's `nicehash` extension,
//! which makes it keep that byte. Up to 256 miners so share one upstream connection
//! without ever searching the same nonces. Every share is checked here with RandomX
//! against the upstream's target; only valid shares go upstream. The miner is
//! answered at once; the upstream's verdict is recorded when it comes and decides
//! the share's PPS credit.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use defpool_core::address;
use defpool_core::coin::Algorithm;
use defpool_core::pow::check_hash;
use defpool_core::profit::MinerAlgorithms;
use defpool_core::stratum::cryptonote::{
    parse_request, response_error, response_ok, ClientRequest, Job, LoginParams, SubmitParams,
};
use defpool_core::stratum::identity::{
    parse_identity, sanitize_worker, MinerIdentity, DEFAULT_WORKER,
};
use serde_json::{json, Value};
use tokio::sync::watch;
use tracing::Instrument;

use super::lines::{LineBuffer, LineError};
use super::router::{PortRouter, RouteGuard, RouteSignal};
use super::session_io::{invalid_share, send_to_miner, BadMessages};
use super::transport::{MinerRead, MinerWrite};
use super::{PortContext, ProxyMoneroWork};
use crate::mining::monero_source::ALGO;
use crate::store::{now_ms, NewProxyShare, NewShare, UpstreamVerdict};
use crate::upstream::cryptonote::{CnUpstream, CnUpstreamJob, SubmitError, NONCE_OFFSET};
use crate::upstream::slots::SlotLease;

const KEPT_JOBS: usize = 3;
/// How long a login waits for a new upstream connection's first job.
const FIRST_JOB_WAIT: Duration = Duration::from_secs(20);

mod reply {
    pub const UNAUTHENTICATED: &str = "Unauthenticated";
    pub const INVALID_JOB_ID: &str = "Invalid job id";
    pub const DUPLICATE_SHARE: &str = "Duplicate share";
    pub const LOW_DIFFICULTY: &str = "Low difficulty share";
    pub const INVALID_NONCE: &str = "Invalid nonce";
    pub const BLOCK_EXPIRED: &str = "Block expired";
    pub const INVALID_SHARE: &str = "Invalid share";
    pub const BANNED: &str = "Your IP is banned: too many invalid shares";
    pub const NO_JOB: &str = "No job available yet; try again";
    pub const FULL: &str = "Proxy cannot open an upstream connection; try again";
}

struct SentJob {
    job: Arc<CnUpstreamJob>,
    nonces: Vec<u32>,
}

/// How long shares on the previous coin's jobs are still taken after a profit
/// switch: a miner may be hashing its last job of the old coin when the new one comes.
const PREVIOUS_COIN_GRACE: Duration = Duration::from_secs(30);

/// A session on a profit-switching port.
struct Route {
    router: Arc<PortRouter<ProxyMoneroWork>>,
    signal: Arc<RouteSignal>,
    _guard: RouteGuard<ProxyMoneroWork>,
    /// Index of the coin mined now among the router's targets.
    coin: usize,
    /// The coin mined before the last switch, for late shares on its jobs.
    previous: Option<PreviousCoin>,
}

struct PreviousCoin {
    ctx: Arc<PortContext<ProxyMoneroWork>>,
    lease: SlotLease<CnUpstream>,
    jobs: [Option<SentJob>; KEPT_JOBS],
    until: std::time::Instant,
}

struct Session<W> {
    ctx: Arc<PortContext<ProxyMoneroWork>>,
    peer: SocketAddr,
    id: u64,
    identity: Option<MinerIdentity>,
    lease: Option<SlotLease<CnUpstream>>,
    /// On a profit-switching port, where the router wants the miner (boxed: most
    /// sessions are on ports of one coin and should not carry it).
    route: Option<Box<Route>>,
    jobs: [Option<SentJob>; KEPT_JOBS],
    next_slot: usize,
    invalid_shares: u32,
    bad: BadMessages,
    writer: W,
}

enum End {
    Closed,
    Reason(String),
    /// A `solo:` miner: the daemon-fed session takes the connection over.
    HandOver,
}

/// What a session that ends by handing over passes on.
struct HandOver {
    lines: Vec<u8>,
    pending: LineBuffer,
}

/// Serves one miner until it leaves, misbehaves or the node stops.
pub fn run_session<R: MinerRead, W: MinerWrite>(
    mut reader: R,
    writer: W,
    peer: SocketAddr,
    ctx: Arc<PortContext<ProxyMoneroWork>>,
    stop: watch::Receiver<bool>,
) -> impl std::future::Future<Output = W> + Send {
    let mut session = Session {
        id: ctx.shared.session_id(),
        peer,
        identity: None,
        lease: None,
        route: None,
        jobs: Default::default(),
        next_slot: 0,
        invalid_shares: 0,
        bad: BadMessages::new(),
        writer,
        ctx,
    };
    async move {
        let (end, handover) = session.run(&mut reader, stop.clone()).await;
        if let (Some(h), Some(solo)) = (handover, session.ctx.work.solo.clone()) {
            tracing::info!(peer = %session.peer, "solo miner on a proxy port: mined from the daemon");
            // Boxed: inline, the daemon-fed session's future would make every proxy
            // session's task as large as both (about 500 bytes more per idle miner).
            return Box::pin(super::cryptonote::run_handed_over(
                reader,
                session.writer,
                session.peer,
                solo,
                stop,
                h.lines,
                h.pending,
            ))
            .await;
        }
        let _span = session.span().entered();
        let reason = match &end {
            End::Closed => "closed by the miner".to_string(),
            End::Reason(r) => r.clone(),
            End::HandOver => "handed over".to_string(),
        };
        tracing::info!(%reason, "proxy session closed");
        if let Some(i) = &session.identity {
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

    async fn run<R: MinerRead>(
        &mut self,
        reader: &mut R,
        mut stop: watch::Receiver<bool>,
    ) -> (End, Option<HandOver>) {
        let mut pending = LineBuffer::new(self.ctx.settings.max_line_bytes);
        let idle = self.ctx.settings.idle_timeout;
        let idle_timer = tokio::time::sleep(idle);
        tokio::pin!(idle_timer);
        // Subscribed at login, when the miner gets its upstream connection.
        let mut jobs_rx: Option<watch::Receiver<Option<Arc<CnUpstreamJob>>>> = None;
        // Set at login on a profit-switching port.
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
                        Err(LineError::Closed) => return (End::Closed, None),
                        Err(LineError::TooLong(n)) => {
                            let _ = self.send(&response_error(&Value::Null, -1, &format!("Request line longer than {n} bytes"))).await;
                            return (End::Reason(format!("line over {n} bytes")), None);
                        }
                        Err(e) => return (End::Reason(e.to_string()), None),
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
                            // This line (the login) and the ones after it are the
                            // daemon-fed session's to answer.
                            Err(End::HandOver) => {
                                let lines = lines[start..].to_vec();
                                return (End::HandOver, Some(HandOver { lines, pending }));
                            }
                            Err(end) => return (end, None),
                        }
                    }
                    if jobs_rx.is_none() {
                        if let Some(lease) = &self.lease {
                            let mut rx = lease.upstream.jobs();
                            rx.borrow_and_update();
                            jobs_rx = Some(rx);
                            route_signal = self.route.as_ref().map(|r| r.signal.clone());
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
                        Err(e) => return (e, None),
                    }
                }
                ok = job_changed => {
                    if !ok {
                        return (End::Reason("upstream connection stopped".into()), None);
                    }
                    let job = jobs_rx.as_mut().and_then(|rx| rx.borrow_and_update().clone());
                    if let Some(route) = self.route.as_mut() {
                        // Past its grace time the previous coin's slot is given back.
                        if route.previous.as_ref().is_some_and(|p| p.until <= std::time::Instant::now()) {
                            route.previous = None;
                        }
                    }
                    if let Some(job) = job {
                        self.remember(&job);
                        let line = job.line_for_slot(self.slot());
                        if let Err(e) = self.send(&line).await {
                            return (e, None);
                        }
                    }
                }
                _ = &mut idle_timer => {
                    return (End::Reason(format!("idle for {}", humantime::format_duration(idle))), None);
                }
                r = stop.changed() => {
                    if r.is_err() || *stop.borrow() {
                        return (End::Reason("node shutting down".into()), None);
                    }
                }
            }
        }
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), End> {
        send_to_miner(&mut self.writer, bytes)
            .await
            .map_err(End::Reason)
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
                let id = e.id().cloned().unwrap_or(Value::Null);
                self.send(&response_error(&id, -1, &e.to_string())).await?;
                return self.bad_message();
            }
        };
        match request {
            ClientRequest::Login(params) => self.login(&id, params).await,
            ClientRequest::GetJob { id: session_id } => {
                if !self.authenticated(&session_id) {
                    return self
                        .send(&response_error(&id, -1, reply::UNAUTHENTICATED))
                        .await;
                }
                match self.lease.as_ref().and_then(|l| l.upstream.current()) {
                    Some(job) => {
                        let j = self.job_for(job);
                        self.send(&response_ok(&id, &j)).await
                    }
                    None => self.send(&response_error(&id, -1, reply::NO_JOB)).await,
                }
            }
            ClientRequest::Submit(params) => self.submit(&id, params).await,
            ClientRequest::Keepalived { .. } => {
                self.send(&response_ok(&id, json!({"status": "KEEPALIVED"})))
                    .await
            }
        }
    }

    fn authenticated(&self, session_id: &str) -> bool {
        self.identity.is_some() && u64::from_str_radix(session_id, 16) == Ok(self.id)
    }

    async fn login(&mut self, id: &Value, params: LoginParams) -> Result<(), End> {
        if self.identity.is_some() {
            return self
                .send(&response_error(id, -1, "Already logged in"))
                .await;
        }
        if !params.algo.is_empty() && !params.algo.iter().any(|a| a == ALGO) {
            self.send(&response_error(
                id,
                -1,
                "Unsupported algorithm: this port mines rx/0",
            ))
            .await?;
            return Err(End::Reason("miner cannot mine rx/0".into()));
        }
        let identity = match parse_identity(&params.login, &params.pass) {
            Ok(mut i) => {
                if i.worker == DEFAULT_WORKER {
                    if let Some(rig) = params.rigid.as_deref().filter(|r| !r.is_empty()) {
                        i.worker = sanitize_worker(rig);
                    }
                }
                i
            }
            Err(e) => {
                self.send(&response_error(id, -1, &e.to_string())).await?;
                return Err(End::Reason(format!("bad login: {e}")));
            }
        };
        if identity.solo || self.ctx.port.solo {
            if self.ctx.work.solo.is_some() {
                return Err(End::HandOver);
            }
            self.send(&response_error(
                id,
                -1,
                "Solo mining is not available on this proxy port: the coin has no daemon",
            ))
            .await?;
            return Err(End::Reason("solo miner without a daemon".into()));
        }
        if let Some(router) = self.ctx.work.router.clone() {
            self.route_at_login(id, &identity, &params, router).await?;
        }
        if let Err(e) = address::validate(
            self.ctx.coin.spec(),
            self.ctx.coin.network,
            &identity.address,
        ) {
            self.send(&response_error(
                id,
                -1,
                &format!("Invalid payment address: {e}"),
            ))
            .await?;
            return Err(End::Reason(format!("bad address: {e}")));
        }
        let Some(lease) = self.ctx.work.slots.lease() else {
            self.send(&response_error(id, -1, reply::FULL)).await?;
            return Err(End::Reason("no upstream slot".into()));
        };
        // A new upstream connection needs a moment for its login and first job.
        let mut rx = lease.upstream.jobs();
        let first = tokio::time::timeout(FIRST_JOB_WAIT, rx.wait_for(|j| j.is_some()))
            .await
            .ok()
            .and_then(|r| r.ok().and_then(|j| j.clone()));
        let Some(job) = first else {
            self.send(&response_error(id, -1, reply::NO_JOB)).await?;
            return Err(End::Reason("upstream has no job".into()));
        };
        tracing::info!(
            miner = %identity.address,
            worker = %identity.worker,
            slot = lease.slot,
            agent = params.agent.as_deref().unwrap_or(""),
            "miner logged in (proxy)"
        );
        self.ctx
            .miner_connected(&identity.address, &identity.worker, self.peer);
        self.identity = Some(identity);
        self.lease = Some(lease);
        let j = self.job_for(job);
        let result = json!({
            "id": format!("{:x}", self.id),
            "job": j,
            // nicehash: the miner keeps the top nonce byte it was given (its slot).
            "extensions": ["algo", "nicehash", "keepalive"],
            "status": "OK",
        });
        self.send(&response_ok(id, result)).await
    }

    /// On a profit-switching port: the coin the router picks for this miner becomes
    /// the session's (its upstream, difficulty and accounting).
    async fn route_at_login(
        &mut self,
        id: &Value,
        identity: &MinerIdentity,
        params: &LoginParams,
        router: Arc<PortRouter<ProxyMoneroWork>>,
    ) -> Result<(), End> {
        // A miner that names no algorithm mines what the dialect mines (xmrig sends
        // `algo` only when built with it).
        let algorithms = if params.algo.is_empty() && params.algo_perf.is_none() {
            MinerAlgorithms::of([Algorithm::RandomX])
        } else {
            MinerAlgorithms::from_xmrig(&params.algo, params.algo_perf.as_ref())
        };
        let label = format!("{}.{}", identity.address, identity.worker);
        let admitted = router.admit(self.id, label, algorithms);
        let Some((admission, ctx)) =
            admitted.and_then(|a| router.target(a.coin).cloned().map(|ctx| (a, ctx)))
        else {
            self.send(&response_error(
                id,
                -1,
                "This miner cannot mine any coin of this port",
            ))
            .await?;
            return Err(End::Reason(
                "no coin of the port for the miner's algorithms".into(),
            ));
        };
        tracing::info!(coin = ctx.coin.spec().symbol, reason = %admission.reason, "profit-switching port: first coin");
        self.ctx = ctx;
        self.route = Some(Box::new(Route {
            router,
            signal: admission.signal,
            _guard: admission.guard,
            coin: admission.coin,
            previous: None,
        }));
        Ok(())
    }

    /// Moves the miner to the coin the router wants, if it differs from the current
    /// one: a slot on that coin's upstream, a clean job at its difficulty. The
    /// previous coin's jobs stay valid for [`PREVIOUS_COIN_GRACE`]. Returns whether
    /// the miner moved (it stays when the new coin has no slot or job for it now).
    async fn switch_coin(&mut self) -> Result<bool, End> {
        let Some(route) = self.route.as_ref() else {
            return Ok(false);
        };
        let (router, from, to) = (route.router.clone(), route.coin, route.signal.target());
        if to == from {
            return Ok(false);
        }
        let Some(ctx) = router.target(to).cloned() else {
            return Ok(false);
        };
        let symbol = ctx.coin.spec().symbol;
        let Some(lease) = ctx.work.slots.lease() else {
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
        self.next_slot = 0;
        let old_lease = self.lease.replace(lease);
        if let Some(i) = &self.identity {
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
            slot = lease_slot(&self.lease),
            difficulty = job.difficulty,
            "profit switch: miner moved"
        );
        if let Some(route) = self.route.as_mut() {
            route.coin = to;
            route.previous = old_lease.map(|lease| PreviousCoin {
                ctx: old_ctx,
                lease,
                jobs: old_jobs,
                until: std::time::Instant::now() + PREVIOUS_COIN_GRACE,
            });
        }
        self.remember(&job);
        let line = job.line_for_slot(self.slot());
        self.send(&line).await?;
        Ok(true)
    }

    fn slot(&self) -> u8 {
        self.lease.as_ref().map(|l| l.slot as u8).unwrap_or(0)
    }

    /// The miner's copy of an upstream job (its slot in the nonce), remembered.
    fn job_for(&mut self, job: Arc<CnUpstreamJob>) -> Job {
        self.remember(&job);
        job.for_slot(self.slot())
    }

    /// Keeps `job` among the recent jobs the miner may submit on (once).
    fn remember(&mut self, job: &Arc<CnUpstreamJob>) {
        if self.jobs.iter().flatten().any(|j| Arc::ptr_eq(&j.job, job)) {
            return;
        }
        self.jobs[self.next_slot] = Some(SentJob {
            job: job.clone(),
            nonces: Vec::new(),
        });
        self.next_slot = (self.next_slot + 1) % KEPT_JOBS;
    }

    async fn reject(
        &mut self,
        id: &Value,
        message: &str,
        counts_as_invalid: bool,
    ) -> Result<(), End> {
        self.ctx
            .shared
            .shares_rejected
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if counts_as_invalid {
            if let Some(end) = invalid_share(
                &mut self.invalid_shares,
                &self.ctx.shared,
                &self.ctx.settings,
                self.peer.ip(),
            ) {
                let _ = self
                    .send(&response_error(
                        id,
                        -1,
                        &format!("{}: {message}", reply::BANNED),
                    ))
                    .await;
                return Err(End::Reason(end));
            }
        }
        self.send(&response_error(id, -1, message)).await
    }

    async fn submit(&mut self, id: &Value, params: SubmitParams) -> Result<(), End> {
        if !self.authenticated(&params.id) {
            return self
                .send(&response_error(id, -1, reply::UNAUTHENTICATED))
                .await;
        }
        let submit = match params.validate() {
            Ok(s) => s,
            Err(e) => return self.reject(id, &e.to_string(), true).await,
        };
        let Some(job_id) = params.job_id.parse::<u32>().ok() else {
            return self.reject(id, reply::INVALID_JOB_ID, false).await;
        };
        // A job of the coin mined now, or after a profit switch one of the previous
        // coin's within its grace time: the share is checked, forwarded and credited
        // on the coin of its job.
        let now = std::time::Instant::now();
        let on_current = self.jobs.iter().flatten().any(|j| j.job.seq == job_id);
        let previous = match self.route.as_mut() {
            Some(route) if !on_current => {
                if route.previous.as_ref().is_some_and(|p| p.until <= now) {
                    route.previous = None;
                }
                route.previous.as_mut()
            }
            _ => None,
        };
        let (ctx, slot, upstream, jobs) = match previous {
            Some(p) => (
                p.ctx.clone(),
                p.lease.slot as u8,
                Some(p.lease.upstream.clone()),
                &mut p.jobs,
            ),
            None => (
                self.ctx.clone(),
                lease_slot(&self.lease) as u8,
                self.lease.as_ref().map(|l| l.upstream.clone()),
                &mut self.jobs,
            ),
        };
        let Some(sent) = jobs.iter_mut().flatten().find(|j| j.job.seq == job_id) else {
            return self.reject(id, reply::INVALID_JOB_ID, false).await;
        };
        let job = sent.job.clone();
        // The nonce must stay in this miner's slot, or two miners could send the
        // same share upstream.
        if submit.nonce[3] != slot {
            return self.reject(id, reply::INVALID_NONCE, true).await;
        }
        let nonce = u32::from_le_bytes(submit.nonce);
        if sent.nonces.contains(&nonce) {
            return self.reject(id, reply::DUPLICATE_SHARE, false).await;
        }
        sent.nonces.push(nonce);
        let Some(upstream) = upstream else {
            return self.reject(id, reply::UNAUTHENTICATED, false).await;
        };
        let current_generation = upstream.current().map(|j| j.generation);
        if current_generation != Some(job.generation) {
            return self.reject(id, reply::BLOCK_EXPIRED, false).await;
        }
        let mut blob = job.blob.clone();
        blob[NONCE_OFFSET..NONCE_OFFSET + 4].copy_from_slice(&submit.nonce);
        let seed = hex::decode(&job.seed_hash).unwrap_or_default();
        let hash = match ctx.work.verifier.hash(&seed, blob).await {
            Ok(h) => h,
            Err(e) => {
                tracing::error!(error = %e, "cannot verify share");
                return self
                    .send(&response_error(
                        id,
                        -1,
                        "Share could not be verified; try again",
                    ))
                    .await;
            }
        };
        if hash != submit.result {
            tracing::warn!("share hash does not match RandomX");
            return self.reject(id, reply::INVALID_SHARE, true).await;
        }
        if !check_hash(&hash, u128::from(job.difficulty)) {
            return self.reject(id, reply::LOW_DIFFICULTY, true).await;
        }
        let Some(identity) = self.identity.clone() else {
            return self
                .send(&response_error(id, -1, reply::UNAUTHENTICATED))
                .await;
        };
        // Forward first (this only queues the line), then answer the miner without
        // waiting for the upstream's verdict.
        let verdict = upstream
            .submit(&job, &hex::encode(submit.nonce), &hex::encode(hash))
            .await;
        let coin = ctx.coin.spec().symbol.to_string();
        let share = NewShare {
            coin: coin.clone(),
            miner: identity.address.clone(),
            worker: identity.worker.clone(),
            difficulty: job.difficulty as f64,
            network_difficulty: 1.0,
            height: job.height,
            accepted: true,
            solo: false,
            created_at: now_ms(),
        };
        if ctx.sink.submit(share).await.is_err() {
            tracing::error!("share sink stopped");
        }
        self.ctx
            .shared
            .shares_accepted
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // The verdict is awaited (and recorded) whatever happens to the miner's
        // connection: start that before answering, which may fail.
        let recorder = ctx.work.recorder.clone();
        let network = (recorder.network)(&coin);
        let upstream_url = upstream.endpoint_url(job.upstream);
        let record = NewProxyShare {
            coin,
            miner: identity.address,
            worker: identity.worker,
            upstream: upstream_url,
            difficulty: job.difficulty as f64,
            verdict: UpstreamVerdict::Lost,
            reason: None,
            network,
            created_at: now_ms(),
        };
        let wait = upstream_wait(ctx.work.verdict_timeout);
        tokio::spawn(
            async move {
                let (verdict, reason) = match verdict {
                    Ok(rx) => match tokio::time::timeout(wait, rx).await {
                        Ok(Ok(Ok(_))) => (UpstreamVerdict::Accepted, None),
                        Ok(Ok(Err(crate::upstream::CallError::Refused { message, .. }))) => {
                            (UpstreamVerdict::Rejected, Some(message))
                        }
                        Ok(Ok(Err(e))) => (UpstreamVerdict::Lost, Some(e.to_string())),
                        Ok(Err(_)) => (
                            UpstreamVerdict::Lost,
                            Some("upstream connection lost".into()),
                        ),
                        Err(_) => (
                            UpstreamVerdict::Lost,
                            Some(format!("no verdict within {wait:?}")),
                        ),
                    },
                    Err(SubmitError::Stale) => (
                        UpstreamVerdict::Lost,
                        Some("upstream connection changed".into()),
                    ),
                    Err(SubmitError::Call(e)) => (UpstreamVerdict::Lost, Some(e.to_string())),
                };
                match verdict {
                    UpstreamVerdict::Accepted => {}
                    UpstreamVerdict::Rejected => {
                        tracing::warn!(
                            reason = reason.as_deref().unwrap_or(""),
                            "upstream rejected a share"
                        )
                    }
                    UpstreamVerdict::Lost => {
                        tracing::warn!(
                            reason = reason.as_deref().unwrap_or(""),
                            "share lost upstream"
                        )
                    }
                }
                upstream.share_outcome(
                    &job,
                    match verdict {
                        UpstreamVerdict::Accepted => Some(true),
                        UpstreamVerdict::Rejected => Some(false),
                        UpstreamVerdict::Lost => None,
                    },
                );
                recorder
                    .record(NewProxyShare {
                        verdict,
                        reason,
                        ..record
                    })
                    .await;
            }
            .instrument(tracing::Span::current()),
        );
        self.send(&response_ok(id, json!({"status": "OK"}))).await
    }
}

fn lease_slot(lease: &Option<SlotLease<CnUpstream>>) -> u32 {
    lease.as_ref().map_or(0, |l| l.slot)
}

fn upstream_wait(configured: Duration) -> Duration {
    configured.max(Duration::from_secs(1))
}
