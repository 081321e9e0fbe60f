//! One Bitcoin-dialect SV1 session (cpuminer, ASIC firmware, the SV2 translator):
//! subscribe, configure (BIP 310 version rolling), authorize, jobs, shares.
//!
//! Same shape as the CryptoNote session: the session owns its state (extranonce1,
//! recent jobs, difficulty, vardiff), shares are hashed here (sha256d inline, scrypt
//! on the blocking pool), database writes go through the share sink, and a block
//! candidate is submitted in its own task.

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use defpool_core::pow::bitcoin::{hash_to_display_hex, PowAlgorithm};
use defpool_core::share::bitcoin::{
    check_submit, DuplicateKey, NtimeWindow, SubmitRules, DEFAULT_MAX_NTIME_AHEAD_SECS,
};
use defpool_core::stratum::bitcoin::{
    answer_configure, notify, parse_request, response_error, response_ok, set_difficulty,
    subscribe_result, AuthorizeParams, ClientRequest, ConfigureParams, ErrorCode, SubmitParams,
    POOL_VERSION_MASK,
};
use defpool_core::stratum::dialect::{detect_dialect, Dialect};
use defpool_core::stratum::identity::{parse_identity, MinerIdentity};
use defpool_core::vardiff::Vardiff;
use defpool_core::{address, Difficulty};
use serde_json::Value;
use tokio::sync::watch;
use tracing::Instrument;

use super::lines::{LineBuffer, LineError};
use super::session_io::{invalid_share, send_to_miner, BadMessages};
use super::transport::{MinerRead, MinerWrite};
use super::{BitcoinWork, PortContext};
use crate::accounting::FoundBlock;
use crate::daemon::SubmitOutcome;
use crate::mining::bitcoin_source::{EXTRANONCE1_LEN, EXTRANONCE2_LEN};
use crate::mining::BitcoinWork as Work;
use crate::store::{now_ms, NewBlock, NewShare};

/// Jobs a session remembers: the current one and a few before it.
const KEPT_JOBS: usize = 4;
/// Workers one connection may authorize (proxies put several on one connection).
const MAX_WORKERS: usize = 16;

/// A job sent to this session.
struct SessionJob {
    id: u32,
    work: Arc<Work>,
    /// The difficulty the miner had when the job was sent; a retarget applies to the
    /// jobs sent after it.
    difficulty: f64,
    /// Shares already submitted for this job (duplicate detection). A set: a session
    /// at a low difficulty or behind a proxy sends thousands of shares per job, and a
    /// list scanned per share made each one slower than the last.
    seen: HashSet<DuplicateKey>,
}

/// A Bitcoin-dialect miner a proxy session hands over (a `solo:` miner on a proxy
/// port), with what it already agreed with the proxy.
pub struct HandOver {
    /// Complete lines already read, the `mining.authorize` first.
    pub lines: Vec<u8>,
    pub pending: LineBuffer,
    /// The extranonce1 and extranonce2 size the miner subscribed with.
    pub miner_extranonce1: Vec<u8>,
    pub miner_extranonce2_len: usize,
    /// The BIP 310 mask agreed with `mining.configure`, if any.
    pub version_mask: Option<u32>,
}

impl HandOver {
    /// Whether a miner's extranonces fit in this node's extranonce2 (see [`Folded`]).
    pub fn fits(miner_extranonce1_len: usize, miner_extranonce2_len: usize) -> bool {
        miner_extranonce1_len + miner_extranonce2_len <= EXTRANONCE2_LEN
    }
}

/// A handed-over miner's extranonces inside this node's: the session's own
/// extranonce1 (unique per session) is sent at the end of `coinb1`, and the miner's
/// extranonce1 and extranonce2 make up this node's extranonce2, padded with zeros sent
/// at the start of `coinb2`. The coinbase is byte for byte what the miner hashes.
struct Folded {
    miner_extranonce1: Vec<u8>,
    miner_extranonce2_len: usize,
}

impl Folded {
    fn pad_len(&self) -> usize {
        EXTRANONCE2_LEN.saturating_sub(self.miner_extranonce1.len() + self.miner_extranonce2_len)
    }

    /// This node's extranonce2 for the miner's.
    fn node_extranonce2(&self, miner_extranonce2: &[u8]) -> Vec<u8> {
        let mut en2 = Vec::with_capacity(EXTRANONCE2_LEN);
        en2.extend_from_slice(&self.miner_extranonce1);
        en2.extend_from_slice(miner_extranonce2);
        en2.resize(EXTRANONCE2_LEN, 0);
        en2
    }
}

struct Session<W> {
    ctx: Arc<PortContext<BitcoinWork>>,
    peer: SocketAddr,
    id: u64,
    algorithm: PowAlgorithm,
    extranonce1: [u8; EXTRANONCE1_LEN],
    /// Set for a miner handed over by a proxy session (boxed: rare).
    folded: Option<Box<Folded>>,
    subscribed: bool,
    /// Authorized `username`s and who they are.
    workers: Vec<(String, MinerIdentity)>,
    /// BIP 310 mask agreed with `mining.configure`; `None` without version rolling.
    version_mask: Option<u32>,
    jobs: VecDeque<SessionJob>,
    next_job_id: u32,
    difficulty: f64,
    /// Difficulty the miner last got in `mining.set_difficulty`.
    sent_difficulty: Option<f64>,
    vardiff: Option<Vardiff>,
    invalid_shares: u32,
    bad: BadMessages,
    writer: W,
}

enum End {
    Closed,
    Reason(String),
}

/// Serves one miner until it leaves, misbehaves or the node stops; returns the
/// writer so a TLS connection can be closed cleanly.
pub async fn run_session<R: MinerRead, W: MinerWrite>(
    mut reader: R,
    writer: W,
    peer: SocketAddr,
    ctx: Arc<PortContext<BitcoinWork>>,
    stop: watch::Receiver<bool>,
) -> W {
    let id = ctx.shared.session_id();
    let algorithm = match PowAlgorithm::try_from(ctx.coin.spec().algorithm) {
        Ok(a) => a,
        // Ports are built per coin family, so this cannot happen; end politely.
        Err(_) => return writer,
    };
    let mut session = Session {
        peer,
        id,
        algorithm,
        extranonce1: ctx.shared.extra_nonce().to_be_bytes(),
        folded: None,
        subscribed: false,
        workers: Vec::new(),
        version_mask: None,
        jobs: VecDeque::new(),
        next_job_id: 1,
        difficulty: ctx.port.difficulty,
        sent_difficulty: None,
        vardiff: None,
        invalid_shares: 0,
        bad: BadMessages::new(),
        writer,
        ctx,
    };
    let pending = LineBuffer::new(session.ctx.settings.max_line_bytes);
    let end = session.run(&mut reader, stop, pending).await;
    session.finish(end)
}

/// Takes over a connection a proxy session started (a `solo:` miner on a proxy port
/// is mined from the coin's daemons): the miner keeps the extranonces it subscribed
/// with; `handover.lines` (the authorize first) are answered here, then the miner is
/// served as [`run_session`] does.
pub async fn run_handed_over<R: MinerRead, W: MinerWrite>(
    mut reader: R,
    writer: W,
    peer: SocketAddr,
    ctx: Arc<PortContext<BitcoinWork>>,
    stop: watch::Receiver<bool>,
    handover: HandOver,
) -> W {
    let Ok(algorithm) = PowAlgorithm::try_from(ctx.coin.spec().algorithm) else {
        return writer;
    };
    let mut session = Session {
        peer,
        id: ctx.shared.session_id(),
        algorithm,
        extranonce1: ctx.shared.extra_nonce().to_be_bytes(),
        folded: Some(Box::new(Folded {
            miner_extranonce1: handover.miner_extranonce1,
            miner_extranonce2_len: handover.miner_extranonce2_len,
        })),
        subscribed: true,
        workers: Vec::new(),
        // Within what this node allows; the miner hears if that is less.
        version_mask: handover.version_mask.map(|m| m & POOL_VERSION_MASK),
        jobs: VecDeque::new(),
        next_job_id: 1,
        difficulty: ctx.port.difficulty,
        sent_difficulty: None,
        vardiff: None,
        invalid_shares: 0,
        bad: BadMessages::new(),
        writer,
        ctx,
    };
    if let Some(mask) = session
        .version_mask
        .filter(|m| Some(*m) != handover.version_mask)
    {
        if let Err(end) = session
            .send(&defpool_core::stratum::bitcoin::set_version_mask(mask))
            .await
        {
            return session.finish(end);
        }
    }
    for line in handover.lines.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let span = session.span();
        if let Err(end) = Box::pin(session.handle_line(line).instrument(span)).await {
            return session.finish(end);
        }
    }
    let end = session.run(&mut reader, stop, handover.pending).await;
    session.finish(end)
}

impl<W: MinerWrite> Session<W> {
    /// Logs why the session ended and gives back the writer.
    fn finish(self, end: End) -> W {
        let _span = self.span().entered();
        let reason = match &end {
            End::Closed => "closed by the miner",
            End::Reason(r) => r.as_str(),
        };
        for (_, i) in &self.workers {
            self.ctx.miner_disconnected(&i.address, &i.worker, reason);
        }
        match end {
            End::Closed => tracing::debug!("session closed by the miner"),
            End::Reason(r) => tracing::info!(reason = %r, "session closed"),
        }
        self.writer
    }
}

impl<W: MinerWrite> Session<W> {
    async fn run<R: MinerRead>(
        &mut self,
        reader: &mut R,
        mut stop: watch::Receiver<bool>,
        mut pending: LineBuffer,
    ) -> End {
        let mut work_rx = self.ctx.work.source.subscribe();
        let idle = self.ctx.settings.idle_timeout;
        let idle_timer = tokio::time::sleep(idle);
        tokio::pin!(idle_timer);
        loop {
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
                    for line in lines.split(|b| *b == b'\n') {
                        let line = line.strip_suffix(b"\r").unwrap_or(line);
                        let span = self.span();
                        if let Err(end) = Box::pin(self.handle_line(line).instrument(span)).await {
                            return end;
                        }
                    }
                }
                changed = work_rx.changed() => {
                    if changed.is_err() {
                        return End::Reason("job source stopped".into());
                    }
                    let work = work_rx.borrow_and_update().clone();
                    if let Some(work) = work {
                        if self.ready_for_jobs() {
                            self.tick_vardiff();
                            let clean = work.new_block;
                            if let Err(e) = self.push_job(work, clean).await {
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

    fn span(&self) -> tracing::Span {
        tracing::info_span!("session", id = self.id, peer = %self.peer, port = %self.ctx.port.listen)
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
                // An xmrig pointed at this port: say what the port speaks and close,
                // rather than answering "unknown method" forever.
                if !self.subscribed
                    && self.bad.none()
                    && detect_dialect(line) == Some(Dialect::CryptoNote)
                {
                    let message = format!(
                        "This port speaks the Bitcoin stratum dialect for {}; use a CryptoNote (xmrig) port for Monero",
                        self.ctx.coin.spec().symbol
                    );
                    let id = e.id().cloned().unwrap_or(Value::Null);
                    let _ = self.error(&id, ErrorCode::Other, &message).await;
                    return Err(End::Reason("miner speaks the CryptoNote dialect".into()));
                }
                tracing::debug!(error = %e, "malformed request");
                // JSON-RPC answers a line it cannot read with a null id.
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
                // The extranonce never changes within a session; saying yes is true.
                self.send(&response_ok(&id, true)).await
            }
            ClientRequest::SuggestDifficulty(d) => self.suggest_difficulty(&id, d).await,
            ClientRequest::Submit(params) => self.submit(&id, params).await,
        }
    }

    async fn subscribe(&mut self, id: &Value) -> Result<(), End> {
        let first = !self.subscribed;
        self.subscribed = true;
        let result = match &self.folded {
            Some(f) => subscribe_result(
                &format!("{:x}", self.id),
                &f.miner_extranonce1,
                f.miner_extranonce2_len,
            ),
            None => subscribe_result(
                &format!("{:x}", self.id),
                &self.extranonce1,
                EXTRANONCE2_LEN,
            ),
        };
        self.send(&response_ok(id, result)).await?;
        // A miner that authorized first gets its work now.
        if first && !self.workers.is_empty() {
            self.start_work().await?;
        }
        Ok(())
    }

    async fn configure(&mut self, id: &Value, params: ConfigureParams) -> Result<(), End> {
        let answer = answer_configure(&params, Some(POOL_VERSION_MASK), false);
        if let Some(rolling) = answer.version_rolling {
            if !rolling.min_bit_count_met {
                tracing::info!(
                    mask = format!("{:08x}", rolling.mask),
                    "miner wants more version bits than the pool allows; it runs degraded"
                );
            }
            self.version_mask = Some(rolling.mask);
        }
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
        let spec = self.ctx.coin.spec();
        if let Err(e) = address::validate(spec, self.ctx.coin.network, &identity.address) {
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
        if self.workers.len() >= MAX_WORKERS
            && !self.workers.iter().any(|(u, _)| *u == params.username)
        {
            return self
                .error(id, ErrorCode::UnauthorizedWorker, "Too many workers")
                .await;
        }
        let first = self.workers.is_empty();
        if let Some(d) = identity.fixed_difficulty.filter(|_| first) {
            self.difficulty = match &self.ctx.vardiff {
                Some(cfg) => d.clamp(cfg.min, cfg.max),
                None => d.max(self.ctx.port.difficulty),
            };
        } else if first {
            if let Some(cfg) = &self.ctx.vardiff {
                self.difficulty = self.difficulty.clamp(cfg.min, cfg.max);
                self.vardiff = Some(Vardiff::new(cfg, self.difficulty, now_ms()));
            }
        }
        tracing::info!(
            miner = %identity.address,
            worker = %identity.worker,
            solo = identity.solo || self.ctx.port.solo,
            difficulty = self.difficulty,
            "miner authorized"
        );
        if !self.workers.iter().any(|(u, _)| *u == params.username) {
            self.ctx
                .miner_connected(&identity.address, &identity.worker, self.peer);
            self.workers.push((params.username, identity));
        }
        self.send(&response_ok(id, true)).await?;
        if first && self.subscribed {
            self.start_work().await?;
        }
        Ok(())
    }

    async fn suggest_difficulty(&mut self, id: &Value, d: f64) -> Result<(), End> {
        // A hint, kept within the port's range; with vardiff it is the starting point.
        let d = match &self.ctx.vardiff {
            Some(cfg) => d.clamp(cfg.min, cfg.max),
            None => d.max(self.ctx.port.difficulty),
        };
        self.difficulty = d;
        if let (Some(v), Some(cfg)) = (self.vardiff.as_mut(), self.ctx.vardiff.as_ref()) {
            *v = Vardiff::new(cfg, d, now_ms());
        }
        self.send(&response_ok(id, true)).await?;
        if self.ready_for_jobs() {
            if let Some(work) = self.ctx.work.source.current() {
                self.push_job(work, false).await?;
            }
        }
        Ok(())
    }

    /// First difficulty and job after subscribe + authorize.
    async fn start_work(&mut self) -> Result<(), End> {
        match self.ctx.work.source.current() {
            Some(work) => self.push_job(work, true).await,
            None => {
                tracing::warn!("no template yet; the miner gets its first job with the next one");
                Ok(())
            }
        }
    }

    /// The network difficulty of `work` in this coin's stratum units.
    fn network_difficulty(&self, work: &Work) -> f64 {
        self.algorithm
            .difficulty_of_target(&work.job.network_target())
    }

    /// Sends `mining.set_difficulty` when it changed, then the job.
    async fn push_job(&mut self, work: Arc<Work>, clean: bool) -> Result<(), End> {
        // Never above the network: a share that is a block must be submittable.
        let difficulty = self.difficulty.min(self.network_difficulty(&work));
        if self.sent_difficulty != Some(difficulty) {
            self.sent_difficulty = Some(difficulty);
            self.send(&set_difficulty(difficulty)).await?;
        }
        let id = self.next_job_id;
        self.next_job_id = self.next_job_id.wrapping_add(1);
        let mut n = work.job.notify(&format!("{id:x}"), clean);
        if let Some(f) = &self.folded {
            n.coinb1.push_str(&hex::encode(self.extranonce1));
            n.coinb2.insert_str(0, &"00".repeat(f.pad_len()));
        }
        let line = notify(&n);
        if clean {
            // After a new block the older jobs are stale; keep one for the grace window.
            while self.jobs.len() > 1 {
                self.jobs.pop_front();
            }
        }
        if self.jobs.len() == KEPT_JOBS {
            self.jobs.pop_front();
        }
        self.jobs.push_back(SessionJob {
            id,
            work,
            difficulty,
            seen: HashSet::new(),
        });
        self.send(&line).await
    }

    fn tick_vardiff(&mut self) {
        if let (Some(v), Some(cfg)) = (self.vardiff.as_mut(), self.ctx.vardiff.as_ref()) {
            if let Some(d) = v.on_tick(cfg, now_ms()) {
                self.difficulty = d;
            }
        }
    }

    /// Counts a rejected share, bans after too many invalid ones, and answers.
    async fn reject(
        &mut self,
        id: &Value,
        code: ErrorCode,
        message: &str,
        worker: Option<&MinerIdentity>,
        counts_as_invalid: bool,
    ) -> Result<(), End> {
        self.ctx
            .shared
            .shares_rejected
            .fetch_add(1, Ordering::Relaxed);
        if let Some(identity) = worker {
            let share = NewShare {
                coin: self.ctx.coin.spec().symbol.to_string(),
                miner: identity.address.clone(),
                worker: identity.worker.clone(),
                difficulty: self.difficulty,
                network_difficulty: 1.0,
                height: self.jobs.back().map_or(0, |j| j.work.height),
                accepted: false,
                solo: identity.solo || self.ctx.port.solo,
                created_at: now_ms(),
            };
            if self.ctx.sink.submit(share).await.is_err() {
                tracing::error!("share sink stopped");
            }
        }
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
        let job_id = u32::from_str_radix(&params.job_id, 16).ok();
        let Some(index) = job_id.and_then(|jid| self.jobs.iter().position(|j| j.id == jid)) else {
            return self
                .reject(
                    id,
                    ErrorCode::JobNotFound,
                    ErrorCode::JobNotFound.message(),
                    Some(&identity),
                    false,
                )
                .await;
        };
        let work = self.jobs[index].work.clone();
        let difficulty = self.jobs[index].difficulty;
        let current = self.ctx.work.source.current();
        let is_current_block = current.as_ref().is_some_and(|c| c.height == work.height);
        let stale_for = current
            .as_ref()
            .map(|c| c.height_since.elapsed())
            .unwrap_or_default();
        // Our own block at this height is in: later work on it is worthless, even if
        // the daemon has not given the next template yet.
        let solved_long_ago = self
            .ctx
            .work
            .source
            .solved_for(work.height)
            .is_some_and(|d| d > self.ctx.settings.stale_grace);
        if solved_long_ago || (!is_current_block && stale_for > self.ctx.settings.stale_grace) {
            return self
                .reject(
                    id,
                    ErrorCode::JobNotFound,
                    "Stale share: the block changed",
                    Some(&identity),
                    false,
                )
                .await;
        }

        let job = &work.job;
        let template = job.template();
        let rules = SubmitRules {
            extranonce2_len: self
                .folded
                .as_ref()
                .map_or(EXTRANONCE2_LEN, |f| f.miner_extranonce2_len),
            ntime: NtimeWindow::for_job(
                template.mintime,
                template.curtime,
                DEFAULT_MAX_NTIME_AHEAD_SECS,
            ),
            version_mask: self.version_mask,
        };
        let params = normalize_version_bits(params, template.version, self.version_mask);
        let checked = match check_submit(&params, template.version, &rules) {
            Ok(c) => c,
            Err(e) => {
                let message = e.to_string();
                return self
                    .reject(id, e.code(), &message, Some(&identity), true)
                    .await;
            }
        };
        if !self.jobs[index].seen.insert(checked.duplicate_key()) {
            return self
                .reject(
                    id,
                    ErrorCode::DuplicateShare,
                    ErrorCode::DuplicateShare.message(),
                    Some(&identity),
                    false,
                )
                .await;
        }

        let extranonce2 = match &self.folded {
            Some(f) => f.node_extranonce2(checked.extranonce2.as_bytes()),
            None => checked.extranonce2.as_bytes().to_vec(),
        };
        let header = match job.header(
            &self.extranonce1,
            &extranonce2,
            checked.version,
            checked.ntime,
            checked.nonce,
        ) {
            Ok(h) => h,
            Err(e) => {
                let message = e.to_string();
                return self
                    .reject(id, ErrorCode::Other, &message, Some(&identity), true)
                    .await;
            }
        };
        let header_bytes = header.to_bytes();
        let algorithm = self.algorithm;
        let hash = match algorithm {
            PowAlgorithm::Sha256d => algorithm.hash_header(&header_bytes),
            // ~0.25 ms of memory-hard work: off the session's thread.
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
        let share_target = match Difficulty::new(difficulty) {
            Ok(d) => algorithm.target_for_difficulty(d),
            Err(_) => work.job.network_target(),
        };
        if !share_target.is_met_by(&hash) {
            return self
                .reject(
                    id,
                    ErrorCode::LowDifficultyShare,
                    ErrorCode::LowDifficultyShare.message(),
                    Some(&identity),
                    true,
                )
                .await;
        }

        let solo = identity.solo || self.ctx.port.solo;
        let network_difficulty = self.network_difficulty(&work);
        let share = NewShare {
            coin: self.ctx.coin.spec().symbol.to_string(),
            miner: identity.address.clone(),
            worker: identity.worker.clone(),
            difficulty,
            network_difficulty,
            height: work.height,
            accepted: true,
            solo,
            created_at: now_ms(),
        };
        if self.ctx.sink.submit(share).await.is_err() {
            tracing::error!("share sink stopped");
        }
        self.ctx
            .shared
            .shares_accepted
            .fetch_add(1, Ordering::Relaxed);
        self.send(&response_ok(id, true)).await?;

        if is_current_block
            && work.job.network_target().is_met_by(&hash)
            && self.ctx.work.source.claim_height(work.height)
        {
            match job.block(&self.extranonce1, &extranonce2, &header) {
                Ok(block) => {
                    let ctx = self.ctx.clone();
                    let span = tracing::Span::current();
                    let hash_hex = hash_to_display_hex(&header.block_hash());
                    tokio::spawn(
                        submit_block_task(
                            ctx,
                            work.clone(),
                            block,
                            hash_hex,
                            identity.clone(),
                            solo,
                            network_difficulty,
                        )
                        .instrument(span),
                    );
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot assemble the block");
                    self.ctx.work.source.release_height(work.height);
                }
            }
        }
        if let (Some(v), Some(cfg)) = (self.vardiff.as_mut(), self.ctx.vardiff.as_ref()) {
            if let Some(d) = v.on_share(cfg, now_ms()) {
                tracing::debug!(from = self.difficulty, to = d, "vardiff retarget");
                self.difficulty = d;
                if let Some(current) = current {
                    self.push_job(current, false).await?;
                }
            }
        }
        Ok(())
    }
}

/// Some firmware sends the whole rolled version as `version_bits` rather than only the
/// bits under the mask. When every bit outside the mask equals the job's, it is the
/// same share: keep the masked bits. Anything else is left for the BIP 310 check.
pub(crate) fn normalize_version_bits(
    mut params: SubmitParams,
    job_version: u32,
    mask: Option<u32>,
) -> SubmitParams {
    let (Some(bits_hex), Some(mask)) = (params.version_bits.as_deref(), mask) else {
        return params;
    };
    let mut bytes = [0u8; 4];
    if hex::decode_to_slice(bits_hex, &mut bytes).is_err() {
        return params;
    }
    let bits = u32::from_be_bytes(bytes);
    if bits & !mask != 0 && (bits ^ job_version) & !mask == 0 {
        params.version_bits = Some(format!("{:08x}", bits & mask));
    }
    params
}

/// Port work whose blocks go to a Bitcoin-family daemon source (SV1 and SV2 ports in
/// pool and solo mode submit the same way).
pub(crate) trait HasBitcoinSource {
    fn bitcoin_source(&self) -> &Arc<crate::mining::BitcoinSource>;
}

impl HasBitcoinSource for BitcoinWork {
    fn bitcoin_source(&self) -> &Arc<crate::mining::BitcoinSource> {
        &self.source
    }
}

/// Submits a block candidate and records the block once the daemon took it.
pub(crate) async fn submit_block_task<P: HasBitcoinSource>(
    ctx: Arc<PortContext<P>>,
    work: Arc<Work>,
    block: Vec<u8>,
    hash: String,
    identity: MinerIdentity,
    solo: bool,
    network_difficulty: f64,
) {
    let source = ctx.work.bitcoin_source();
    match source.submit_block(&hex::encode(&block)).await {
        Ok(SubmitOutcome::Accepted | SubmitOutcome::Duplicate) => {
            tracing::info!(height = work.height, %hash, miner = %identity.address, "block found and accepted by the daemon");
            ctx.shared.blocks_found.fetch_add(1, Ordering::Relaxed);
            source.wake();
            let coin = &ctx.coin;
            let found = FoundBlock {
                block: NewBlock {
                    coin: coin.spec().symbol.to_string(),
                    height: work.height,
                    hash,
                    reward: work.job.template().coinbase_value,
                    finder: identity.address.clone(),
                    worker: identity.worker.clone(),
                    mode: if solo { "solo" } else { "pool" }.into(),
                    scheme: if solo {
                        "solo".into()
                    } else {
                        coin.effective_scheme().as_str().to_string()
                    },
                    network_difficulty,
                    last_share_id: 0,
                    fee: coin.fee_rate(),
                    pplns_factor: coin.pplns_factor,
                    maturity: coin.maturity(),
                    found_at: now_ms(),
                },
            };
            if let Err(e) = ctx.sink.block_found(found).await {
                tracing::error!(error = %e, "block accepted by the daemon but not recorded");
            }
        }
        Ok(SubmitOutcome::Rejected(reason)) => {
            source.release_height(work.height);
            tracing::warn!(height = work.height, %hash, %reason, "daemon rejected the block");
        }
        Err(e) => {
            source.release_height(work.height);
            if e.is_transient() {
                tracing::error!(height = work.height, %hash, error = %e, "no daemon could be reached to submit the block");
            } else {
                tracing::warn!(height = work.height, %hash, error = %e, "daemon rejected the block");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn submit(bits: Option<&str>) -> SubmitParams {
        SubmitParams {
            worker: "w".into(),
            job_id: "1".into(),
            extranonce2: "00000000".into(),
            ntime: "00000000".into(),
            nonce: "00000000".into(),
            version_bits: bits.map(str::to_string),
        }
    }

    #[test]
    fn a_full_rolled_version_is_read_as_its_masked_bits() {
        let job = 0x2000_0000;
        let mask = Some(POOL_VERSION_MASK);
        let p = normalize_version_bits(submit(Some("20002000")), job, mask);
        assert_eq!(p.version_bits.as_deref(), Some("00002000"));
        // Bits under the mask only: unchanged.
        let p = normalize_version_bits(submit(Some("00002000")), job, mask);
        assert_eq!(p.version_bits.as_deref(), Some("00002000"));
        // A full version whose extra bit (28) is inside the mask: the masked part.
        let p = normalize_version_bits(submit(Some("30002000")), job, mask);
        assert_eq!(p.version_bits.as_deref(), Some("10002000"));
        // A change outside the mask (bit 30) is not normalized away: BIP 310 refuses it.
        let p = normalize_version_bits(submit(Some("60002000")), job, mask);
        assert_eq!(p.version_bits.as_deref(), Some("60002000"));
        // Without negotiation nothing is touched.
        let p = normalize_version_bits(submit(Some("20002000")), job, None);
        assert_eq!(p.version_bits.as_deref(), Some("20002000"));
    }
}
