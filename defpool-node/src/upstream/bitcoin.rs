//! A Bitcoin-dialect client to upstream pools: `mining.configure` (version rolling,
//! when miners need it), `mining.subscribe`, `mining.extranonce.subscribe`,
//! `mining.authorize`, then `mining.notify` / `mining.set_difficulty` /
//! `mining.set_extranonce` notifications and `mining.submit`, over one connection at
//! a time with ordered failover across the configured upstreams.
//!
//! Same supervision as the CryptoNote client ([`super::cryptonote`]): a closed,
//! refusing, silent or rejecting upstream sends the task to the next one at once, and
//! it backs off only after every upstream failed in a row. The dialect has no
//! keepalive message; the job timeout of the health check stands in for it (a pool
//! sends a job at least every block, and usually every 30-60 s).
//!
//! What the upstream sends is published as jobs that carry everything a share on
//! them needs: the work, the difficulty in force when the job came
//! (`mining.set_difficulty` applies to the jobs after it), the connection's nonce
//! space (`mining.set_extranonce` likewise) and the version mask the upstream granted.
//! Miners see the job under a proxy job id unique over every connection of this
//! client, so a share for a job of a closed connection is known as such.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use defpool_core::job::bitcoin::StratumWork;
use defpool_core::stratum::bitcoin::{notify, Notify, POOL_VERSION_MASK};
use defpool_core::stratum::extranonce_split::{Layout, MinerSplit, NonceSpace};
use serde_json::{json, Value};
use tokio::sync::{oneshot, watch};

use super::health::UpstreamVitals;
use super::link::{CallError, Incoming, Link};
use super::rotation::Rotation;
use super::{Endpoint, UpstreamSettings, UpstreamStats};
use crate::mining::HealthBoard;

/// Longest extranonce1 accepted from an upstream (pools use 4 to 8 bytes).
const MAX_UPSTREAM_EXTRANONCE1: usize = 32;
/// Longest extranonce2 accepted from an upstream.
const MAX_UPSTREAM_EXTRANONCE2: usize = 32;
/// What the proxy answers to an upstream's `client.get_version`.
const CLIENT_VERSION: &str = concat!("defpool/", env!("CARGO_PKG_VERSION"));

/// The longest `client.reconnect` wait honoured.
const MAX_RECONNECT_WAIT: Duration = Duration::from_secs(60);

/// A job as the upstream sent it, with what a share on it needs.
#[derive(Debug)]
pub struct BtcUpstreamJob {
    /// Which connection the job came on: a share for an older connection's job
    /// cannot be submitted on a newer one.
    pub generation: u64,
    /// Index of the upstream (in configured order) that sent the job.
    pub upstream: usize,
    /// The id miners see (hex); unique over every connection of this client.
    pub proxy_job_id: String,
    /// The upstream's job id, sent back with each share.
    pub job_id: String,
    /// The work as the upstream sent it (its coinbase around the upstream's
    /// extranonce1 and extranonce2).
    pub work: StratumWork,
    pub clean_jobs: bool,
    /// The block height BIP34 put in the coinbase; 0 when it cannot be read.
    pub height: u64,
    /// The upstream's share difficulty for this job.
    pub difficulty: f64,
    /// The nonce space shares on this job are rolled in.
    pub space: Arc<NonceSpace>,
    /// Version-rolling mask the upstream granted; `None` without version rolling.
    pub version_mask: Option<u32>,
    pub received: Instant,
    /// The miner-facing `mining.notify` line for miners whose split has no padding
    /// (every miner but those kept across a failover to a longer extranonce2): the
    /// same bytes for all of them, built once.
    shared_line: OnceLock<Vec<u8>>,
}

impl BtcUpstreamJob {
    /// The `mining.notify` line for a miner with `split` (its extranonce1 is the
    /// prefix, so the line is the same for every miner of the connection).
    pub fn miner_notify_line(&self, split: &MinerSplit) -> Cow<'_, [u8]> {
        if split.pad_len() == 0 && split.upstream_extranonce1() == self.space.extranonce1 {
            Cow::Borrowed(self.shared_line.get_or_init(|| self.build_line(split)))
        } else {
            Cow::Owned(self.build_line(split))
        }
    }

    fn build_line(&self, split: &MinerSplit) -> Vec<u8> {
        notify(
            &split
                .miner_work(&self.work)
                .notify(&self.proxy_job_id, self.clean_jobs),
        )
    }
}

/// Reads `mining.notify` params. Lenient about extra trailing params (some pools
/// append fields), strict about the nine that matter.
fn parse_notify(params: &Value) -> Result<(Notify, StratumWork), String> {
    let list = params
        .as_array()
        .ok_or("mining.notify params are not a list")?;
    if list.len() < 9 {
        return Err(format!(
            "mining.notify has {} params, 9 expected",
            list.len()
        ));
    }
    let notify: Notify = serde_json::from_value(Value::Array(list[..9].to_vec()))
        .map_err(|e| format!("mining.notify: {e}"))?;
    if notify.job_id.is_empty() || notify.job_id.len() > 128 {
        return Err("mining.notify job_id empty or over 128 characters".into());
    }
    let work = StratumWork::from_notify(&notify).map_err(|e| e.to_string())?;
    Ok((notify, work))
}

/// The height BIP34 pushes first in the coinbase scriptSig, read from `coinb1`
/// (non-witness form: version, one input, its null outpoint, the script length).
fn bip34_height(coinb1: &[u8]) -> Option<u64> {
    const PUSH_AT: usize = 4 + 1 + 36 + 1;
    if coinb1.get(4) != Some(&1) {
        return None;
    }
    match *coinb1.get(PUSH_AT)? {
        op @ 0x51..=0x60 => Some(u64::from(op - 0x50)),
        n @ 1..=8 => {
            let bytes = coinb1.get(PUSH_AT + 1..PUSH_AT + 1 + usize::from(n))?;
            let mut le = [0u8; 8];
            le[..bytes.len()].copy_from_slice(bytes);
            Some(u64::from_le_bytes(le))
        }
        _ => None,
    }
}

/// `[extranonce1_hex, extranonce2_size]` (also the tail of the subscribe result).
fn parse_space(en1: Option<&Value>, size: Option<&Value>) -> Result<NonceSpace, String> {
    let en1 = en1
        .and_then(Value::as_str)
        .ok_or("extranonce1 missing or not a string")?;
    let extranonce1 = hex::decode(en1).map_err(|_| format!("extranonce1 {en1:?} is not hex"))?;
    if extranonce1.len() > MAX_UPSTREAM_EXTRANONCE1 {
        return Err(format!("extranonce1 of {} bytes", extranonce1.len()));
    }
    let extranonce2_size = size
        .and_then(Value::as_u64)
        .filter(|n| (1..=MAX_UPSTREAM_EXTRANONCE2 as u64).contains(n))
        .ok_or("extranonce2_size missing or out of 1..=32")? as usize;
    let space = NonceSpace {
        extranonce1,
        extranonce2_size,
    };
    Layout::for_space(&space).map_err(|e| e.to_string())?;
    Ok(space)
}

fn parse_difficulty(params: &Value) -> Option<f64> {
    let d = params.get(0)?;
    let d = d.as_f64().or_else(|| d.as_str()?.parse().ok())?;
    (d.is_finite() && d > 0.0).then_some(d)
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SubmitError {
    /// The job belongs to a connection that is gone (failover or reconnect).
    #[error("job is from a closed upstream connection")]
    Stale,
    #[error(transparent)]
    Call(#[from] CallError),
}

/// What the upstream said about a share.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Accepted,
    Rejected(String),
    /// No answer: the connection dropped or the call timed out.
    Lost,
}

impl Verdict {
    /// For [`BtcUpstream::share_outcome`].
    pub fn accepted(&self) -> Option<bool> {
        match self {
            Verdict::Accepted => Some(true),
            Verdict::Rejected(_) => Some(false),
            Verdict::Lost => None,
        }
    }
}

/// Waits for the answer to a submit (at most `timeout`).
pub async fn verdict(
    reply: oneshot::Receiver<Result<Value, CallError>>,
    timeout: Duration,
) -> Verdict {
    match tokio::time::timeout(timeout, reply).await {
        Ok(Ok(Ok(Value::Bool(true)))) => Verdict::Accepted,
        Ok(Ok(Ok(other))) => Verdict::Rejected(format!("upstream answered {other}")),
        Ok(Ok(Err(CallError::Refused { code, message }))) => {
            Verdict::Rejected(format!("{message} ({code})"))
        }
        Ok(Ok(Err(_))) | Ok(Err(_)) | Err(_) => Verdict::Lost,
    }
}

/// The connection in use.
struct Live {
    generation: u64,
    upstream: usize,
    link: Link,
    /// The worker name shares are submitted under.
    login: String,
    space: Arc<NonceSpace>,
    /// Difficulty for the next jobs.
    difficulty: f64,
    version_mask: Option<u32>,
}

/// How a connection ended.
enum Ended {
    /// The node stops.
    Stopped,
    Failed(String),
    /// The upstream asked for a reconnect (`client.reconnect`).
    Reconnect(Duration),
}

/// One upstream connection (with failover) and the jobs it receives.
pub struct BtcUpstream {
    endpoints: Vec<Endpoint>,
    settings: UpstreamSettings,
    /// Ask upstreams for version rolling (BIP 310) for the miners behind the proxy.
    version_rolling: bool,
    jobs: watch::Sender<Option<Arc<BtcUpstreamJob>>>,
    live: Mutex<Option<Live>>,
    vitals: Mutex<UpstreamVitals>,
    health: HealthBoard,
    generation: AtomicU64,
    next_job: AtomicU64,
    pub stats: UpstreamStats,
}

impl BtcUpstream {
    /// Starts the connection task; it runs until `stop` flips. With
    /// `version_rolling` each upstream is asked for BIP 310's usual mask, and jobs
    /// carry what it granted.
    pub fn spawn(
        endpoints: Vec<Endpoint>,
        settings: UpstreamSettings,
        version_rolling: bool,
        stop: watch::Receiver<bool>,
    ) -> Arc<BtcUpstream> {
        assert!(!endpoints.is_empty(), "proxy mode needs an upstream");
        let health = HealthBoard::named("upstream", endpoints.iter().map(|e| e.raw_url.as_str()));
        let upstream = Arc::new(BtcUpstream {
            endpoints,
            settings,
            version_rolling,
            jobs: watch::channel(None).0,
            live: Mutex::new(None),
            vitals: Mutex::new(UpstreamVitals::new(Instant::now())),
            health,
            generation: AtomicU64::new(0),
            // Random start: the job ids of two upstreams (two coins behind one
            // profit-switching port) must not meet in one miner's recent jobs.
            next_job: AtomicU64::new(u64::from(rand::random::<u32>())),
            stats: UpstreamStats::default(),
        });
        tokio::spawn(upstream.clone().supervise(stop));
        upstream
    }

    pub fn jobs(&self) -> watch::Receiver<Option<Arc<BtcUpstreamJob>>> {
        self.jobs.subscribe()
    }

    pub fn current(&self) -> Option<Arc<BtcUpstreamJob>> {
        self.jobs.borrow().clone()
    }

    pub fn health(&self) -> Vec<crate::daemon::DaemonHealth> {
        self.health.snapshot()
    }

    /// The configured URL of upstream `index`.
    pub fn endpoint_url(&self, index: usize) -> String {
        self.endpoints
            .get(index)
            .map(|e| e.raw_url.clone())
            .unwrap_or_default()
    }

    /// Index of the upstream in use, if connected.
    pub fn active(&self) -> Option<usize> {
        self.live.lock().ok()?.as_ref().map(|l| l.upstream)
    }

    /// The connection in use, if connected: a job of another generation cannot be
    /// submitted.
    pub fn generation(&self) -> Option<u64> {
        self.live.lock().ok()?.as_ref().map(|l| l.generation)
    }

    /// The current connection's nonce space, if connected.
    pub fn space(&self) -> Option<Arc<NonceSpace>> {
        self.live.lock().ok()?.as_ref().map(|l| l.space.clone())
    }

    /// Sends a share for `job` (`extranonce2` is the upstream's, see
    /// [`MinerSplit::upstream_extranonce2`]) and returns the wait for the verdict
    /// ([`verdict`]). `version_bits` only when the miner rolled the version.
    pub async fn submit(
        &self,
        job: &BtcUpstreamJob,
        extranonce2: &[u8],
        ntime: u32,
        nonce: u32,
        version_bits: Option<u32>,
    ) -> Result<oneshot::Receiver<Result<Value, CallError>>, SubmitError> {
        let (link, login) = {
            let live = self.live.lock().map_err(|_| SubmitError::Stale)?;
            match live.as_ref() {
                Some(l) if l.generation == job.generation => (l.link.clone(), l.login.clone()),
                _ => return Err(SubmitError::Stale),
            }
        };
        self.stats.submitted.fetch_add(1, Ordering::Relaxed);
        let mut params = vec![
            Value::String(login),
            Value::String(job.job_id.clone()),
            Value::String(hex::encode(extranonce2)),
            Value::String(format!("{ntime:08x}")),
            Value::String(format!("{nonce:08x}")),
        ];
        if let Some(bits) = version_bits {
            params.push(Value::String(format!("{bits:08x}")));
        }
        Ok(link
            .start_call("mining.submit", Value::Array(params))
            .await?)
    }

    /// Records the upstream's verdict on a share (for the reject-rate health check).
    pub fn share_outcome(&self, job: &BtcUpstreamJob, accepted: Option<bool>) {
        super::record_outcome(
            &self.stats,
            &self.vitals,
            &self.settings.limits,
            self.generation(),
            job.generation,
            accepted,
        );
    }

    async fn supervise(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut rotation = Rotation::new(
            self.endpoints.len(),
            self.settings.backoff_min,
            self.settings.backoff_max,
        );
        loop {
            if *stop.borrow() {
                return;
            }
            let index = rotation.current();
            let jobs_before = self.stats.jobs.load(Ordering::Acquire);
            let ended = self.connection(index, &mut stop).await;
            if let Ok(mut live) = self.live.lock() {
                *live = None;
            }
            let endpoint = &self.endpoints[index];
            let reason = match ended {
                Ended::Stopped => return,
                Ended::Reconnect(wait) => {
                    tracing::info!(upstream = %endpoint.raw_url, wait = ?wait, "upstream asked for a reconnect");
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = stop.changed() => return,
                    }
                    continue;
                }
                Ended::Failed(reason) => reason,
            };
            tracing::warn!(upstream = %endpoint.raw_url, reason = %reason, "upstream connection ended");
            self.health.note(index, Err(reason));
            // A connection that got as far as a job starts a fresh round over the list.
            let worked = self.stats.jobs.load(Ordering::Acquire) != jobs_before;
            let wait = rotation.ended(worked);
            if !wait.is_zero() {
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.changed() => return,
                }
            }
        }
    }

    /// The handshake: configure (optional), subscribe, extranonce.subscribe,
    /// authorize. Returns the link, its notifications, the nonce space and the
    /// granted version mask.
    async fn handshake(
        &self,
        endpoint: &Endpoint,
    ) -> Result<
        (
            Link,
            tokio::sync::mpsc::Receiver<Incoming>,
            NonceSpace,
            Option<u32>,
        ),
        String,
    > {
        let (link, incoming) = Link::connect(
            &endpoint.url,
            self.settings.connect_timeout,
            self.settings.call_timeout,
        )
        .await?;
        let mut version_mask = None;
        if self.version_rolling {
            let asked = json!([["version-rolling"], {
                "version-rolling.mask": format!("{POOL_VERSION_MASK:08x}"),
                "version-rolling.min-bit-count": 2,
            }]);
            // A pool without BIP 310 answers an error: mine without version rolling.
            match link.call("mining.configure", asked).await {
                Ok(r) if r.get("version-rolling") == Some(&Value::Bool(true)) => {
                    version_mask = r
                        .get("version-rolling.mask")
                        .and_then(Value::as_str)
                        .and_then(|m| u32::from_str_radix(m, 16).ok())
                        .map(|m| m & POOL_VERSION_MASK);
                }
                Ok(_) => {}
                Err(CallError::ConnectionLost) => return Err("closed at mining.configure".into()),
                Err(e) => {
                    tracing::info!(upstream = %endpoint.raw_url, error = %e, "upstream has no version rolling")
                }
            }
        }
        let subscribed = link
            .call("mining.subscribe", json!([self.settings.agent]))
            .await
            .map_err(|e| format!("mining.subscribe: {e}"))?;
        let space = parse_space(subscribed.get(1), subscribed.get(2))
            .map_err(|e| format!("mining.subscribe result: {e}"))?;
        // Not awaited: many pools never answer it, or answer with an error.
        let _ = link
            .start_call("mining.extranonce.subscribe", json!([]))
            .await;
        let authorized = link
            .call(
                "mining.authorize",
                json!([endpoint.login, endpoint.password]),
            )
            .await
            .map_err(|e| format!("mining.authorize: {e}"))?;
        if authorized != Value::Bool(true) {
            return Err(format!("mining.authorize refused ({authorized})"));
        }
        Ok((link, incoming, space, version_mask))
    }

    /// Runs one connection to upstream `index`.
    async fn connection(&self, index: usize, stop: &mut watch::Receiver<bool>) -> Ended {
        let endpoint = &self.endpoints[index];
        let (link, mut incoming, space, version_mask) = tokio::select! {
            r = self.handshake(endpoint) => match r {
                Ok(v) => v,
                Err(e) => return Ended::Failed(e),
            },
            _ = stop.changed() => return Ended::Stopped,
        };
        let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        tracing::info!(
            upstream = %endpoint.raw_url,
            extranonce1 = %hex::encode(&space.extranonce1),
            extranonce2_size = space.extranonce2_size,
            version_mask = ?version_mask.map(|m| format!("{m:08x}")),
            "upstream subscribed and authorized"
        );
        if let Ok(mut live) = self.live.lock() {
            *live = Some(Live {
                generation,
                upstream: index,
                link: link.clone(),
                login: endpoint.login.clone(),
                space: Arc::new(space),
                // Stratum's difficulty until the pool says otherwise.
                difficulty: 1.0,
                version_mask,
            });
        }
        if let Ok(mut v) = self.vitals.lock() {
            *v = UpstreamVitals::new(Instant::now());
        }
        self.health.note(index, Ok(()));

        let mut check = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                message = incoming.recv() => match message {
                    Some(Incoming::Notification { method, params, id }) => {
                        // The one request pools send that wants an answer: which
                        // software this is.
                        if let (Some(id), "client.get_version") = (id, method.as_str()) {
                            link.answer(id, json!(CLIENT_VERSION)).await;
                            continue;
                        }
                        if let Some(ended) = self.notification(index, generation, &method, &params) {
                            return ended;
                        }
                    }
                    Some(Incoming::Closed(reason)) => return Ended::Failed(reason),
                    None => return Ended::Failed("connection task ended".into()),
                },
                _ = check.tick() => {
                    let verdict = self
                        .vitals
                        .lock()
                        .ok()
                        .and_then(|v| v.verdict(&self.settings.limits, Instant::now()));
                    if let Some(reason) = verdict {
                        return Ended::Failed(format!("unhealthy: {reason}"));
                    }
                }
                r = stop.changed() => if r.is_err() || *stop.borrow() { return Ended::Stopped },
            }
        }
    }

    /// Handles one message the pool sent on its own; `Some` ends the connection.
    fn notification(
        &self,
        index: usize,
        generation: u64,
        method: &str,
        params: &Value,
    ) -> Option<Ended> {
        let url = &self.endpoints[index].raw_url;
        match method {
            "mining.notify" => match parse_notify(params) {
                Ok((notify, work)) => self.publish(generation, index, notify, work),
                Err(e) => {
                    tracing::warn!(upstream = %url, error = %e, "upstream sent a bad job; keeping the current one")
                }
            },
            "mining.set_difficulty" => match parse_difficulty(params) {
                Some(d) => self.with_live(generation, |l| l.difficulty = d),
                None => {
                    tracing::warn!(upstream = %url, %params, "upstream sent a bad difficulty; ignored")
                }
            },
            "mining.set_extranonce" => match parse_space(params.get(0), params.get(1)) {
                Ok(space) => {
                    tracing::info!(upstream = %url, extranonce1 = %hex::encode(&space.extranonce1), extranonce2_size = space.extranonce2_size, "upstream changed the extranonce");
                    self.with_live(generation, |l| l.space = Arc::new(space));
                }
                Err(e) => {
                    tracing::warn!(upstream = %url, error = %e, "upstream sent a bad extranonce; ignored")
                }
            },
            "mining.set_version_mask" => {
                let mask = params
                    .get(0)
                    .and_then(Value::as_str)
                    .and_then(|m| u32::from_str_radix(m, 16).ok());
                if let Some(mask) = mask {
                    self.with_live(generation, |l| {
                        if l.version_mask.is_some() {
                            l.version_mask = Some(mask & POOL_VERSION_MASK);
                        }
                    });
                }
            }
            "client.reconnect" => {
                // Only to the configured upstream: a pool cannot send the proxy (and
                // its miners' hashrate) elsewhere.
                let wait = params
                    .get(2)
                    .and_then(|w| w.as_u64().or_else(|| w.as_str()?.parse().ok()))
                    .map(Duration::from_secs)
                    .unwrap_or(Duration::ZERO)
                    .min(MAX_RECONNECT_WAIT);
                return Some(Ended::Reconnect(wait));
            }
            "client.show_message" => {
                let text = params.get(0).and_then(Value::as_str).unwrap_or_default();
                tracing::info!(upstream = %url, message = %text.chars().take(500).collect::<String>(), "message from the upstream");
            }
            other => {
                tracing::debug!(upstream = %url, method = other, "ignored upstream notification")
            }
        }
        None
    }

    fn with_live(&self, generation: u64, f: impl FnOnce(&mut Live)) {
        if let Ok(mut live) = self.live.lock() {
            if let Some(l) = live.as_mut().filter(|l| l.generation == generation) {
                f(l);
            }
        }
    }

    fn publish(&self, generation: u64, index: usize, notify: Notify, work: StratumWork) {
        let (difficulty, space, version_mask) = {
            let Ok(live) = self.live.lock() else { return };
            match live.as_ref().filter(|l| l.generation == generation) {
                Some(l) => (l.difficulty, l.space.clone(), l.version_mask),
                None => return,
            }
        };
        let proxy_job_id = format!("{:x}", self.next_job.fetch_add(1, Ordering::Relaxed));
        let height = bip34_height(&work.coinbase.coinb1).unwrap_or(0);
        let job = BtcUpstreamJob {
            generation,
            upstream: index,
            proxy_job_id,
            job_id: notify.job_id,
            work,
            clean_jobs: notify.clean_jobs,
            height,
            difficulty,
            space,
            version_mask,
            received: Instant::now(),
            shared_line: OnceLock::new(),
        };
        if let Ok(mut v) = self.vitals.lock() {
            v.job_received(Instant::now());
        }
        self.stats.jobs.fetch_add(1, Ordering::Release);
        self.jobs.send_replace(Some(Arc::new(job)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::link::UpstreamUrl;
    use crate::upstream::HealthLimits;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
    use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
    use tokio::net::TcpListener;

    const PREV: &str = "00000000111111112222222233333333444444445555555566666666777777770";

    fn notify_params(job_id: &str, clean: bool) -> Value {
        json!([
            job_id,
            &PREV[..64],
            "01000000010000",
            "ffffffff0100f2052a01000000",
            ["aa".repeat(32)],
            "20000000",
            "207fffff",
            "5f5e1000",
            clean
        ])
    }

    fn settings() -> UpstreamSettings {
        UpstreamSettings {
            connect_timeout: Duration::from_secs(2),
            call_timeout: Duration::from_secs(2),
            keepalive: Duration::from_secs(60),
            backoff_min: Duration::from_millis(50),
            backoff_max: Duration::from_millis(200),
            limits: HealthLimits::default(),
            agent: "defpool-test".into(),
        }
    }

    fn endpoint(port: u16, login: &str) -> Endpoint {
        Endpoint {
            url: UpstreamUrl {
                host: "127.0.0.1".into(),
                port,
            },
            raw_url: format!("stratum+tcp://127.0.0.1:{port}"),
            login: login.into(),
            password: "x".into(),
        }
    }

    /// One accepted connection of the scripted pool.
    struct PoolConn {
        lines: Lines<BufReader<OwnedReadHalf>>,
        write: OwnedWriteHalf,
    }

    impl PoolConn {
        async fn accept(listener: &TcpListener) -> PoolConn {
            let (s, _) = listener.accept().await.unwrap();
            let (r, w) = s.into_split();
            PoolConn {
                lines: BufReader::new(r).lines(),
                write: w,
            }
        }

        async fn request(&mut self) -> Value {
            let line = tokio::time::timeout(Duration::from_secs(5), self.lines.next_line())
                .await
                .expect("no request from the proxy")
                .unwrap()
                .expect("proxy closed the connection");
            serde_json::from_str(&line).unwrap()
        }

        async fn send(&mut self, v: Value) {
            self.write
                .write_all(format!("{v}\n").as_bytes())
                .await
                .unwrap();
        }

        async fn raw(&mut self, s: &str) {
            self.write.write_all(s.as_bytes()).await.unwrap();
        }

        async fn notify(&mut self, method: &str, params: Value) {
            self.send(json!({"id": null, "method": method, "params": params}))
                .await;
        }

        /// Answers requests until `mining.authorize` is answered; returns what was
        /// asked, by method.
        async fn handshake(&mut self, en1: &str, size: u64, authorize: bool) -> Vec<Value> {
            let mut seen = Vec::new();
            loop {
                let r = self.request().await;
                let id = r["id"].clone();
                let method = r["method"].as_str().unwrap().to_string();
                seen.push(r.clone());
                match method.as_str() {
                    "mining.subscribe" => {
                        self.send(json!({"id": id, "error": null, "result": [[["mining.notify", "1"]], en1, size]}))
                            .await
                    }
                    "mining.configure" => {
                        self.send(json!({"id": id, "error": null, "result": {"version-rolling": true, "version-rolling.mask": "00ffe000"}}))
                            .await
                    }
                    "mining.extranonce.subscribe" => {
                        self.send(json!({"id": id, "result": null, "error": [20, "Not supported", null]}))
                            .await
                    }
                    "mining.authorize" => {
                        self.send(json!({"id": id, "error": null, "result": authorize}))
                            .await;
                        return seen;
                    }
                    other => panic!("unexpected {other}"),
                }
            }
        }
    }

    async fn next_job(
        jobs: &mut watch::Receiver<Option<Arc<BtcUpstreamJob>>>,
    ) -> Arc<BtcUpstreamJob> {
        tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                jobs.changed().await.unwrap();
                if let Some(j) = jobs.borrow_and_update().clone() {
                    return j;
                }
            }
        })
        .await
        .expect("no job published")
    }

    async fn listener() -> (TcpListener, u16) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        (l, port)
    }

    #[test]
    fn reads_the_bip34_height_from_coinb1() {
        let prefix = format!("01000000{}{}{}", "01", "00".repeat(32), "ffffffff");
        let coinb1 = |script: &str| hex::decode(format!("{prefix}{script}")).unwrap();
        assert_eq!(bip34_height(&coinb1("2003b40100")), Some(436));
        assert_eq!(bip34_height(&coinb1("2055")), Some(5));
        assert_eq!(bip34_height(&coinb1("2003b401")), None, "cut short");
        assert_eq!(bip34_height(&hex::decode("01000000010000").unwrap()), None);
    }

    #[tokio::test]
    async fn handshake_notify_and_difficulty_for_following_jobs() {
        let (l, port) = listener().await;
        let (_stop_tx, stop) = watch::channel(false);
        let up = BtcUpstream::spawn(
            vec![endpoint(port, "rltc1qproxy.p")],
            settings(),
            true,
            stop,
        );
        let mut jobs = up.jobs();
        let mut pool = PoolConn::accept(&l).await;
        let asked = pool.handshake("f000000f", 4, true).await;
        let methods: Vec<_> = asked
            .iter()
            .map(|r| r["method"].as_str().unwrap())
            .collect();
        assert_eq!(
            methods,
            [
                "mining.configure",
                "mining.subscribe",
                "mining.extranonce.subscribe",
                "mining.authorize"
            ]
        );
        assert_eq!(asked[0]["params"][1]["version-rolling.mask"], "1fffe000");
        assert_eq!(asked[1]["params"], json!(["defpool-test"]));
        assert_eq!(asked[3]["params"], json!(["rltc1qproxy.p", "x"]));

        pool.notify("mining.notify", notify_params("a1", true))
            .await;
        let first = next_job(&mut jobs).await;
        assert_eq!(first.job_id, "a1");
        assert_eq!(
            first.difficulty, 1.0,
            "stratum's default before set_difficulty"
        );
        assert!(first.clean_jobs);
        assert_eq!(first.space.extranonce1, [0xf0, 0, 0, 0x0f]);
        assert_eq!(first.space.extranonce2_size, 4);
        assert_eq!(first.version_mask, Some(0x00ff_e000), "the granted mask");
        assert_eq!(first.work.version, 0x2000_0000);
        assert_eq!(first.work.ntime, 0x5f5e_1000);

        // A retarget applies to the jobs after it, not to the one already out.
        pool.notify("mining.set_difficulty", json!([0.25])).await;
        pool.notify("mining.notify", notify_params("a2", false))
            .await;
        let second = next_job(&mut jobs).await;
        assert_eq!((second.job_id.as_str(), second.difficulty), ("a2", 0.25));
        assert_eq!(first.difficulty, 1.0);
        assert_ne!(first.proxy_job_id, second.proxy_job_id);
        assert!(!second.clean_jobs);
        // A bad difficulty keeps the last good one.
        pool.notify("mining.set_difficulty", json!([-3])).await;
        pool.notify("mining.notify", notify_params("a3", false))
            .await;
        assert_eq!(next_job(&mut jobs).await.difficulty, 0.25);

        // The miner-facing line: the upstream extranonce1 folded into coinb1, the
        // proxy's job id, the same line for every miner of the connection.
        let layout = Layout::for_space(&second.space).unwrap();
        let a = MinerSplit::new(&second.space, layout, 1).unwrap();
        let b = MinerSplit::new(&second.space, layout, 2).unwrap();
        let line = second.miner_notify_line(&a);
        assert!(matches!(line, Cow::Borrowed(_)));
        assert_eq!(line, second.miner_notify_line(&b));
        let sent: Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(sent["params"][0], second.proxy_job_id.as_str());
        assert_eq!(sent["params"][2], "01000000010000f000000f");
        assert_eq!(up.active(), Some(0));
        assert_eq!(up.stats.jobs.load(Ordering::Relaxed), 3);
    }

    #[tokio::test]
    async fn set_extranonce_applies_to_the_next_jobs_and_garbage_is_survived() {
        let (l, port) = listener().await;
        let (_stop_tx, stop) = watch::channel(false);
        let up = BtcUpstream::spawn(vec![endpoint(port, "w")], settings(), false, stop);
        let mut jobs = up.jobs();
        let mut pool = PoolConn::accept(&l).await;
        let asked = pool.handshake("0102", 4, true).await;
        assert_eq!(
            asked[0]["method"], "mining.subscribe",
            "no configure without version rolling"
        );
        pool.notify("mining.notify", notify_params("1", true)).await;
        let first = next_job(&mut jobs).await;
        assert_eq!(first.version_mask, None);

        pool.raw("this is not json\n[1,2,3]\n{\"method\":\"mining.notify\",\"params\":[\"x\"]}\n")
            .await;
        pool.notify(
            "mining.notify",
            json!([
                "2",
                "zz",
                "",
                "",
                [],
                "20000000",
                "207fffff",
                "5f5e1000",
                true
            ]),
        )
        .await;
        pool.notify("mining.set_extranonce", json!(["nothex", 4]))
            .await;
        pool.notify("mining.set_extranonce", json!(["abcdef01", 0]))
            .await;
        pool.notify("client.show_message", json!(["maintenance at noon"]))
            .await;
        // A request among the notifications gets its answer, the connection stays.
        pool.send(json!({"id": 77, "method": "client.get_version", "params": []}))
            .await;
        let answer = pool.request().await;
        assert_eq!(
            answer,
            json!({"id": 77, "result": CLIENT_VERSION, "error": null})
        );
        pool.notify("mining.set_extranonce", json!(["abcdef01", 6]))
            .await;
        pool.notify("mining.notify", notify_params("3", false))
            .await;
        let next = next_job(&mut jobs).await;
        assert_eq!(
            next.job_id, "3",
            "bad jobs were skipped, the connection kept"
        );
        assert_eq!(next.generation, first.generation);
        assert_eq!(next.space.extranonce1, [0xab, 0xcd, 0xef, 0x01]);
        assert_eq!(next.space.extranonce2_size, 6);
        assert_eq!(
            first.space.extranonce1,
            [1, 2],
            "earlier jobs keep their space"
        );
        // A miner split for the new space sees the new extranonce1 in coinb1, and a
        // miner cut for the old 4-byte extranonce2 keeps its layout, padded.
        let old = Layout::for_space(&first.space).unwrap();
        let kept = MinerSplit::new(&next.space, old, 7).unwrap();
        assert_eq!(kept.pad_len(), 2);
        assert!(matches!(next.miner_notify_line(&kept), Cow::Owned(_)));
        assert_eq!(up.space().unwrap().extranonce2_size, 6);
    }

    #[tokio::test]
    async fn submits_verdicts_lost_shares_and_stale_jobs() {
        let (l, port) = listener().await;
        let (_stop_tx, stop) = watch::channel(false);
        let up = BtcUpstream::spawn(vec![endpoint(port, "proxy.login")], settings(), true, stop);
        let mut jobs = up.jobs();
        let mut pool = PoolConn::accept(&l).await;
        pool.handshake("f000000f", 4, true).await;
        pool.notify("mining.notify", notify_params("j1", true))
            .await;
        let job = next_job(&mut jobs).await;

        let wait = up
            .submit(&job, &[0, 1, 2, 3], 0x5f5e_1001, 0xdead_beef, Some(0x2000))
            .await
            .unwrap();
        let r = pool.request().await;
        assert_eq!(r["method"], "mining.submit");
        assert_eq!(
            r["params"],
            json!([
                "proxy.login",
                "j1",
                "00010203",
                "5f5e1001",
                "deadbeef",
                "00002000"
            ])
        );
        pool.send(json!({"id": r["id"], "result": true, "error": null}))
            .await;
        let v = verdict(wait, Duration::from_secs(2)).await;
        assert_eq!(v, Verdict::Accepted);
        up.share_outcome(&job, v.accepted());

        let wait = up.submit(&job, &[0, 1, 2, 4], 1, 2, None).await.unwrap();
        let r = pool.request().await;
        assert_eq!(
            r["params"].as_array().unwrap().len(),
            5,
            "no version bits when not rolled"
        );
        pool.send(
            json!({"id": r["id"], "result": null, "error": [23, "Low difficulty share", null]}),
        )
        .await;
        let v = verdict(wait, Duration::from_secs(2)).await;
        assert_eq!(v, Verdict::Rejected("Low difficulty share (23)".into()));
        up.share_outcome(&job, v.accepted());

        // The connection drops with a share in flight: the share is known lost.
        let wait = up.submit(&job, &[0, 1, 2, 5], 1, 3, None).await.unwrap();
        pool.request().await;
        drop(pool);
        let v = verdict(wait, Duration::from_secs(2)).await;
        assert_eq!(v, Verdict::Lost);
        up.share_outcome(&job, v.accepted());
        let s = &up.stats;
        assert_eq!(
            [&s.submitted, &s.accepted, &s.rejected, &s.lost].map(|c| c.load(Ordering::Relaxed)),
            [3, 1, 1, 1]
        );

        // The proxy reconnects; the old connection's job cannot be submitted on it.
        let mut pool = PoolConn::accept(&l).await;
        pool.handshake("f000000e", 4, true).await;
        pool.notify("mining.notify", notify_params("j1", true))
            .await;
        let fresh = next_job(&mut jobs).await;
        assert!(fresh.generation > job.generation);
        assert_ne!(
            fresh.proxy_job_id, job.proxy_job_id,
            "same upstream id, new proxy id"
        );
        assert_eq!(
            up.submit(&job, &[0; 4], 1, 4, None).await.unwrap_err(),
            SubmitError::Stale
        );
    }

    #[tokio::test]
    async fn fails_over_past_a_dead_and_a_refusing_upstream_and_honours_reconnect() {
        let dead = {
            let (l, port) = listener().await;
            drop(l);
            port
        };
        let (refusing, refusing_port) = listener().await;
        let (good, good_port) = listener().await;
        let (_stop_tx, stop) = watch::channel(false);
        let up = BtcUpstream::spawn(
            vec![
                endpoint(dead, "a"),
                endpoint(refusing_port, "b"),
                endpoint(good_port, "c"),
            ],
            settings(),
            false,
            stop,
        );
        let mut jobs = up.jobs();
        let started = Instant::now();
        let mut pool = PoolConn::accept(&refusing).await;
        pool.handshake("01", 4, false).await;
        let mut pool = PoolConn::accept(&good).await;
        let asked = pool.handshake("02", 4, true).await;
        assert_eq!(asked.last().unwrap()["params"][0], "c");
        pool.notify("mining.notify", notify_params("g1", true))
            .await;
        let job = next_job(&mut jobs).await;
        assert_eq!(job.upstream, 2);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "no backoff between upstreams"
        );
        assert_eq!(up.active(), Some(2));
        let health = up.health();
        assert!(!health[0].ok && !health[1].ok && health[2].ok);
        assert!(health[1].detail.as_deref().unwrap().contains("authorize"));

        // client.reconnect: back to the same upstream, not the next one.
        pool.notify("client.reconnect", json!([])).await;
        let mut pool = PoolConn::accept(&good).await;
        pool.handshake("03", 4, true).await;
        pool.notify("mining.notify", notify_params("g2", true))
            .await;
        let job = next_job(&mut jobs).await;
        assert_eq!(
            (job.upstream, job.space.extranonce1.as_slice()),
            (2, &[3u8][..])
        );
    }

    #[tokio::test]
    async fn an_upstream_without_jobs_is_left() {
        let (a, port_a) = listener().await;
        let (b, port_b) = listener().await;
        let (_stop_tx, stop) = watch::channel(false);
        let mut s = settings();
        s.limits.job_timeout = Duration::from_secs(1);
        let up = BtcUpstream::spawn(
            vec![endpoint(port_a, "a"), endpoint(port_b, "b")],
            s,
            false,
            stop,
        );
        let mut jobs = up.jobs();
        let mut silent = PoolConn::accept(&a).await;
        silent.handshake("01", 4, true).await;
        let mut pool = PoolConn::accept(&b).await;
        pool.handshake("02", 4, true).await;
        pool.notify("mining.notify", notify_params("b1", true))
            .await;
        assert_eq!(next_job(&mut jobs).await.upstream, 1);
        assert!(up.health()[0]
            .detail
            .as_deref()
            .unwrap()
            .contains("no new job"));
    }
}
