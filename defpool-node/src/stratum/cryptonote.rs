//! One CryptoNote (xmrig) stratum session: login, jobs, shares, keepalive.
//!
//! The session owns its state (identity, extra nonce, recent jobs, vardiff) and
//! answers every request itself; RandomX runs on the verifier threads, database
//! writes go through the share sink, so nothing here waits on the database.

use std::net::SocketAddr;
use std::sync::Arc;

use defpool_core::job::monero::block_id;
use defpool_core::pow::{check_hash, job_target_hex};
use defpool_core::stratum::cryptonote::{
    job_notification, parse_request, response_error, response_ok, ClientRequest, Job, LoginParams,
    SubmitParams,
};
use defpool_core::stratum::dialect::{detect_dialect, Dialect};
use defpool_core::stratum::identity::{
    parse_identity, sanitize_worker, MinerIdentity, DEFAULT_WORKER,
};
use defpool_core::vardiff::Vardiff;
use defpool_core::{address, Amount};
use serde_json::{json, Value};
use tokio::sync::watch;
use tracing::Instrument;

use super::lines::{LineBuffer, LineError};
use super::session_io::{invalid_share, send_to_miner, BadMessages};
use super::transport::{MinerRead, MinerWrite};
use super::{MoneroWork, PortContext};
use crate::accounting::FoundBlock;
use crate::mining::monero_source::{ALGO, RESERVE_SIZE};
use crate::mining::MoneroJob;
use crate::store::{now_ms, NewBlock, NewShare};

/// Jobs a session remembers: the current one and a few before it (xmrig keeps
/// submitting on the previous job for a moment after a new one arrives).
const KEPT_JOBS: usize = 3;

/// Stratum error replies as reference pools word them (xmrig logs the message).
mod reply {
    pub const UNAUTHENTICATED: &str = "Unauthenticated";
    pub const INVALID_JOB_ID: &str = "Invalid job id";
    pub const DUPLICATE_SHARE: &str = "Duplicate share";
    pub const LOW_DIFFICULTY: &str = "Low difficulty share";
    pub const INVALID_NONCE: &str = "Invalid nonce";
    pub const BLOCK_EXPIRED: &str = "Block expired";
    pub const INVALID_SHARE: &str = "Invalid share";
    /// Starts like xmrig's "your IP is banned" family so it reconnects instead of
    /// submitting into a closed socket.
    pub const BANNED: &str = "Your IP is banned: too many invalid shares";
    pub const UNSUPPORTED_ALGO: &str = "Unsupported algorithm: this port mines rx/0";
    pub const NO_JOB: &str = "No job available yet; try again";
}

/// A job sent to this session.
struct SessionJob {
    id: u32,
    job: Arc<MoneroJob>,
    difficulty: u64,
    /// Nonces already submitted for this job (duplicate detection). A plain vector:
    /// a job sees tens of shares, and an idle session must not pay for a hash table.
    nonces: Vec<u32>,
}

/// The last [`KEPT_JOBS`] jobs sent to a session. A ring inside the session rather
/// than a heap list: an idle session would otherwise keep a four-slot allocation
/// for the one job it mines.
#[derive(Default)]
struct RecentJobs {
    slots: [Option<SessionJob>; KEPT_JOBS],
    /// The slot the next job takes: the oldest job's once all are in use.
    next: usize,
}

impl RecentJobs {
    /// Remembers `job`, forgetting the oldest when all slots are in use.
    fn push(&mut self, job: SessionJob) {
        self.slots[self.next] = Some(job);
        self.next = (self.next + 1) % KEPT_JOBS;
    }

    fn get(&self, id: u32) -> Option<&SessionJob> {
        self.slots.iter().flatten().find(|j| j.id == id)
    }

    fn get_mut(&mut self, id: u32) -> Option<&mut SessionJob> {
        self.slots.iter_mut().flatten().find(|j| j.id == id)
    }
}

/// A session writing to `W`: the write half of a plain TCP or a TLS connection.
struct Session<W> {
    ctx: Arc<PortContext<MoneroWork>>,
    peer: SocketAddr,
    /// Session id sent to the miner as hex in the login result.
    id: u64,
    identity: Option<MinerIdentity>,
    extra_nonce: [u8; RESERVE_SIZE],
    jobs: RecentJobs,
    next_job_id: u32,
    difficulty: f64,
    vardiff: Option<Vardiff>,
    current_height: u64,
    verified_valid: u32,
    invalid_shares: u32,
    bad: BadMessages,
    writer: W,
}

/// Why a session ends, for the log.
enum End {
    Closed,
    Reason(String),
}

/// Serves one miner over `reader` and `writer` (the halves of one connection) until it
/// leaves, misbehaves or the node stops. Returns the writer, for a TLS connection to
/// be closed cleanly.
pub fn run_session<R: MinerRead, W: MinerWrite>(
    mut reader: R,
    writer: W,
    peer: SocketAddr,
    ctx: Arc<PortContext<MoneroWork>>,
    stop: watch::Receiver<bool>,
) -> impl std::future::Future<Output = W> + Send {
    // Built before the future, not in it: an async fn keeps its arguments for its
    // whole life next to the session they were moved into, and every idle session
    // would carry that copy.
    let mut session = Session::new(peer, ctx, writer);
    let mut pending = LineBuffer::new(session.ctx.settings.max_line_bytes);
    let mut stop = stop;
    async move {
        // `run` borrows the buffer and the stop channel: moved in, they would be
        // stored twice in every idle session's task (here and in `run`).
        let end = session.run(&mut reader, &mut stop, &mut pending).await;
        session.finish(end)
    }
}

/// Takes over a connection another session started (a `solo:` miner on a proxy port
/// is mined from the daemon): handles `lines`, the complete lines already read
/// (the login first), then serves the miner as [`run_session`] does.
pub async fn run_handed_over<R: MinerRead, W: MinerWrite>(
    mut reader: R,
    writer: W,
    peer: SocketAddr,
    ctx: Arc<PortContext<MoneroWork>>,
    stop: watch::Receiver<bool>,
    lines: Vec<u8>,
    mut pending: LineBuffer,
) -> W {
    let mut stop = stop;
    let mut session = Session::new(peer, ctx, writer);
    for line in lines.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let span = session.span();
        if let Err(end) = Box::pin(session.handle_line(line).instrument(span)).await {
            return session.finish(end);
        }
    }
    let end = session.run(&mut reader, &mut stop, &mut pending).await;
    session.finish(end)
}

impl<W: MinerWrite> Session<W> {
    fn new(peer: SocketAddr, ctx: Arc<PortContext<MoneroWork>>, writer: W) -> Self {
        let id = ctx.shared.session_id();
        let mut extra_nonce = [0u8; RESERVE_SIZE];
        extra_nonce[..4].copy_from_slice(&ctx.shared.extra_nonce().to_le_bytes());
        Session {
            peer,
            id,
            identity: None,
            extra_nonce,
            jobs: RecentJobs::default(),
            next_job_id: 1,
            difficulty: ctx.port.difficulty,
            vardiff: None,
            current_height: 0,
            verified_valid: 0,
            invalid_shares: 0,
            bad: BadMessages::new(),
            writer,
            ctx,
        }
    }

    /// Logs why the session ended and gives back the writer.
    fn finish(self, end: End) -> W {
        let _span = self.span().entered();
        let reason = match &end {
            End::Closed => "closed by the miner",
            End::Reason(r) => r.as_str(),
        };
        match end {
            End::Closed => tracing::debug!("session closed by the miner"),
            End::Reason(ref r) => tracing::info!(reason = %r, "session closed"),
        }
        if let Some(i) = &self.identity {
            self.ctx.miner_disconnected(&i.address, &i.worker, reason);
        }
        self.writer
    }
}

impl<W: MinerWrite> Session<W> {
    /// `pending` holds only an unfinished line between reads: empty (no heap) while idle.
    async fn run<R: MinerRead>(
        &mut self,
        reader: &mut R,
        stop: &mut watch::Receiver<bool>,
        pending: &mut LineBuffer,
    ) -> End {
        let mut jobs_rx = self.ctx.work.source.subscribe();
        let idle = self.ctx.settings.idle_timeout;
        // One timer for the session's life, pushed back on activity (re-arming a new
        // one per loop turn cost more than the rest of a job push).
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
                            let _ = self.send(&response_error(&Value::Null, -1, &format!("Request line longer than {n} bytes"))).await;
                            return End::Reason(format!("line over {n} bytes"));
                        }
                        Err(e) => return End::Reason(e.to_string()),
                    };
                    idle_timer.as_mut().reset(tokio::time::Instant::now() + idle);
                    for line in lines.split(|b| *b == b'\n') {
                        let line = line.strip_suffix(b"\r").unwrap_or(line);
                        // Boxed: the request path (verification, sink, block submission)
                        // is far larger than an idle session, which must not carry it.
                        let span = self.span();
                        if let Err(end) = Box::pin(self.handle_line(line).instrument(span)).await {
                            return end;
                        }
                    }
                }
                changed = jobs_rx.changed() => {
                    if changed.is_err() {
                        return End::Reason("job source stopped".into());
                    }
                    if self.identity.is_some() {
                        let job = jobs_rx.borrow_and_update().clone();
                        if let Some(job) = job {
                            self.tick_vardiff();
                            if let Err(e) = self.push_job(job).await {
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

    /// The session's log context, built per request rather than held by idle sessions.
    fn span(&self) -> tracing::Span {
        tracing::info_span!("session", id = self.id, peer = %self.peer, port = %self.ctx.port.listen)
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), End> {
        send_to_miner(&mut self.writer, bytes)
            .await
            .map_err(End::Reason)
    }

    /// Counts a malformed request; too many in a minute ends the session.
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
                // A cpuminer pointed at this port: say what the port speaks and close,
                // rather than answering "unknown method" forever.
                if self.identity.is_none()
                    && self.bad.none()
                    && detect_dialect(line) == Some(Dialect::Bitcoin)
                {
                    let message = format!(
                        "This port speaks the CryptoNote (xmrig) dialect for {}; use a Bitcoin-dialect port for Bitcoin-family coins",
                        self.ctx.coin.spec().symbol
                    );
                    let id = e.id().cloned().unwrap_or(Value::Null);
                    let _ = self.send(&response_error(&id, -1, &message)).await;
                    return Err(End::Reason("miner speaks the Bitcoin dialect".into()));
                }
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
                match self.ctx.work.source.current() {
                    Some(job) => {
                        let j = self.new_job(job);
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
            self.send(&response_error(id, -1, reply::UNSUPPORTED_ALGO))
                .await?;
            return Err(End::Reason("miner cannot mine rx/0".into()));
        }
        let identity = match parse_identity(&params.login, &params.pass) {
            // xmrig's --rig-id names the worker when login and password do not.
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
        let spec = self.ctx.coin.spec();
        if let Err(e) = address::validate(spec, self.ctx.coin.network, &identity.address) {
            self.send(&response_error(
                id,
                -1,
                &format!("Invalid payment address: {e}"),
            ))
            .await?;
            return Err(End::Reason(format!("bad address: {e}")));
        }
        let Some(job) = self.ctx.work.source.current() else {
            self.send(&response_error(id, -1, reply::NO_JOB)).await?;
            return Err(End::Reason("no job yet".into()));
        };
        match identity.fixed_difficulty {
            // The miner's own choice, kept inside the port's range.
            Some(d) => {
                self.difficulty = match &self.ctx.vardiff {
                    Some(cfg) => d.clamp(cfg.min, cfg.max),
                    None => d.max(self.ctx.port.difficulty),
                }
            }
            None => {
                if let Some(cfg) = &self.ctx.vardiff {
                    self.difficulty = self.difficulty.clamp(cfg.min, cfg.max);
                    self.vardiff = Some(Vardiff::new(cfg, self.difficulty, now_ms()));
                }
            }
        }
        tracing::info!(
            miner = %identity.address,
            worker = %identity.worker,
            solo = identity.solo || self.ctx.port.solo,
            agent = params.agent.as_deref().unwrap_or(""),
            difficulty = self.difficulty,
            "miner logged in"
        );
        self.ctx
            .miner_connected(&identity.address, &identity.worker, self.peer);
        self.identity = Some(identity);
        let j = self.new_job(job);
        let result = json!({
            "id": format!("{:x}", self.id),
            "job": j,
            "extensions": ["algo", "keepalive"],
            "status": "OK",
        });
        self.send(&response_ok(id, result)).await
    }

    /// Builds the session's job for `job` at the current difficulty and remembers it.
    fn new_job(&mut self, job: Arc<MoneroJob>) -> Job {
        let (id, difficulty) = self.remember_job(&job);
        self.job_message(&job, id, difficulty)
    }

    /// Gives `job` this session's next job id and share difficulty, and remembers it.
    fn remember_job(&mut self, job: &Arc<MoneroJob>) -> (u32, u64) {
        self.current_height = job.height;
        // Never above the network: a share that is a block must be submittable.
        let cap = u64::try_from(job.network_difficulty)
            .unwrap_or(u64::MAX)
            .max(1);
        let difficulty = (self.difficulty.round() as u64).clamp(1, cap);
        let id = self.next_job_id;
        self.next_job_id = self.next_job_id.wrapping_add(1);
        self.jobs.push(SessionJob {
            id,
            job: job.clone(),
            difficulty,
            nonces: Vec::new(),
        });
        (id, difficulty)
    }

    fn job_message(&self, job: &MoneroJob, id: u32, difficulty: u64) -> Job {
        let blob = job
            .template
            .hashing_blob(&self.extra_nonce)
            .map(hex::encode)
            .unwrap_or_default();
        Job {
            blob,
            job_id: id.to_string(),
            target: job_target_hex(difficulty),
            algo: ALGO.to_string(),
            height: job.height,
            seed_hash: job.seed_hash.clone(),
        }
    }

    /// Sends `job` as a `job` notification. Every session gets one per template, so
    /// the line is the template's pre-encoded one with only this session's Merkle
    /// root, job id and target written in.
    async fn push_job(&mut self, job: Arc<MoneroJob>) -> Result<(), End> {
        let (id, difficulty) = self.remember_job(&job);
        let line = match job.template.merkle_root(&self.extra_nonce) {
            Ok(root) => {
                let mut line = Vec::with_capacity(job.line.capacity(root.len()));
                job.line
                    .write(&mut line, &root, id, &job_target_hex(difficulty));
                line
            }
            Err(_) => job_notification(&self.job_message(&job, id, difficulty)),
        };
        self.send(&line).await
    }

    fn tick_vardiff(&mut self) {
        if let (Some(v), Some(cfg)) = (self.vardiff.as_mut(), self.ctx.vardiff.as_ref()) {
            if let Some(d) = v.on_tick(cfg, now_ms()) {
                self.difficulty = d;
            }
        }
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
        let identity = self.identity.as_ref();
        let share = identity.map(|i| NewShare {
            coin: self.ctx.coin.spec().symbol.to_string(),
            miner: i.address.clone(),
            worker: i.worker.clone(),
            difficulty: self.difficulty.max(1.0),
            network_difficulty: 1.0,
            height: self.current_height,
            accepted: false,
            solo: i.solo || self.ctx.port.solo,
            created_at: now_ms(),
        });
        if let Some(share) = share {
            if self.ctx.sink.submit(share).await.is_err() {
                tracing::error!("share sink stopped");
            }
        }
        if counts_as_invalid {
            self.verified_valid = 0;
            if let Some(end) = invalid_share(
                &mut self.invalid_shares,
                &self.ctx.shared,
                &self.ctx.settings,
                self.peer.ip(),
            ) {
                // Answer the share itself with the ban: xmrig ignores messages without
                // a request id, and reconnects (to find itself refused) on this one.
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
            Err(e) => {
                tracing::debug!(error = %e, "malformed share");
                let message = if e.to_string().contains("nonce") {
                    reply::INVALID_NONCE.to_string()
                } else {
                    e.to_string()
                };
                return self.reject(id, &message, true).await;
            }
        };
        let job_id: Option<u32> = params.job_id.parse().ok();
        let Some((job_id, job, difficulty)) = job_id.and_then(|jid| {
            self.jobs
                .get(jid)
                .map(|j| (jid, j.job.clone(), j.difficulty))
        }) else {
            return self.reject(id, reply::INVALID_JOB_ID, false).await;
        };
        let current = self.ctx.work.source.current();
        let is_current_block = current.as_ref().is_some_and(|c| c.height == job.height);
        // The grace window runs from when the node learned of the new block, not from
        // when this session got its job.
        let stale_for = current
            .as_ref()
            .map(|c| c.height_since.elapsed())
            .unwrap_or_default();
        if !is_current_block && stale_for > self.ctx.settings.stale_grace {
            return self.reject(id, reply::BLOCK_EXPIRED, false).await;
        }
        let nonce = u32::from_le_bytes(submit.nonce);
        let Some(sent) = self.jobs.get_mut(job_id) else {
            return self.reject(id, reply::INVALID_JOB_ID, false).await;
        };
        if sent.nonces.contains(&nonce) {
            return self.reject(id, reply::DUPLICATE_SHARE, false).await;
        }
        sent.nonces.push(nonce);

        let Ok(mut blob) = job.template.hashing_blob(&self.extra_nonce) else {
            return self.reject(id, reply::INVALID_JOB_ID, false).await;
        };
        let offset = job.template.nonce_offset();
        blob[offset..offset + 4].copy_from_slice(&submit.nonce);

        let claims_block = check_hash(&submit.result, job.network_difficulty);
        let must_verify = claims_block
            || self.verified_valid < self.ctx.settings.trust_after
            || rand::random::<u32>() % 100 < self.ctx.settings.trust_sample_percent;
        let hash = if must_verify {
            let seed = hex::decode(&job.seed_hash).unwrap_or_default();
            match self.ctx.work.verifier.hash(&seed, blob.clone()).await {
                Ok(h) => {
                    if h != submit.result {
                        tracing::warn!("share hash does not match RandomX");
                        return self.reject(id, reply::INVALID_SHARE, true).await;
                    }
                    self.verified_valid = self.verified_valid.saturating_add(1);
                    h
                }
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
            }
        } else {
            submit.result
        };
        if !check_hash(&hash, u128::from(difficulty)) {
            return self.reject(id, reply::LOW_DIFFICULTY, true).await;
        }

        let Some(identity) = self.identity.clone() else {
            return self
                .send(&response_error(id, -1, reply::UNAUTHENTICATED))
                .await;
        };
        let solo = identity.solo || self.ctx.port.solo;
        let coin = self.ctx.coin.spec().symbol.to_string();
        let share = NewShare {
            coin: coin.clone(),
            miner: identity.address.clone(),
            worker: identity.worker.clone(),
            difficulty: difficulty as f64,
            network_difficulty: job.network_difficulty as f64,
            height: job.height,
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
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Answer the miner before the block round-trip to the daemon.
        self.send(&response_ok(id, json!({"status": "OK"}))).await?;

        if is_current_block
            && check_hash(&hash, job.network_difficulty)
            && self.ctx.work.source.claim_height(job.height)
        {
            self.submit_block(job.clone(), submit.nonce, &blob, identity.clone(), solo);
        }
        if let (Some(v), Some(cfg)) = (self.vardiff.as_mut(), self.ctx.vardiff.as_ref()) {
            if let Some(d) = v.on_share(cfg, now_ms()) {
                tracing::debug!(from = self.difficulty, to = d, "vardiff retarget");
                self.difficulty = d;
                if let Some(current) = current {
                    self.push_job(current).await?;
                }
            }
        }
        Ok(())
    }

    /// Submits a block candidate in its own task so the session keeps answering its
    /// miner while the daemon checks the block.
    fn submit_block(
        &self,
        job: Arc<MoneroJob>,
        nonce: [u8; 4],
        hashing_blob: &[u8],
        identity: MinerIdentity,
        solo: bool,
    ) {
        let block = match job.template.block_blob(&self.extra_nonce, nonce) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "cannot assemble the block");
                self.ctx.work.source.release_height(job.height);
                return;
            }
        };
        let hash = hex::encode(block_id(hashing_blob));
        let ctx = self.ctx.clone();
        let span = tracing::Span::current();
        tokio::spawn(
            async move { submit_block_task(ctx, job, block, hash, identity, solo).await }
                .instrument(span),
        );
    }
}

async fn submit_block_task(
    ctx: Arc<PortContext<MoneroWork>>,
    job: Arc<MoneroJob>,
    block: Vec<u8>,
    hash: String,
    identity: MinerIdentity,
    solo: bool,
) {
    {
        let job = &*job;
        match ctx.work.source.submit_block(&hex::encode(&block)).await {
            Ok(()) => {
                tracing::info!(height = job.height, %hash, miner = %identity.address, "block found and accepted by the daemon");
                ctx.shared
                    .blocks_found
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                // Fetch the next template now instead of at the next poll tick.
                ctx.work.source.wake();
                let coin = &ctx.coin;
                let found = FoundBlock {
                    block: NewBlock {
                        coin: coin.spec().symbol.to_string(),
                        height: job.height,
                        hash,
                        reward: Amount::from_atomic(job.expected_reward),
                        finder: identity.address.clone(),
                        worker: identity.worker.clone(),
                        mode: if solo { "solo" } else { "pool" }.into(),
                        scheme: if solo {
                            "solo".into()
                        } else {
                            coin.effective_scheme().as_str().to_string()
                        },
                        network_difficulty: job.network_difficulty as f64,
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
            Err(e) => {
                ctx.work.source.release_height(job.height);
                if e.is_transient() {
                    tracing::error!(height = job.height, %hash, error = %e, "no daemon could be reached to submit the block");
                } else {
                    tracing::warn!(height = job.height, %hash, error = %e, "daemon rejected the block");
                }
            }
        }
    }
}
