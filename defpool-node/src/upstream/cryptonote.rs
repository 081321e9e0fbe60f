//! A CryptoNote (xmrig-dialect) client to upstream pools: `login`, `job`
//! notifications, `submit`, `keepalived`, over one connection at a time with
//! ordered failover across the configured upstreams.
//!
//! The connection is supervised by a task: when the upstream closes, times out,
//! sends no job for too long or rejects too many shares, the task moves to the next
//! upstream in the list at once (miners keep their sessions and get the new
//! upstream's job), and backs off only after every upstream failed in a row.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use defpool_core::pow::difficulty_from_job_target;
use defpool_core::stratum::cryptonote::{job_notification, Job};
use serde_json::{json, Value};
use tokio::sync::{oneshot, watch};

use super::health::UpstreamVitals;
use super::link::{CallError, Incoming, Link};
use super::rotation::Rotation;
use super::{Endpoint, UpstreamSettings, UpstreamStats};
use crate::mining::monero_source::ALGO;
use crate::mining::HealthBoard;

/// Byte of the hashing blob where the 4-byte nonce starts.
pub const NONCE_OFFSET: usize = 39;

/// A job as the upstream sent it.
#[derive(Debug, Clone)]
pub struct CnUpstreamJob {
    /// Which connection the job came on: a share for an older connection's job
    /// cannot be submitted on a newer one.
    pub generation: u64,
    /// Index of the upstream (in configured order) that sent the job.
    pub upstream: usize,
    pub job_id: String,
    pub blob: Vec<u8>,
    /// The target exactly as the upstream wrote it (sent on to miners unchanged).
    pub target_hex: String,
    pub difficulty: u64,
    pub algo: Option<String>,
    pub height: u64,
    pub seed_hash: String,
    pub received: Instant,
    /// The id miners see for this job: the same for every miner of the connection,
    /// unique over this client's jobs.
    pub seq: u32,
    /// The `job` notification for slot 0, encoded once; a miner's line is this with
    /// its slot written in at [`CnUpstreamJob::slot_hex_at`].
    pub line: Vec<u8>,
    /// Where in `line` the two hex digits of the slot byte are.
    pub slot_hex_at: usize,
}

impl CnUpstreamJob {
    /// The job as a miner in `slot` is sent it (login result, `getjob`).
    pub fn for_slot(&self, slot: u8) -> Job {
        Job {
            blob: hex::encode(self.blob_for_slot(slot)),
            job_id: self.seq.to_string(),
            target: self.target_hex.clone(),
            algo: self.algo.clone().unwrap_or_else(|| ALGO.to_string()),
            height: self.height,
            seed_hash: self.seed_hash.clone(),
        }
    }

    /// The `job` notification for a miner in `slot`: the shared line with two hex
    /// digits changed, no encoding per miner.
    pub fn line_for_slot(&self, slot: u8) -> Vec<u8> {
        let mut line = self.line.clone();
        const HEX: &[u8; 16] = b"0123456789abcdef";
        line[self.slot_hex_at] = HEX[usize::from(slot >> 4)];
        line[self.slot_hex_at + 1] = HEX[usize::from(slot & 0x0f)];
        line
    }

    /// The hashing blob a miner in `slot` starts from: nonce zero but for its top
    /// byte, the slot.
    pub fn blob_for_slot(&self, slot: u8) -> Vec<u8> {
        let mut blob = self.blob.clone();
        blob[NONCE_OFFSET..NONCE_OFFSET + 4].fill(0);
        blob[NONCE_OFFSET + 3] = slot;
        blob
    }

    fn parse(
        job: &Value,
        generation: u64,
        upstream: usize,
        seq: u32,
    ) -> Result<CnUpstreamJob, String> {
        let text = |k: &str| job.get(k).and_then(Value::as_str);
        let blob_hex = text("blob").ok_or("job without blob")?;
        let blob = hex::decode(blob_hex).map_err(|e| format!("job blob is not hex: {e}"))?;
        if blob.len() < NONCE_OFFSET + 4 {
            return Err(format!("job blob of {} bytes is too short", blob.len()));
        }
        let job_id = text("job_id").ok_or("job without job_id")?.to_string();
        if job_id.is_empty() || job_id.len() > 128 {
            return Err("job_id empty or over 128 characters".into());
        }
        let target_hex = text("target").ok_or("job without target")?.to_string();
        let difficulty = difficulty_from_job_target(&target_hex)
            .map_err(|e| format!("job target {target_hex:?}: {e}"))?;
        let seed_hash = text("seed_hash").unwrap_or_default().to_string();
        if !seed_hash.is_empty() && (seed_hash.len() != 64 || hex::decode(&seed_hash).is_err()) {
            return Err(format!("seed_hash {seed_hash:?} is not 32 bytes of hex"));
        }
        let mut parsed = CnUpstreamJob {
            generation,
            upstream,
            job_id,
            blob,
            target_hex,
            difficulty,
            algo: text("algo").map(str::to_string),
            height: job.get("height").and_then(Value::as_u64).unwrap_or(0),
            seed_hash,
            received: Instant::now(),
            seq,
            line: Vec::new(),
            slot_hex_at: 0,
        };
        let slot0 = parsed.for_slot(0);
        parsed.line = job_notification(&slot0);
        // The blob's hex appears once in the line; the slot byte's digits are inside it.
        let at = parsed
            .line
            .windows(slot0.blob.len())
            .position(|w| w == slot0.blob.as_bytes())
            .ok_or("job line without its blob")?;
        parsed.slot_hex_at = at + 2 * (NONCE_OFFSET + 3);
        Ok(parsed)
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SubmitError {
    /// The job belongs to a connection that is gone (failover or reconnect).
    #[error("job is from a closed upstream connection")]
    Stale,
    #[error(transparent)]
    Call(#[from] CallError),
}

struct Live {
    generation: u64,
    upstream: usize,
    link: Link,
    session_id: String,
}

/// One upstream connection (with failover) and the jobs it receives.
pub struct CnUpstream {
    endpoints: Vec<Endpoint>,
    settings: UpstreamSettings,
    /// The miner algorithms to announce at login (xmrig's `algo` extension).
    algos: Vec<String>,
    jobs: watch::Sender<Option<Arc<CnUpstreamJob>>>,
    live: Mutex<Option<Live>>,
    vitals: Mutex<UpstreamVitals>,
    health: HealthBoard,
    generation: AtomicU64,
    next_job: std::sync::atomic::AtomicU32,
    pub stats: UpstreamStats,
}

impl CnUpstream {
    /// Starts the connection task; it runs until `stop` flips.
    pub fn spawn(
        endpoints: Vec<Endpoint>,
        settings: UpstreamSettings,
        algos: Vec<String>,
        stop: watch::Receiver<bool>,
    ) -> Arc<CnUpstream> {
        let health = HealthBoard::named("upstream", endpoints.iter().map(|e| e.raw_url.as_str()));
        let upstream = Arc::new(CnUpstream {
            endpoints,
            settings,
            algos,
            jobs: watch::channel(None).0,
            live: Mutex::new(None),
            vitals: Mutex::new(UpstreamVitals::new(Instant::now())),
            health,
            generation: AtomicU64::new(0),
            // Random start: the job ids of two upstreams (two coins behind one
            // profit-switching port) must not meet in one miner's recent jobs.
            next_job: std::sync::atomic::AtomicU32::new(rand::random()),
            stats: UpstreamStats::default(),
        });
        tokio::spawn(upstream.clone().supervise(stop));
        upstream
    }

    pub fn jobs(&self) -> watch::Receiver<Option<Arc<CnUpstreamJob>>> {
        self.jobs.subscribe()
    }

    pub fn current(&self) -> Option<Arc<CnUpstreamJob>> {
        self.jobs.borrow().clone()
    }

    pub fn health(&self) -> Vec<crate::daemon::DaemonHealth> {
        self.health.snapshot()
    }

    fn next_seq(&self) -> u32 {
        self.next_job.fetch_add(1, Ordering::Relaxed)
    }

    /// The generation of the connection in use, if connected.
    pub fn generation(&self) -> Option<u64> {
        self.live.lock().ok()?.as_ref().map(|l| l.generation)
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

    /// Sends a share for `job` and returns the wait for the upstream's verdict.
    pub async fn submit(
        &self,
        job: &CnUpstreamJob,
        nonce_hex: &str,
        result_hex: &str,
    ) -> Result<oneshot::Receiver<Result<Value, CallError>>, SubmitError> {
        let (link, session_id) = {
            let live = self.live.lock().map_err(|_| SubmitError::Stale)?;
            match live.as_ref() {
                Some(l) if l.generation == job.generation => (l.link.clone(), l.session_id.clone()),
                _ => return Err(SubmitError::Stale),
            }
        };
        self.stats.submitted.fetch_add(1, Ordering::Relaxed);
        let params = json!({
            "id": session_id,
            "job_id": job.job_id,
            "nonce": nonce_hex,
            "result": result_hex,
        });
        Ok(link.start_call("submit", params).await?)
    }

    /// Records the upstream's verdict on a share (for the reject-rate health check).
    pub fn share_outcome(&self, job: &CnUpstreamJob, accepted: Option<bool>) {
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
            let connected_at = self.generation.load(Ordering::Acquire);
            let ended = self.connection(index, &mut stop).await;
            if let Ok(mut live) = self.live.lock() {
                *live = None;
            }
            let Err(reason) = ended else { return };
            let endpoint = &self.endpoints[index];
            tracing::warn!(upstream = %endpoint.raw_url, reason = %reason, "upstream connection ended");
            self.health.note(index, Err(reason));
            let worked = self.generation.load(Ordering::Acquire) != connected_at;
            let wait = rotation.ended(worked);
            if !wait.is_zero() {
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.changed() => return,
                }
            }
        }
    }

    /// Runs one connection to upstream `index`; `Ok` only when the node stops.
    async fn connection(
        &self,
        index: usize,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), String> {
        let endpoint = &self.endpoints[index];
        let (link, mut incoming) = Link::connect(
            &endpoint.url,
            self.settings.connect_timeout,
            self.settings.call_timeout,
        )
        .await?;
        let login = link
            .call(
                "login",
                json!({
                    "login": endpoint.login,
                    "pass": endpoint.password,
                    "agent": self.settings.agent,
                    "algo": self.algos,
                }),
            )
            .await
            .map_err(|e| format!("login: {e}"))?;
        let session_id = login
            .get("id")
            .and_then(Value::as_str)
            .ok_or("login result without a session id")?
            .to_string();
        let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        let first = login.get("job").ok_or("login result without a job")?;
        let job = CnUpstreamJob::parse(first, generation, index, self.next_seq())?;
        if let Ok(mut live) = self.live.lock() {
            *live = Some(Live {
                generation,
                upstream: index,
                link: link.clone(),
                session_id: session_id.clone(),
            });
        }
        if let Ok(mut v) = self.vitals.lock() {
            *v = UpstreamVitals::new(Instant::now());
        }
        self.health.note(index, Ok(()));
        tracing::info!(upstream = %endpoint.raw_url, height = job.height, difficulty = job.difficulty, "upstream connected");
        self.publish(job);

        let mut keepalive = tokio::time::interval(self.settings.keepalive);
        keepalive.tick().await;
        let mut check = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            tokio::select! {
                message = incoming.recv() => match message {
                    Some(Incoming::Notification { method, params, .. }) => match method.as_str() {
                        "job" => match CnUpstreamJob::parse(&params, generation, index, self.next_seq()) {
                            Ok(job) => self.publish(job),
                            Err(e) => tracing::warn!(upstream = %endpoint.raw_url, error = %e, "upstream sent a bad job; keeping the current one"),
                        },
                        other => tracing::debug!(method = other, "ignored upstream notification"),
                    },
                    Some(Incoming::Closed(reason)) => return Err(reason),
                    None => return Err("connection task ended".into()),
                },
                _ = keepalive.tick() => {
                    let link = link.clone();
                    let id = session_id.clone();
                    // An upstream that does not know `keepalived` answers with an
                    // error, which is fine: the line kept the connection alive.
                    tokio::spawn(async move {
                        let _ = link.call("keepalived", json!({"id": id})).await;
                    });
                }
                _ = check.tick() => {
                    let verdict = self
                        .vitals
                        .lock()
                        .ok()
                        .and_then(|v| v.verdict(&self.settings.limits, Instant::now()));
                    if let Some(reason) = verdict {
                        return Err(format!("unhealthy: {reason}"));
                    }
                }
                r = stop.changed() => if r.is_err() || *stop.borrow() { return Ok(()) },
            }
        }
    }

    fn publish(&self, job: CnUpstreamJob) {
        if let Ok(mut v) = self.vitals.lock() {
            v.job_received(Instant::now());
        }
        self.stats.jobs.fetch_add(1, Ordering::Relaxed);
        self.jobs.send_replace(Some(Arc::new(job)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_monero_job() {
        let job = json!({
            "blob": "0".repeat(152),
            "job_id": "7",
            "target": "b88d0600",
            "algo": "rx/0",
            "height": 12,
            "seed_hash": "ab".repeat(32),
        });
        let j = CnUpstreamJob::parse(&job, 3, 1, 9).unwrap();
        assert_eq!(j.job_id, "7");
        assert_eq!(j.blob.len(), 76);
        assert_eq!(j.difficulty, 10_000);
        assert_eq!((j.generation, j.upstream, j.height), (3, 1, 12));
    }

    #[test]
    fn every_slot_gets_the_shared_line_with_its_own_top_nonce_byte() {
        let job = json!({"blob": "ab".repeat(76), "job_id": "7", "target": "b88d0600",
            "algo": "rx/0", "height": 12, "seed_hash": "cd".repeat(32)});
        let j = CnUpstreamJob::parse(&job, 1, 0, 5).unwrap();
        for slot in [0u8, 1, 0x7f, 0xff] {
            let line = j.line_for_slot(slot);
            assert_eq!(line, job_notification(&j.for_slot(slot)), "slot {slot}");
            let blob = j.blob_for_slot(slot);
            assert_eq!(&blob[39..43], &[0, 0, 0, slot]);
            assert_eq!(blob[..39], j.blob[..39]);
        }
        assert_eq!(j.for_slot(3).job_id, "5");
    }

    #[test]
    fn refuses_bad_jobs() {
        let ok = json!({"blob": "0".repeat(152), "job_id": "1", "target": "b88d0600"});
        assert!(CnUpstreamJob::parse(&ok, 1, 0, 1).is_ok());
        for (k, v) in [
            ("blob", json!("zz")),
            ("blob", json!("00")),
            ("job_id", json!("")),
            ("target", json!("nothex")),
            ("seed_hash", json!("abc")),
        ] {
            let mut bad = ok.clone();
            bad[k] = v;
            assert!(CnUpstreamJob::parse(&bad, 1, 0, 1).is_err(), "{k}");
        }
    }
}
