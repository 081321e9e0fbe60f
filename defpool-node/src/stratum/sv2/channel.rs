//! One SV2 mining channel: its extranonce, target, vardiff and recent jobs, and the
//! translation of the node's Bitcoin-family work into SV2 jobs and back.
//!
//! The coinbase of every job has 8 bytes of extranonce space ([`EXTRANONCE_SPACE`]):
//! the first 4 are a process-unique number per channel (as a SV1 session's
//! extranonce1), the rest is what the miner may roll. A standard channel rolls
//! nothing: the pool fills all 8 bytes and sends the merkle root it gives
//! (`NewMiningJob`). An extended channel gets a prefix and rolls `extranonce_size`
//! bytes itself (`NewExtendedMiningJob` with the coinbase around the extranonce and the
//! merkle path). Either way a share rebuilds the same 8 bytes and checks the header
//! with the job code SV1 uses.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use defpool_core::pow::bitcoin::{PowAlgorithm, Target};
use defpool_core::share::bitcoin::{
    check_full_version, DuplicateKey, Extranonce2, NtimeWindow, DEFAULT_MAX_NTIME_AHEAD_SECS,
};
use defpool_core::stratum::bitcoin::POOL_VERSION_MASK;
use defpool_core::stratum::identity::MinerIdentity;
use defpool_core::vardiff::{Vardiff, VardiffConfig};
use defpool_core::Difficulty;
use stratum_core::binary_sv2::{B032Owned, B064KOwned, Seq0255Owned, Sv2OptionOwned, U256Owned};
use stratum_core::mining_sv2::{
    NewExtendedMiningJobOwned, NewMiningJobOwned, SetNewPrevHashOwned, SetTargetOwned,
};
use stratum_core::parsers_sv2::MiningOwned;

use crate::mining::bitcoin_source::{EXTRANONCE1_LEN, EXTRANONCE2_LEN};
use crate::mining::BitcoinWork as Work;

/// Bytes of extranonce in every coinbase the job source builds.
pub const EXTRANONCE_SPACE: usize = EXTRANONCE1_LEN + EXTRANONCE2_LEN;
/// The most an extended channel may roll: what is left after our 4-byte prefix.
pub const MAX_EXTENDED_EXTRANONCE: usize = EXTRANONCE2_LEN;
/// Jobs a channel remembers for late shares.
const KEPT_JOBS: usize = 4;
/// How long shares at the previous target still count after `SetTarget` (the miner
/// may have found them before it read the new target).
const TARGET_GRACE: Duration = Duration::from_secs(5);

/// How the miner rolls the coinbase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelKind {
    /// Header-only mining: the pool fixes the whole extranonce.
    Standard,
    /// The miner rolls `extranonce_size` bytes after the prefix.
    Extended { extranonce_size: usize },
}

/// A job sent on a channel.
struct ChannelJob {
    id: u32,
    work: Arc<Work>,
    /// Shares already submitted on this job.
    seen: HashSet<DuplicateKey>,
}

/// Why a share is refused before hashing, as SV2 error codes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ShareError {
    #[error("invalid-job-id")]
    UnknownJob,
    #[error("stale-share")]
    Stale,
    #[error("invalid-extranonce")]
    Extranonce,
    #[error("invalid-timestamp")]
    Ntime,
    #[error("invalid-version")]
    Version,
    #[error("duplicate-share")]
    Duplicate,
    #[error("difficulty-too-low")]
    LowDifficulty,
}

impl ShareError {
    /// The SV2 error code (`SubmitShares.Error.error_code`).
    pub fn code(&self) -> String {
        self.to_string()
    }

    /// Whether the share counts towards a ban (bad work, not bad luck or timing).
    pub fn is_invalid(&self) -> bool {
        matches!(
            self,
            ShareError::Extranonce
                | ShareError::Ntime
                | ShareError::Version
                | ShareError::LowDifficulty
        )
    }
}

/// A share whose fields check out: the header to hash and what it is worth.
pub struct ShareToHash {
    pub work: Arc<Work>,
    pub header: defpool_core::job::bitcoin::BlockHeader,
    /// The 8 extranonce bytes, split as the job expects.
    pub extranonce1: [u8; EXTRANONCE1_LEN],
    pub extranonce2: [u8; EXTRANONCE2_LEN],
}

/// Accepted shares waiting for one batched `SubmitShares.Success`.
#[derive(Clone, Copy, Debug, Default)]
pub struct SuccessBatch {
    pub last_sequence_number: u32,
    pub count: u32,
    /// Sum of the accepted shares' difficulties.
    pub difficulty_sum: f64,
}

pub struct Channel {
    pub id: u32,
    pub kind: ChannelKind,
    pub identity: MinerIdentity,
    /// Process-unique, the first 4 extranonce bytes of every coinbase of the channel.
    pub extranonce1: [u8; EXTRANONCE1_LEN],
    algorithm: PowAlgorithm,
    /// Difficulty the channel mines at (vardiff's or the port's).
    pub difficulty: f64,
    /// The easiest target the miner said it can take (`max_target`).
    max_target: Target,
    /// The target last sent (`Open*.Success` or `SetTarget`).
    pub sent_target: Target,
    /// The target before the last `SetTarget`, and when it was replaced.
    previous_target: Option<(Target, f64, Instant)>,
    pub vardiff: Option<Vardiff>,
    jobs: VecDeque<ChannelJob>,
    next_job_id: u32,
    /// Whether the last job sent carried the current previous block hash.
    pub prev_hash_height: Option<u64>,
    pub batch: SuccessBatch,
}

/// A starting difficulty from the miner's announced hashrate: one share every
/// `target_seconds`.
pub fn difficulty_for_hashrate(
    algorithm: PowAlgorithm,
    hashes_per_second: f32,
    cfg: &VardiffConfig,
) -> Option<f64> {
    let rate = f64::from(hashes_per_second);
    if !(rate.is_finite() && rate > 0.0) {
        return None;
    }
    // Hashes per share at difficulty 1 = 2^256 / diff1 target = 1 / difficulty(MAX).
    let hashes_per_diff1 = 1.0 / algorithm.difficulty_of_target(&Target::MAX);
    let d = rate * cfg.target_seconds / hashes_per_diff1;
    (d.is_finite() && d > 0.0).then(|| d.min(cfg.max).max(cfg.min))
}

impl Channel {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: u32,
        kind: ChannelKind,
        identity: MinerIdentity,
        extranonce1: [u8; EXTRANONCE1_LEN],
        algorithm: PowAlgorithm,
        difficulty: f64,
        max_target: Target,
        vardiff: Option<Vardiff>,
    ) -> Channel {
        let mut channel = Channel {
            id,
            kind,
            identity,
            extranonce1,
            algorithm,
            difficulty,
            max_target,
            sent_target: Target::MAX,
            previous_target: None,
            vardiff,
            jobs: VecDeque::new(),
            next_job_id: 1,
            prev_hash_height: None,
            batch: SuccessBatch::default(),
        };
        channel.sent_target = channel.target_for(None);
        channel
    }

    /// The extranonce prefix the miner is told: the pool's part of the 8 bytes.
    pub fn extranonce_prefix(&self) -> Vec<u8> {
        let rolled = match self.kind {
            ChannelKind::Standard => 0,
            ChannelKind::Extended { extranonce_size } => extranonce_size,
        };
        let mut prefix = self.extranonce1.to_vec();
        prefix.resize(EXTRANONCE_SPACE - rolled, 0);
        prefix
    }

    /// The share target for the channel's difficulty, never easier than the miner's
    /// `max_target` and, with `work`, never harder than the network (a block must be
    /// a share, or the miner would not send it).
    pub fn target_for(&self, work: Option<&Work>) -> Target {
        let mut target = match Difficulty::new(self.difficulty) {
            Ok(d) => self.algorithm.target_for_difficulty(d),
            Err(_) => self.max_target,
        };
        if target > self.max_target {
            target = self.max_target;
        }
        if let Some(work) = work {
            let network = work.job.network_target();
            if target < network {
                target = network;
            }
        }
        target
    }

    /// The `SetTarget` to send when the channel's target for `work` changed.
    pub fn retarget(&mut self, work: Option<&Work>) -> Option<MiningOwned> {
        let target = self.target_for(work);
        if target == self.sent_target {
            return None;
        }
        let old_difficulty = self.algorithm.difficulty_of_target(&self.sent_target);
        self.previous_target = Some((self.sent_target, old_difficulty, Instant::now()));
        self.sent_target = target;
        Some(MiningOwned::SetTarget(SetTargetOwned {
            channel_id: self.id,
            maximum_target: U256Owned::from(target.to_le_bytes()),
        }))
    }

    /// A new maximum target from `UpdateChannel` (the spec lets the miner lower it).
    pub fn set_max_target(&mut self, max_target: Target) {
        self.max_target = max_target;
    }

    /// The difficulty a hash that met the channel's target is credited at: the
    /// current target's, or within the grace the previous one's.
    pub fn credited_difficulty(&self, hash: &[u8; 32]) -> Option<f64> {
        if self.sent_target.is_met_by(hash) {
            return Some(self.algorithm.difficulty_of_target(&self.sent_target));
        }
        match self.previous_target {
            Some((target, difficulty, at))
                if at.elapsed() <= TARGET_GRACE && target.is_met_by(hash) =>
            {
                Some(difficulty)
            }
            _ => None,
        }
    }

    /// The job messages for `work`: a future job plus `SetNewPrevHash` when the block
    /// changed (or on the channel's first job), else a job active at once.
    pub fn job_messages(&mut self, work: Arc<Work>) -> Vec<MiningOwned> {
        let id = self.next_job_id;
        self.next_job_id = self.next_job_id.wrapping_add(1).max(1);
        let new_prev_hash = self.prev_hash_height != Some(work.height) || work.new_block;
        let stratum = work.job.work();
        let min_ntime = if new_prev_hash {
            Sv2OptionOwned::new(None)
        } else {
            Sv2OptionOwned::new(Some(stratum.ntime))
        };
        let job = match self.kind {
            ChannelKind::Standard => {
                let (e1, e2) = self.split_extranonce(&[]);
                MiningOwned::NewMiningJob(NewMiningJobOwned {
                    channel_id: self.id,
                    job_id: id,
                    min_ntime,
                    version: stratum.version,
                    merkle_root: U256Owned::from(stratum.merkle_root(&e1, &e2)),
                })
            }
            ChannelKind::Extended { .. } => {
                let path: Vec<U256Owned> = stratum
                    .merkle_branch
                    .iter()
                    .map(|h| U256Owned::from(*h))
                    .collect();
                let built = (|| {
                    Some(NewExtendedMiningJobOwned {
                        channel_id: self.id,
                        job_id: id,
                        min_ntime,
                        version: stratum.version,
                        version_rolling_allowed: true,
                        merkle_path: Seq0255Owned::new(path).ok()?,
                        coinbase_tx_prefix: B064KOwned::new(stratum.coinbase.coinb1.clone())
                            .ok()?,
                        coinbase_tx_suffix: B064KOwned::new(stratum.coinbase.coinb2.clone())
                            .ok()?,
                    })
                })();
                match built {
                    Some(job) => MiningOwned::NewExtendedMiningJob(job),
                    None => {
                        // A coinbase over 64 KiB or 255 merkle levels cannot be a
                        // block anyway; the template is unusable for SV2.
                        tracing::error!(height = work.height, "job does not fit SV2 fields");
                        return Vec::new();
                    }
                }
            }
        };
        let mut out = vec![job];
        if new_prev_hash {
            out.push(MiningOwned::SetNewPrevHash(SetNewPrevHashOwned {
                channel_id: self.id,
                job_id: id,
                prev_hash: U256Owned::from(stratum.prev_hash),
                min_ntime: stratum.ntime,
                nbits: stratum.bits.0,
            }));
            // After a new block the older jobs are stale; keep one for the grace.
            while self.jobs.len() > 1 {
                self.jobs.pop_front();
            }
        }
        if self.jobs.len() >= KEPT_JOBS {
            self.jobs.pop_front();
        }
        self.prev_hash_height = Some(work.height);
        self.jobs.push_back(ChannelJob {
            id,
            work,
            seen: HashSet::new(),
        });
        out
    }

    /// The 8 extranonce bytes of a share: our prefix, then what the miner rolled.
    fn split_extranonce(&self, rolled: &[u8]) -> ([u8; EXTRANONCE1_LEN], [u8; EXTRANONCE2_LEN]) {
        let mut full = [0u8; EXTRANONCE_SPACE];
        let prefix = self.extranonce_prefix();
        full[..prefix.len()].copy_from_slice(&prefix);
        let n = rolled.len().min(EXTRANONCE_SPACE - prefix.len());
        full[prefix.len()..prefix.len() + n].copy_from_slice(&rolled[..n]);
        let mut e1 = [0u8; EXTRANONCE1_LEN];
        let mut e2 = [0u8; EXTRANONCE2_LEN];
        e1.copy_from_slice(&full[..EXTRANONCE1_LEN]);
        e2.copy_from_slice(&full[EXTRANONCE1_LEN..]);
        (e1, e2)
    }

    /// Checks a share's fields against the job it names and the rules of the
    /// channel, records it against duplicates, and gives the header to hash.
    /// `rolled` is the extended share's extranonce (empty for a standard share).
    pub fn check_share(
        &mut self,
        job_id: u32,
        nonce: u32,
        ntime: u32,
        version: u32,
        rolled: &[u8],
    ) -> Result<ShareToHash, ShareError> {
        let expected = match self.kind {
            ChannelKind::Standard => 0,
            ChannelKind::Extended { extranonce_size } => extranonce_size,
        };
        if rolled.len() != expected {
            return Err(ShareError::Extranonce);
        }
        let (e1, e2) = self.split_extranonce(rolled);
        let index = self
            .jobs
            .iter()
            .position(|j| j.id == job_id)
            .ok_or(ShareError::UnknownJob)?;
        let work = self.jobs[index].work.clone();
        let template = work.job.template();
        let window = NtimeWindow::for_job(
            template.mintime,
            template.curtime,
            DEFAULT_MAX_NTIME_AHEAD_SECS,
        );
        if !window.contains(ntime) {
            return Err(ShareError::Ntime);
        }
        // BIP 320 bits may be rolled on every SV2 channel.
        let version = check_full_version(work.job.work().version, version, POOL_VERSION_MASK)
            .map_err(|_| ShareError::Version)?;
        let key = DuplicateKey {
            extranonce2: Extranonce2::from_bytes(&e2).ok_or(ShareError::Extranonce)?,
            ntime,
            nonce,
            version,
        };
        if !self.jobs[index].seen.insert(key) {
            return Err(ShareError::Duplicate);
        }
        let header = work
            .job
            .header(&e1, &e2, version, ntime, nonce)
            .map_err(|_| ShareError::Extranonce)?;
        Ok(ShareToHash {
            work,
            header,
            extranonce1: e1,
            extranonce2: e2,
        })
    }

    /// Adds an accepted share to the pending success.
    pub fn accepted(&mut self, sequence_number: u32, difficulty: f64) {
        self.batch.last_sequence_number = sequence_number;
        self.batch.count += 1;
        self.batch.difficulty_sum += difficulty;
    }

    /// Takes the pending success, if any share waits for one.
    pub fn take_batch(&mut self) -> Option<SuccessBatch> {
        (self.batch.count > 0).then(|| std::mem::take(&mut self.batch))
    }

    /// The current job id the pool knows for tests and logs.
    pub fn latest_job(&self) -> Option<u32> {
        self.jobs.back().map(|j| j.id)
    }

    /// An extranonce prefix as the protocol's `B0_32`.
    pub fn prefix_field(&self) -> B032Owned {
        B032Owned::new(self.extranonce_prefix()).expect("a prefix of at most 8 bytes fits B0_32")
    }
}
