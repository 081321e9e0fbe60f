//! Bitcoin-family job source (Litecoin, Bitcoin): one `getblocktemplate` per block,
//! fetched once and shared by every session, refreshed on a new block (fast
//! `getblockchaininfo` polling, which also gives each daemon's height for the lag
//! check) and on a timer. Several daemons give failover: the first that answers and
//! is not lagging wins, as for Monero.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use defpool_core::job::bitcoin::{BitcoinJob, JobParams, ScriptPubKey, Template};
use defpool_core::CoinSpec;
use tokio::sync::{watch, Mutex};

use super::HealthBoard;
use crate::daemon::{BitcoinDaemon, DaemonHealth, RpcError, SubmitOutcome};

/// A daemon this many blocks behind the best one is skipped.
const MAX_LAG: u64 = 2;
/// Bytes of the per-session extranonce1 (a session counter) and of the miner's
/// extranonce2: 4 + 4 is what cpuminer, the SV2 translator and the stock pools use.
pub const EXTRANONCE1_LEN: usize = 4;
pub const EXTRANONCE2_LEN: usize = 4;
/// Pushed into every coinbase after the extranonce.
pub const POOL_TAG: &[u8] = b"/DefPool/";

/// Work for one block template, shared by every session.
#[derive(Debug)]
pub struct BitcoinWork {
    /// Increases with every template; sessions use it in job ids.
    pub seq: u64,
    pub job: Arc<BitcoinJob>,
    pub height: u64,
    /// Hex of the previous block hash as the daemon shows it.
    pub prev_hash: String,
    pub created: Instant,
    /// When the node first had a template at this height (kept across refreshes):
    /// the stale-share grace window of the previous block runs from here.
    pub height_since: Instant,
    /// True when this template starts a new block (miners drop older jobs).
    pub new_block: bool,
}

pub struct BitcoinSource {
    spec: &'static CoinSpec,
    daemons: Vec<BitcoinDaemon>,
    params: JobParams,
    health: HealthBoard,
    current: watch::Sender<Option<Arc<BitcoinWork>>>,
    active: Mutex<usize>,
    claimed_height: AtomicU64,
    /// When the claimed height's block was submitted: shares on that height stop
    /// counting after the stale grace even if no new template arrives.
    claimed_at: std::sync::Mutex<Option<Instant>>,
    wake: tokio::sync::Notify,
}

impl BitcoinSource {
    pub fn new(
        spec: &'static CoinSpec,
        daemons: Vec<BitcoinDaemon>,
        payout_script: ScriptPubKey,
    ) -> Arc<Self> {
        let health = HealthBoard::new(daemons.iter().map(|d| d.url()));
        let (current, _) = watch::channel(None);
        Arc::new(BitcoinSource {
            spec,
            daemons,
            params: JobParams {
                payout_script,
                pool_tag: POOL_TAG.to_vec(),
                extranonce1_len: EXTRANONCE1_LEN,
                extranonce2_len: EXTRANONCE2_LEN,
            },
            health,
            current,
            active: Mutex::new(0),
            claimed_height: AtomicU64::new(0),
            claimed_at: std::sync::Mutex::new(None),
            wake: tokio::sync::Notify::new(),
        })
    }

    pub fn spec(&self) -> &'static CoinSpec {
        self.spec
    }

    pub fn subscribe(&self) -> watch::Receiver<Option<Arc<BitcoinWork>>> {
        self.current.subscribe()
    }

    pub fn current(&self) -> Option<Arc<BitcoinWork>> {
        self.current.borrow().clone()
    }

    /// Claims `height` for a block submission; false if a block at that height was
    /// already submitted by this node (a second one would only be an orphan).
    pub fn claim_height(&self, height: u64) -> bool {
        let claimed = self.claimed_height.fetch_max(height, Ordering::AcqRel) < height;
        if claimed {
            if let Ok(mut at) = self.claimed_at.lock() {
                *at = Some(Instant::now());
            }
        }
        claimed
    }

    /// How long ago this node submitted a block at `height` or above, if it did: work
    /// at that height is worthless once the block is in (the daemon may be slow to
    /// give the next template, as litecoind is at MWEB activation without a peg-in).
    pub fn solved_for(&self, height: u64) -> Option<Duration> {
        if self.claimed_height.load(Ordering::Acquire) < height {
            return None;
        }
        self.claimed_at.lock().ok()?.map(|t| t.elapsed())
    }

    /// Gives a claimed height back after the daemon refused the block.
    pub fn release_height(&self, height: u64) {
        let _ = self.claimed_height.compare_exchange(
            height,
            height - 1,
            Ordering::AcqRel,
            Ordering::Relaxed,
        );
    }

    /// The network difficulty of `work` in the coin's share-difficulty units.
    pub fn network_difficulty(&self, work: &BitcoinWork) -> f64 {
        match defpool_core::pow::bitcoin::PowAlgorithm::try_from(self.spec.algorithm) {
            Ok(a) => a.difficulty_of_target(&work.job.network_target()),
            Err(_) => 0.0,
        }
    }

    /// Publishes work as if a daemon had given it: in-process session tests run
    /// without a daemon.
    #[cfg(test)]
    pub(crate) fn publish(&self, work: Arc<BitcoinWork>) {
        self.current.send_replace(Some(work));
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

    /// Polls until `stop` flips; publishes a new job on every new block and every
    /// `refresh` on the same block (new transactions, newer time).
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
                        tracing::info!(coin = self.spec.symbol, "templates flow again");
                    }
                }
                Err(e) => {
                    if last_error_log.is_none_or(|t| t.elapsed() >= Duration::from_secs(30)) {
                        tracing::warn!(coin = self.spec.symbol, error = %e, "no daemon could give a template");
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
        let mut infos = Vec::with_capacity(self.daemons.len());
        for (i, d) in self.daemons.iter().enumerate() {
            match d.chain_info().await {
                Ok(info) => infos.push((i, info)),
                Err(e) => self.note(i, Err(e.to_string())),
            }
        }
        let best = infos
            .iter()
            .map(|(_, info)| info.blocks)
            .max()
            .ok_or(RpcError::NoDaemon)?;
        let mut chosen = None;
        for (i, info) in &infos {
            if info.blocks + MAX_LAG < best {
                self.note(
                    *i,
                    Err(format!(
                        "lagging: height {} while another daemon is at {best}",
                        info.blocks
                    )),
                );
            } else if chosen.is_none() {
                // Marked healthy below, once it also gave a template: a daemon that
                // answers getblockchaininfo but refuses getblocktemplate is not
                // flapped in and out on every poll.
                chosen = Some((*i, info.clone()));
            } else {
                self.note(*i, Ok(()));
            }
        }
        let (index, info) = chosen.ok_or(RpcError::NoDaemon)?;
        let switched = *self.active.lock().await != index;
        let new_block = last_top.as_deref() != Some(info.bestblockhash.as_str());
        if !(new_block
            || switched
            || last_fetch.elapsed() >= refresh
            || self.current.borrow().is_none())
        {
            self.note(index, Ok(()));
            return Ok(());
        }
        let daemon = &self.daemons[index];
        let raw = match daemon.block_template(self.spec).await {
            Ok(t) => t,
            Err(e) => {
                self.note(index, Err(e.to_string()));
                return Err(e);
            }
        };
        let bad = |message: String| RpcError::BadResponse {
            method: "getblocktemplate".into(),
            message,
        };
        let gbt = serde_json::from_value(raw).map_err(|e| bad(e.to_string()))?;
        let template = Template::from_gbt(&gbt).map_err(|e| bad(e.to_string()))?;
        let height = template.height;
        let job = BitcoinJob::new(Arc::new(template), &self.params)
            .map_err(|e| bad(format!("cannot build a job: {e}")))?;
        *seq += 1;
        let height_since = match self.current.borrow().as_ref() {
            Some(prev) if prev.height == height => prev.height_since,
            _ => Instant::now(),
        };
        let work = BitcoinWork {
            seq: *seq,
            job: Arc::new(job),
            height,
            prev_hash: info.bestblockhash.clone(),
            created: Instant::now(),
            height_since,
            new_block,
        };
        if new_block {
            tracing::info!(coin = self.spec.symbol, height, difficulty = info.difficulty, daemon = %daemon.url(), "new block template");
        }
        self.note(index, Ok(()));
        *last_top = Some(info.bestblockhash);
        *last_fetch = Instant::now();
        *self.active.lock().await = index;
        self.current.send_replace(Some(Arc::new(work)));
        Ok(())
    }

    /// Submits a block to the active daemon, then to the others if it cannot be
    /// reached. `Duplicate` counts as accepted: the network has the block.
    pub async fn submit_block(&self, block_hex: &str) -> Result<SubmitOutcome, RpcError> {
        let first = *self.active.lock().await;
        let order = std::iter::once(first).chain((0..self.daemons.len()).filter(|i| *i != first));
        let mut last = RpcError::NoDaemon;
        for i in order {
            match self.daemons[i].submit_block(block_hex).await {
                Ok(outcome) => return Ok(outcome),
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
