//! A Stratum V2 test miner (like SRI's mining_device): Noise NX as initiator pinning
//! the pool's authority key, `SetupConnection`, a standard or extended channel, then
//! real sha256d or scrypt hashing of the headers it builds from `NewMiningJob` /
//! `NewExtendedMiningJob` + `SetNewPrevHash`, submitting what meets the channel's
//! target. It keeps count of what the pool acknowledged and refused.

use std::collections::HashMap;
use std::time::Duration;

use defpool_core::job::bitcoin::merkle::root_from_branch;
use defpool_core::job::bitcoin::BlockHeader;
use defpool_core::pow::bitcoin::{sha256d, CompactTarget, PowAlgorithm, Target};
use defpool_node::stratum::sv2::messages::{self, parse_any};
use defpool_node::stratum::sv2::noise::{self, FrameReader, FrameWriter, Sv2IoError};
use stratum_core::binary_sv2::{B032Owned, Str0255Owned, U256Owned};
use stratum_core::common_messages_sv2::{Protocol, SetupConnectionOwned};
use stratum_core::mining_sv2::{
    OpenExtendedMiningChannelOwned, OpenStandardMiningChannelOwned, SubmitSharesExtendedOwned,
    SubmitSharesStandard, UpdateChannelOwned,
};
use stratum_core::parsers_sv2::{AnyMessageOwned, CommonMessagesOwned, MiningOwned};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

/// A job as the miner keeps it.
#[derive(Clone, Debug)]
pub struct MinerJob {
    pub version: u32,
    /// Standard job: the merkle root to use.
    pub merkle_root: Option<[u8; 32]>,
    /// Extended job: coinbase around the extranonce and the merkle path.
    pub coinbase_prefix: Vec<u8>,
    pub coinbase_suffix: Vec<u8>,
    pub merkle_path: Vec<[u8; 32]>,
}

/// The block the channel mines on (`SetNewPrevHash`).
#[derive(Clone, Debug)]
pub struct PrevHash {
    pub prev_hash: [u8; 32],
    pub min_ntime: u32,
    pub nbits: u32,
}

/// A share found by hashing.
#[derive(Clone, Debug)]
pub struct Sv2Share {
    pub job_id: u32,
    pub nonce: u32,
    pub ntime: u32,
    pub version: u32,
    /// Extended channel: the extranonce rolled.
    pub extranonce: Vec<u8>,
    pub hash: [u8; 32],
}

pub struct Sv2Miner {
    reader: FrameReader<OwnedReadHalf>,
    writer: FrameWriter<OwnedWriteHalf>,
    pub algorithm: PowAlgorithm,
    pub channel_id: Option<u32>,
    /// The channel's target, little-endian as SV2 sends it.
    pub target: [u8; 32],
    pub extranonce_prefix: Vec<u8>,
    /// Extended channel: bytes the miner rolls.
    pub extranonce_size: usize,
    pub jobs: HashMap<u32, MinerJob>,
    pub prev_hash: Option<PrevHash>,
    /// The job mined now.
    pub active_job: Option<u32>,
    /// Jobs received, in order (for tests that check job flow).
    pub jobs_seen: Vec<u32>,
    pub set_targets: u32,
    /// BIP 320 bits the miner rolls into every header's version.
    pub version_bits: u32,
    next_sequence: u32,
    next_nonce: u32,
    next_extranonce: u32,
    /// Sum of `new_submits_accepted_count` over every `SubmitShares.Success`.
    pub accepted: u64,
    /// The error codes of every `SubmitShares.Error`, in order.
    pub rejected: Vec<String>,
    /// The highest sequence number acknowledged either way.
    pub last_answered: Option<u32>,
    /// Messages the miner did not consume itself, in order.
    pub inbox: Vec<AnyMessageOwned>,
}

impl Sv2Miner {
    /// TCP connect and Noise handshake, pinning `authority` (x-only public key).
    pub async fn connect(
        addr: &str,
        authority: [u8; 32],
        algorithm: PowAlgorithm,
    ) -> Result<Sv2Miner, Sv2IoError> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (r, w) = stream.into_split();
        let (reader, writer) = noise::connect(r, w, authority).await?;
        Ok(Sv2Miner {
            reader,
            writer,
            algorithm,
            channel_id: None,
            target: [0u8; 32],
            extranonce_prefix: Vec::new(),
            extranonce_size: 0,
            jobs: HashMap::new(),
            prev_hash: None,
            active_job: None,
            jobs_seen: Vec::new(),
            set_targets: 0,
            version_bits: 0,
            next_sequence: 1,
            next_nonce: rand::random::<u32>() & 0x00ff_ffff,
            next_extranonce: 0,
            accepted: 0,
            rejected: Vec::new(),
            last_answered: None,
            inbox: Vec::new(),
        })
    }

    pub async fn send(&mut self, message: AnyMessageOwned) -> Result<(), Sv2IoError> {
        let frame = messages::frame(message).expect("frame a message");
        self.writer.send(frame).await
    }

    /// The next message from the pool within `wait`, after the miner updated its own
    /// state from it; `Ok(None)` on timeout.
    pub async fn recv(&mut self, wait: Duration) -> Result<Option<AnyMessageOwned>, Sv2IoError> {
        let mut frame = match tokio::time::timeout(wait, self.reader.next_frame()).await {
            Err(_) => return Ok(None),
            Ok(f) => f?,
        };
        let message = parse_any(&mut frame).expect("the pool sends valid SV2 messages");
        self.observe(&message);
        Ok(Some(message))
    }

    fn observe(&mut self, message: &AnyMessageOwned) {
        let AnyMessageOwned::Mining(m) = message else {
            return;
        };
        match m {
            MiningOwned::OpenStandardMiningChannelSuccess(s) => {
                self.channel_id = Some(s.channel_id);
                self.target = s.target.to_array();
                self.extranonce_prefix = s.extranonce_prefix.to_owned_bytes();
            }
            MiningOwned::OpenExtendedMiningChannelSuccess(s) => {
                self.channel_id = Some(s.channel_id);
                self.target = s.target.to_array();
                self.extranonce_prefix = s.extranonce_prefix.to_owned_bytes();
                self.extranonce_size = usize::from(s.extranonce_size);
            }
            MiningOwned::NewMiningJob(j) => {
                self.jobs.insert(
                    j.job_id,
                    MinerJob {
                        version: j.version,
                        merkle_root: Some(j.merkle_root.to_array()),
                        coinbase_prefix: Vec::new(),
                        coinbase_suffix: Vec::new(),
                        merkle_path: Vec::new(),
                    },
                );
                self.jobs_seen.push(j.job_id);
                if j.min_ntime.clone().into_inner().is_some() {
                    self.active_job = Some(j.job_id);
                }
            }
            MiningOwned::NewExtendedMiningJob(j) => {
                self.jobs.insert(
                    j.job_id,
                    MinerJob {
                        version: j.version,
                        merkle_root: None,
                        coinbase_prefix: j.coinbase_tx_prefix.to_owned_bytes(),
                        coinbase_suffix: j.coinbase_tx_suffix.to_owned_bytes(),
                        merkle_path: j
                            .merkle_path
                            .clone()
                            .into_inner()
                            .into_iter()
                            .map(|h| h.to_array())
                            .collect(),
                    },
                );
                self.jobs_seen.push(j.job_id);
                if j.min_ntime.clone().into_inner().is_some() {
                    self.active_job = Some(j.job_id);
                }
            }
            MiningOwned::SetNewPrevHash(p) => {
                self.prev_hash = Some(PrevHash {
                    prev_hash: p.prev_hash.to_array(),
                    min_ntime: p.min_ntime,
                    nbits: p.nbits,
                });
                self.active_job = Some(p.job_id);
            }
            MiningOwned::SetTarget(t) => {
                self.target = t.maximum_target.to_array();
                self.set_targets += 1;
            }
            MiningOwned::SubmitSharesSuccess(s) => {
                self.accepted += u64::from(s.new_submits_accepted_count);
                self.last_answered = Some(s.last_sequence_number);
            }
            MiningOwned::SubmitSharesError(e) => {
                self.rejected
                    .push(String::from_utf8_lossy(e.error_code.as_bytes()).into_owned());
                self.last_answered = Some(e.sequence_number);
            }
            _ => {}
        }
    }

    /// Reads until `pick` finds the message it wants (other messages are kept in
    /// `inbox`); panics after `wait`.
    pub async fn expect<T>(
        &mut self,
        what: &str,
        wait: Duration,
        mut pick: impl FnMut(&AnyMessageOwned) -> Option<T>,
    ) -> T {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let m = self
                .recv(left)
                .await
                .unwrap_or_else(|e| panic!("connection failed waiting for {what}: {e}"))
                .unwrap_or_else(|| panic!("no {what} within {wait:?}"));
            if let Some(t) = pick(&m) {
                return t;
            }
            self.inbox.push(m);
        }
    }

    pub fn setup_connection(flags: u32) -> AnyMessageOwned {
        messages::common(CommonMessagesOwned::SetupConnection(SetupConnectionOwned {
            protocol: Protocol::MiningProtocol,
            min_version: 2,
            max_version: 2,
            flags,
            endpoint_host: Str0255Owned::try_from("127.0.0.1".to_string()).unwrap(),
            endpoint_port: 0,
            vendor: Str0255Owned::try_from("defpool-test".to_string()).unwrap(),
            hardware_version: Str0255Owned::try_from("cpu".to_string()).unwrap(),
            firmware: Str0255Owned::try_from("0".to_string()).unwrap(),
            device_id: Str0255Owned::try_from("sv2-test-miner".to_string()).unwrap(),
        }))
    }

    /// `SetupConnection` and its answer (Success or Error).
    pub async fn setup(&mut self, flags: u32) -> AnyMessageOwned {
        self.send(Self::setup_connection(flags))
            .await
            .expect("send setup");
        self.expect("SetupConnection answer", Duration::from_secs(10), |m| {
            matches!(
                m,
                AnyMessageOwned::Common(
                    CommonMessagesOwned::SetupConnectionSuccess(_)
                        | CommonMessagesOwned::SetupConnectionError(_)
                )
            )
            .then(|| m.clone())
        })
        .await
    }

    pub fn open_standard(request_id: u32, user: &str, hash_rate: f32) -> AnyMessageOwned {
        messages::mining(MiningOwned::OpenStandardMiningChannel(
            OpenStandardMiningChannelOwned {
                request_id,
                user_identity: Str0255Owned::try_from(user.to_string()).unwrap(),
                nominal_hash_rate: hash_rate,
                max_target: U256Owned::from([0xffu8; 32]),
            },
        ))
    }

    pub fn open_extended(
        request_id: u32,
        user: &str,
        hash_rate: f32,
        min_extranonce_size: u16,
    ) -> AnyMessageOwned {
        messages::mining(MiningOwned::OpenExtendedMiningChannel(
            OpenExtendedMiningChannelOwned {
                request_id,
                user_identity: Str0255Owned::try_from(user.to_string()).unwrap(),
                nominal_hash_rate: hash_rate,
                max_target: U256Owned::from([0xffu8; 32]),
                min_extranonce_size,
            },
        ))
    }

    pub fn update_channel(channel_id: u32, hash_rate: f32) -> AnyMessageOwned {
        messages::mining(MiningOwned::UpdateChannel(UpdateChannelOwned {
            channel_id,
            nominal_hash_rate: hash_rate,
            maximum_target: U256Owned::from([0xffu8; 32]),
        }))
    }

    /// Opens a channel (`message` is an Open*MiningChannel) and returns the answer
    /// (Success or OpenMiningChannel.Error).
    pub async fn open(&mut self, message: AnyMessageOwned) -> AnyMessageOwned {
        self.send(message).await.expect("send open channel");
        self.expect("channel answer", Duration::from_secs(10), |m| {
            matches!(
                m,
                AnyMessageOwned::Mining(
                    MiningOwned::OpenStandardMiningChannelSuccess(_)
                        | MiningOwned::OpenExtendedMiningChannelSuccess(_)
                        | MiningOwned::OpenMiningChannelError(_)
                )
            )
            .then(|| m.clone())
        })
        .await
    }

    /// Waits until a job is active (job + previous hash).
    pub async fn wait_for_job(&mut self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while self.active_job.is_none() || self.prev_hash.is_none() {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            assert!(!left.is_zero(), "no active job");
            if let Some(m) = self.recv(left).await.expect("connection up") {
                self.inbox.push(m);
            }
        }
    }

    /// Reads whatever the pool sent meanwhile (jobs, targets, acknowledgements).
    pub async fn drain(&mut self, wait: Duration) -> Result<(), Sv2IoError> {
        while let Some(m) = self.recv(wait).await? {
            self.inbox.push(m);
        }
        Ok(())
    }

    /// The merkle root and extranonce of the active job (extended: a fresh rolled
    /// extranonce each call).
    fn root_for(&mut self, job: &MinerJob) -> ([u8; 32], Vec<u8>) {
        match job.merkle_root {
            Some(root) => (root, Vec::new()),
            None => {
                self.next_extranonce = self.next_extranonce.wrapping_add(1);
                let mut rolled = self.next_extranonce.to_be_bytes().to_vec();
                rolled.resize(self.extranonce_size, 0);
                let mut coinbase = job.coinbase_prefix.clone();
                coinbase.extend_from_slice(&self.extranonce_prefix);
                coinbase.extend_from_slice(&rolled);
                coinbase.extend_from_slice(&job.coinbase_suffix);
                (
                    root_from_branch(&sha256d(&coinbase), &job.merkle_path),
                    rolled,
                )
            }
        }
    }

    /// Hashes up to `max_hashes` headers of the active job; the first that meets the
    /// channel's target.
    pub fn find_share(&mut self, max_hashes: u32) -> Option<Sv2Share> {
        let job_id = self.active_job?;
        let job = self.jobs.get(&job_id)?.clone();
        let prev = self.prev_hash.clone()?;
        let target = Target::from_le_bytes(self.target);
        let (merkle_root, extranonce) = self.root_for(&job);
        for _ in 0..max_hashes {
            let nonce = self.next_nonce;
            self.next_nonce = self.next_nonce.wrapping_add(1);
            let header = BlockHeader {
                version: job.version | self.version_bits,
                prev_hash: prev.prev_hash,
                merkle_root,
                time: prev.min_ntime,
                bits: CompactTarget(prev.nbits),
                nonce,
            };
            let hash = self.algorithm.hash_header(&header.to_bytes());
            if target.is_met_by(&hash) {
                return Some(Sv2Share {
                    job_id,
                    nonce,
                    ntime: prev.min_ntime,
                    version: job.version | self.version_bits,
                    extranonce,
                    hash,
                });
            }
        }
        None
    }

    /// The share's block hash (display order) as the daemon will name the block.
    pub fn block_hash_of(&self, share: &Sv2Share) -> Option<[u8; 32]> {
        let job = self.jobs.get(&share.job_id)?;
        let prev = self.prev_hash.clone()?;
        let merkle_root = match job.merkle_root {
            Some(r) => r,
            None => {
                let mut coinbase = job.coinbase_prefix.clone();
                coinbase.extend_from_slice(&self.extranonce_prefix);
                coinbase.extend_from_slice(&share.extranonce);
                coinbase.extend_from_slice(&job.coinbase_suffix);
                root_from_branch(&sha256d(&coinbase), &job.merkle_path)
            }
        };
        Some(
            BlockHeader {
                version: share.version,
                prev_hash: prev.prev_hash,
                merkle_root,
                time: share.ntime,
                bits: CompactTarget(prev.nbits),
                nonce: share.nonce,
            }
            .block_hash(),
        )
    }

    /// Sends a share; returns its sequence number.
    pub async fn submit(&mut self, share: &Sv2Share) -> u32 {
        let sequence_number = self.next_sequence;
        self.next_sequence += 1;
        let channel_id = self.channel_id.expect("an open channel");
        let message = if self.extranonce_size == 0 && share.extranonce.is_empty() {
            MiningOwned::SubmitSharesStandard(SubmitSharesStandard {
                channel_id,
                sequence_number,
                job_id: share.job_id,
                nonce: share.nonce,
                ntime: share.ntime,
                version: share.version,
            })
        } else {
            MiningOwned::SubmitSharesExtended(SubmitSharesExtendedOwned {
                channel_id,
                sequence_number,
                job_id: share.job_id,
                nonce: share.nonce,
                ntime: share.ntime,
                version: share.version,
                extranonce: B032Owned::new(share.extranonce.clone()).unwrap(),
            })
        };
        self.send(messages::mining(message))
            .await
            .expect("send share");
        sequence_number
    }

    /// Sends a frame of `msg_type` with `payload` as it is, valid or not (through
    /// Noise, so only the SV2 layer sees garbage).
    pub async fn send_raw_frame(&mut self, msg_type: u8, payload: &[u8]) -> Result<(), Sv2IoError> {
        let mut raw = vec![0u8, 0, msg_type];
        raw.extend_from_slice(&(payload.len() as u32).to_le_bytes()[..3]);
        raw.extend_from_slice(payload);
        let frame = noise::Frame::from_bytes(raw).expect("a whole frame");
        self.writer.send(frame).await
    }

    pub fn update_channel_with_target(
        channel_id: u32,
        hash_rate: f32,
        maximum_target: [u8; 32],
    ) -> AnyMessageOwned {
        messages::mining(MiningOwned::UpdateChannel(UpdateChannelOwned {
            channel_id,
            nominal_hash_rate: hash_rate,
            maximum_target: U256Owned::from(maximum_target),
        }))
    }

    /// Sends a raw standard share (for error cases).
    pub async fn submit_raw(&mut self, share: SubmitSharesStandard) -> Result<(), Sv2IoError> {
        self.send(messages::mining(MiningOwned::SubmitSharesStandard(share)))
            .await
    }

    /// Waits until the share with `sequence_number` was answered (success or error).
    pub async fn wait_answered(&mut self, sequence_number: u32) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.last_answered.is_none_or(|s| s < sequence_number) {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            assert!(!left.is_zero(), "share {sequence_number} not answered");
            if let Some(m) = self.recv(left).await.expect("connection up") {
                self.inbox.push(m);
            }
        }
    }

    pub fn next_sequence(&self) -> u32 {
        self.next_sequence
    }
}
