//! Monero job source: one template per block, fetched once and shared by every
//! session, refreshed on a new block (fast `get_info` polling) and on a timer.
//! Several daemons give failover: the first that answers and is not lagging wins.

use std::sync::Arc;
use std::time::{Duration, Instant};

use defpool_core::job::monero::MoneroTemplate;
use defpool_core::stratum::cryptonote::JobLine;
use tokio::sync::{watch, Mutex};

use super::HealthBoard;
use crate::daemon::{DaemonHealth, MoneroDaemon, RpcError};

/// Bytes reserved in the miner transaction for per-session extra nonces.
pub const RESERVE_SIZE: usize = 8;
/// xmrig's name for the algorithm of this work (RandomX, Monero's variant).
pub const ALGO: &str = "rx/0";
/// A daemon this many blocks behind the best one is skipped.
const MAX_LAG: u64 = 2;

/// Work for one block template, shared by every session.
#[derive(Debug)]
pub struct MoneroJob {
    /// Increases with every template; lets sessions tell old jobs from new.
    pub seq: u64,
    pub template: MoneroTemplate,
    /// The `job` notification encoded once for every session; each writes in its own
    /// Merkle root, job id and target.
    pub line: JobLine,
    pub height: u64,
    pub network_difficulty: u128,
    pub seed_hash: String,
    pub prev_hash: String,
    pub expected_reward: u64,
    pub created: Instant,
    /// When the node first had a template at this height (kept across refreshes):
    /// the stale-share grace window of the previous block runs from here.
    pub height_since: Instant,
}

pub struct MoneroSource {
    daemons: Vec<MoneroDaemon>,
    pool_address: String,
    health: HealthBoard,
    current: watch::Sender<Option<Arc<MoneroJob>>>,
    /// The daemon that gave the current template (index into `daemons`).
    active: Mutex<usize>,
    /// Highest height this node has submitted a block for: a second winning share at
    /// the same height would only make an orphan, so it is not submitted.
    claimed_height: std::sync::atomic::AtomicU64,
    /// Wakes the poll loop at once (after our own block).
    wake: tokio::sync::Notify,
}

impl MoneroSource {
    pub fn new(daemons: Vec<MoneroDaemon>, pool_address: String) -> Arc<Self> {
        let health = HealthBoard::new(daemons.iter().map(|d| d.url()));
        let (current, _) = watch::channel(None);
        Arc::new(MoneroSource {
            daemons,
            pool_address,
            health,
            current,
            active: Mutex::new(0),
            claimed_height: std::sync::atomic::AtomicU64::new(0),
            wake: tokio::sync::Notify::new(),
        })
    }

    pub fn subscribe(&self) -> watch::Receiver<Option<Arc<MoneroJob>>> {
        self.current.subscribe()
    }

    pub fn current(&self) -> Option<Arc<MoneroJob>> {
        self.current.borrow().clone()
    }

    /// Claims `height` for a block submission; false if a block at that height was
    /// already submitted by this node.
    pub fn claim_height(&self, height: u64) -> bool {
        self.claimed_height
            .fetch_max(height, std::sync::atomic::Ordering::AcqRel)
            < height
    }

    /// Gives a claimed height back after the daemon refused the block.
    pub fn release_height(&self, height: u64) {
        let _ = self.claimed_height.compare_exchange(
            height,
            height - 1,
            std::sync::atomic::Ordering::AcqRel,
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// Polls the daemons now rather than at the next tick.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub fn health(&self) -> Vec<DaemonHealth> {
        self.health.snapshot()
    }

    fn note(&self, i: usize, r: Result<(), String>) {
        self.health.note(i, r);
    }

    /// Polls the daemons until `stop` flips; publishes a new job on every new block and
    /// every `refresh` on the same block.
    pub async fn run(
        self: Arc<Self>,
        poll: Duration,
        refresh: Duration,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut last_top: Option<String> = None;
        let mut last_fetch = Instant::now();
        let mut seq = 0u64;
        let mut last_error_log: Option<Instant> = None;
        loop {
            match self
                .poll_once(&mut last_top, &mut last_fetch, refresh, &mut seq)
                .await
            {
                Ok(()) => {
                    if last_error_log.take().is_some() {
                        tracing::info!("templates flow again");
                    }
                }
                // Polled several times a second: say it when it starts, then twice a minute.
                Err(e) => {
                    if last_error_log.is_none_or(|t| t.elapsed() >= Duration::from_secs(30)) {
                        tracing::warn!(error = %e, "no daemon could give a template");
                        last_error_log = Some(Instant::now());
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                _ = self.wake.notified() => {}
                r = stop.changed() => if r.is_err() || *stop.borrow() { return },
            }
        }
    }

    async fn poll_once(
        &self,
        last_top: &mut Option<String>,
        last_fetch: &mut Instant,
        refresh: Duration,
        seq: &mut u64,
    ) -> Result<(), RpcError> {
        // Ask every daemon where its chain is; skip the dead and the lagging.
        let mut infos = Vec::with_capacity(self.daemons.len());
        for (i, d) in self.daemons.iter().enumerate() {
            match d.get_info().await {
                Ok(info) => infos.push((i, info)),
                Err(e) => self.note(i, Err(e.to_string())),
            }
        }
        let best = infos
            .iter()
            .map(|(_, info)| info.height)
            .max()
            .ok_or(RpcError::NoDaemon)?;
        let mut chosen = None;
        for (i, info) in &infos {
            if info.height + MAX_LAG < best {
                self.note(
                    *i,
                    Err(format!(
                        "lagging: height {} while another daemon is at {best}",
                        info.height
                    )),
                );
            } else {
                self.note(*i, Ok(()));
                if chosen.is_none() {
                    chosen = Some((*i, info.clone()));
                }
            }
        }
        let (index, info) = chosen.ok_or(RpcError::NoDaemon)?;
        let switched = *self.active.lock().await != index;
        let new_block = last_top.as_deref() != Some(info.top_block_hash.as_str());
        if !(new_block
            || switched
            || last_fetch.elapsed() >= refresh
            || self.current.borrow().is_none())
        {
            return Ok(());
        }
        let daemon = &self.daemons[index];
        let t = match daemon
            .get_block_template(&self.pool_address, RESERVE_SIZE)
            .await
        {
            Ok(t) => t,
            Err(e) => {
                self.note(index, Err(e.to_string()));
                return Err(e);
            }
        };
        let blob = hex::decode(&t.blocktemplate_blob).map_err(|e| RpcError::BadResponse {
            method: "get_block_template".into(),
            message: format!("blob is not hex: {e}"),
        })?;
        let template =
            MoneroTemplate::parse(&blob, t.reserved_offset, RESERVE_SIZE).map_err(|e| {
                RpcError::BadResponse {
                    method: "get_block_template".into(),
                    message: e.to_string(),
                }
            })?;
        *seq += 1;
        let height_since = match self.current.borrow().as_ref() {
            Some(prev) if prev.height == t.height => prev.height_since,
            _ => Instant::now(),
        };
        let line = JobLine::new(
            template.header(),
            &template.hashing_blob_tail(),
            ALGO,
            t.height,
            &t.seed_hash,
        );
        let job = MoneroJob {
            seq: *seq,
            template,
            line,
            height: t.height,
            network_difficulty: t.network_difficulty(),
            seed_hash: t.seed_hash.clone(),
            prev_hash: t.prev_hash.clone(),
            expected_reward: t.expected_reward,
            created: Instant::now(),
            height_since,
        };
        if new_block {
            tracing::info!(height = job.height, difficulty = %job.network_difficulty, daemon = %daemon.url(), "new block template");
        }
        *last_top = Some(info.top_block_hash);
        *last_fetch = Instant::now();
        *self.active.lock().await = index;
        self.current.send_replace(Some(Arc::new(job)));
        Ok(())
    }

    /// Submits a block to the active daemon, then to the others if it cannot be reached.
    pub async fn submit_block(&self, blob_hex: &str) -> Result<(), RpcError> {
        let first = *self.active.lock().await;
        let order = std::iter::once(first).chain((0..self.daemons.len()).filter(|i| *i != first));
        let mut last = RpcError::NoDaemon;
        for i in order {
            match self.daemons[i].submit_block(blob_hex).await {
                Ok(()) => return Ok(()),
                Err(e) if e.is_transient() => {
                    self.note(i, Err(e.to_string()));
                    last = e;
                }
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }
}
