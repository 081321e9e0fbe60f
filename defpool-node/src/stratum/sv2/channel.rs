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

    /// The share target for the channel's difficulty: with `work`, never harder
    /// than the network (a block must be a share, or the miner would not send it),
    /// and never easier than the miner's `max_target`, which the protocol makes a
    /// hard limit (a device that asks for it only sends shares meeting it).
    pub fn target_for(&self, work: Option<&Work>) -> Target {
        let mut target = match Difficulty::new(self.difficulty) {
            Ok(d) => self.algorithm.target_for_difficulty(d),
            Err(_) => self.max_target,
        };
        if let Some(work) = work {
            let network = work.job.network_target();
            if target < network {
                target = network;
            }
        }
        if target > self.max_target {
            target = self.max_target;
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

    /// An extranonce prefix as the protocol's `B0_32`.
    pub fn prefix_field(&self) -> B032Owned {
        B032Owned::new(self.extranonce_prefix()).expect("a prefix of at most 8 bytes fits B0_32")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::mining::bitcoin_source::POOL_TAG;
    use defpool_core::job::bitcoin::merkle::root_from_branch;
    use defpool_core::job::bitcoin::{BitcoinJob, JobParams, ScriptPubKey, Template};
    use defpool_core::pow::bitcoin::sha256d;
    use defpool_core::stratum::identity::parse_identity;

    /// A template at Bitcoin's difficulty 1 (`1d00ffff`) with two transactions, so
    /// the merkle path is not empty and shares are not blocks.
    pub(crate) fn work(height: u64, new_block: bool) -> Arc<Work> {
        let tx = |n: u8| {
            format!(
                r#"{{"data":"{}","txid":"{}"}}"#,
                "00".repeat(60),
                format!("{n:02x}").repeat(32)
            )
        };
        let gbt = format!(
            r#"{{"version":536870912,"previousblockhash":"{prev}","transactions":[{t1},{t2}],
            "coinbasevalue":5000000000,"bits":"1d00ffff","curtime":1700000000,"mintime":1699990000,
            "height":{height}}}"#,
            prev = format!("{:02x}", height as u8).repeat(32),
            t1 = tx(1),
            t2 = tx(2),
        );
        let template = Template::from_json(&gbt).expect("template");
        let params = JobParams {
            payout_script: ScriptPubKey::from_bytes(vec![0x51]),
            pool_tag: POOL_TAG.to_vec(),
            extranonce1_len: EXTRANONCE1_LEN,
            extranonce2_len: EXTRANONCE2_LEN,
        };
        let job = BitcoinJob::new(Arc::new(template), &params).expect("job");
        Arc::new(Work {
            seq: height,
            job: Arc::new(job),
            height,
            prev_hash: String::new(),
            created: Instant::now(),
            height_since: Instant::now(),
            new_block,
        })
    }

    fn channel(kind: ChannelKind, difficulty: f64, max_target: Target) -> Channel {
        Channel::new(
            1,
            kind,
            parse_identity("addr.rig", "").unwrap(),
            [0xa1, 0xb2, 0xc3, 0xd4],
            PowAlgorithm::Sha256d,
            difficulty,
            max_target,
            None,
        )
    }

    #[test]
    fn the_first_job_of_a_block_is_a_future_job_then_the_previous_hash() {
        let mut c = channel(ChannelKind::Standard, 1.0, Target::MAX);
        let w = work(100, true);
        let out = c.job_messages(w.clone());
        assert_eq!(out.len(), 2);
        let MiningOwned::NewMiningJob(job) = &out[0] else {
            panic!("{:?}", out[0])
        };
        assert_eq!(job.min_ntime.clone().into_inner(), None, "future job");
        let MiningOwned::SetNewPrevHash(prev) = &out[1] else {
            panic!("{:?}", out[1])
        };
        assert_eq!(prev.job_id, job.job_id);
        assert_eq!(prev.prev_hash.to_array(), w.job.work().prev_hash);
        assert_eq!(prev.nbits, 0x1d00_ffff);
        assert_eq!(prev.min_ntime, 1_700_000_000);
        // A refreshed template on the same block: active at once, no new prev hash.
        let out = c.job_messages(work(100, false));
        assert_eq!(out.len(), 1);
        let MiningOwned::NewMiningJob(job2) = &out[0] else {
            panic!("{:?}", out[0])
        };
        assert_eq!(job2.min_ntime.clone().into_inner(), Some(1_700_000_000));
        assert_ne!(job2.job_id, job.job_id);
    }

    #[test]
    fn a_standard_share_hashes_the_merkle_root_the_job_announced() {
        let mut c = channel(ChannelKind::Standard, 1.0, Target::MAX);
        assert_eq!(
            c.extranonce_prefix(),
            vec![0xa1, 0xb2, 0xc3, 0xd4, 0, 0, 0, 0]
        );
        let out = c.job_messages(work(100, true));
        let MiningOwned::NewMiningJob(job) = &out[0] else {
            panic!()
        };
        let share = c
            .check_share(job.job_id, 7, 1_700_000_000, 0x2000_0000, &[])
            .expect("well-formed share");
        assert_eq!(share.header.merkle_root, job.merkle_root.to_array());
        assert_eq!(share.extranonce1, [0xa1, 0xb2, 0xc3, 0xd4]);
        // The coinbase of the block carries the channel's extranonce.
        let coinbase = share
            .work
            .job
            .work()
            .coinbase_tx(&share.extranonce1, &share.extranonce2);
        assert!(coinbase
            .windows(8)
            .any(|w| w == c.extranonce_prefix().as_slice()));
        // A standard share carries no extranonce.
        assert_eq!(
            c.check_share(job.job_id, 8, 1_700_000_000, 0x2000_0000, &[1])
                .err(),
            Some(ShareError::Extranonce)
        );
    }

    #[test]
    fn an_extended_share_rebuilds_the_coinbase_the_miner_built() {
        let mut c = channel(
            ChannelKind::Extended { extranonce_size: 3 },
            1.0,
            Target::MAX,
        );
        assert_eq!(c.extranonce_prefix(), vec![0xa1, 0xb2, 0xc3, 0xd4, 0]);
        let out = c.job_messages(work(100, true));
        let MiningOwned::NewExtendedMiningJob(job) = &out[0] else {
            panic!("{:?}", out[0])
        };
        assert!(job.version_rolling_allowed);
        let path: Vec<[u8; 32]> = job
            .merkle_path
            .clone()
            .into_inner()
            .into_iter()
            .map(|h| h.to_array())
            .collect();
        assert_eq!(path.len(), 2, "coinbase + two transactions");
        // What an SV2 miner does: prefix + extranonce_prefix + extranonce + suffix.
        let rolled = [9u8, 8, 7];
        let mut coinbase = job.coinbase_tx_prefix.to_owned_bytes();
        coinbase.extend_from_slice(&c.extranonce_prefix());
        coinbase.extend_from_slice(&rolled);
        coinbase.extend_from_slice(job.coinbase_tx_suffix.as_bytes());
        let root = root_from_branch(&sha256d(&coinbase), &path);
        let share = c
            .check_share(job.job_id, 1, 1_700_000_000, 0x2000_4000, &rolled)
            .expect("well-formed share");
        assert_eq!(share.header.merkle_root, root);
        assert_eq!(share.header.version, 0x2000_4000, "BIP 320 bits rolled");
        assert_eq!(
            c.check_share(job.job_id, 1, 1_700_000_000, 0x2000_0000, &[1, 2])
                .err(),
            Some(ShareError::Extranonce),
            "the negotiated size only"
        );
    }

    #[test]
    fn share_fields_are_checked_before_hashing() {
        let mut c = channel(ChannelKind::Standard, 1.0, Target::MAX);
        let out = c.job_messages(work(100, true));
        let MiningOwned::NewMiningJob(job) = &out[0] else {
            panic!()
        };
        let id = job.job_id;
        assert_eq!(
            c.check_share(id + 50, 1, 1_700_000_000, 0x2000_0000, &[])
                .err(),
            Some(ShareError::UnknownJob)
        );
        assert_eq!(
            c.check_share(id, 1, 1_699_989_999, 0x2000_0000, &[]).err(),
            Some(ShareError::Ntime),
            "before mintime"
        );
        assert_eq!(
            c.check_share(id, 1, 1_700_007_001, 0x2000_0000, &[]).err(),
            Some(ShareError::Ntime),
            "too far ahead"
        );
        assert_eq!(
            c.check_share(id, 1, 1_700_000_000, 0x6000_0000, &[]).err(),
            Some(ShareError::Version)
        );
        assert!(c
            .check_share(id, 1, 1_700_000_000, 0x2000_0000, &[])
            .is_ok());
        assert_eq!(
            c.check_share(id, 1, 1_700_000_000, 0x2000_0000, &[]).err(),
            Some(ShareError::Duplicate)
        );
        assert!(ShareError::Version.is_invalid());
        assert!(!ShareError::Duplicate.is_invalid());
        assert_eq!(ShareError::Stale.code(), "stale-share");
    }

    #[test]
    fn a_new_block_drops_jobs_older_than_the_previous_one() {
        let mut c = channel(ChannelKind::Standard, 1.0, Target::MAX);
        let first = c.job_messages(work(100, true));
        let MiningOwned::NewMiningJob(old) = &first[0] else {
            panic!()
        };
        let old = old.job_id;
        c.job_messages(work(101, true));
        c.job_messages(work(102, true));
        assert_eq!(
            c.check_share(old, 1, 1_700_000_000, 0x2000_0000, &[]).err(),
            Some(ShareError::UnknownJob)
        );
    }

    #[test]
    fn targets_follow_difficulty_the_network_and_the_miners_limit() {
        let diff1 = PowAlgorithm::Sha256d.diff1_target();
        let mut c = channel(ChannelKind::Standard, 1.0, Target::MAX);
        assert_eq!(c.sent_target, diff1);
        // Difficulty 1 is the network's here: no change, nothing to send.
        assert!(c.retarget(Some(&work(100, true))).is_none());
        // Above the network's difficulty the target is capped at the network's.
        c.difficulty = 4.0;
        assert!(c.retarget(Some(&work(100, true))).is_none());
        // Below it, the channel's own target, sent once.
        c.difficulty = 0.5;
        let Some(MiningOwned::SetTarget(t)) = c.retarget(Some(&work(100, true))) else {
            panic!("a SetTarget")
        };
        let half = PowAlgorithm::Sha256d.target_for_difficulty(Difficulty::new(0.5).unwrap());
        assert_eq!(Target::from_le_bytes(t.maximum_target.to_array()), half);
        assert!(c.retarget(Some(&work(100, true))).is_none());
        // The miner's maximum target wins over everything.
        c.set_max_target(diff1);
        let Some(MiningOwned::SetTarget(t)) = c.retarget(Some(&work(100, true))) else {
            panic!("a SetTarget")
        };
        assert_eq!(Target::from_le_bytes(t.maximum_target.to_array()), diff1);
        // A hash that met only the previous (easier) target still counts for a while,
        // at the previous difficulty.
        let between = half.to_le_bytes();
        assert!(!c.sent_target.is_met_by(&between));
        let credited = c.credited_difficulty(&between).expect("grace");
        assert!((credited - 0.5).abs() < 1e-9, "{credited}");
        assert!(c.credited_difficulty(&[0xff; 32]).is_none());
    }

    #[test]
    fn announced_hashrate_gives_a_share_every_target_seconds() {
        let cfg = VardiffConfig {
            target_seconds: 15.0,
            min: 0.001,
            max: 1e9,
            ..VardiffConfig::default()
        };
        // 2^32 sha256d hashes per second find a difficulty-1 share about every second.
        let d = difficulty_for_hashrate(PowAlgorithm::Sha256d, 4_294_967_296.0, &cfg).unwrap();
        assert!((d - 15.0).abs() / 15.0 < 1e-3, "{d}");
        // Scrypt's difficulty 1 is 2^16 hashes.
        let d = difficulty_for_hashrate(PowAlgorithm::Scrypt, 65_536.0, &cfg).unwrap();
        assert!((d - 15.0).abs() / 15.0 < 1e-3, "{d}");
        assert_eq!(
            difficulty_for_hashrate(PowAlgorithm::Sha256d, 1.0, &cfg),
            Some(0.001),
            "clamped to min"
        );
        assert_eq!(
            difficulty_for_hashrate(PowAlgorithm::Sha256d, 0.0, &cfg),
            None
        );
        assert_eq!(
            difficulty_for_hashrate(PowAlgorithm::Sha256d, f32::NAN, &cfg),
            None
        );
    }

    #[test]
    fn batched_successes_sum_what_was_accepted() {
        let mut c = channel(ChannelKind::Standard, 1.0, Target::MAX);
        assert!(c.take_batch().is_none());
        c.accepted(4, 2.0);
        c.accepted(6, 3.0);
        let b = c.take_batch().unwrap();
        assert_eq!((b.last_sequence_number, b.count), (6, 2));
        assert_eq!(b.difficulty_sum, 5.0);
        assert!(c.take_batch().is_none());
    }
}
