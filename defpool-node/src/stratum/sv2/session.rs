//! One SV2 miner connection in pool (or solo) mode on a Bitcoin-family coin: the
//! Noise handshake, `SetupConnection`, channels, jobs, targets and shares.
//!
//! Same shape as the SV1 Bitcoin session: the session owns its state, shares are
//! hashed here (sha256d inline, scrypt on the blocking pool), accounting goes through
//! the share sink and a block candidate is submitted in its own task by the code SV1
//! uses. What is SV2's own: every request is first put to the connection state
//! machine (`defpool_core::stratum::sv2_state`), which says whether it is legal now
//! and, if not, which protocol error answers it; accepted shares are acknowledged in
//! batches (`SubmitShares.Success` counts several); each channel has its own target
//! and vardiff.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use defpool_core::address;
use defpool_core::pow::bitcoin::{hash_to_display_hex, PowAlgorithm, Target};
use defpool_core::stratum::identity::parse_identity;
use defpool_core::stratum::sv2_state::{Connection, ErrorReply, Rejection};
use defpool_core::vardiff::Vardiff;
use stratum_core::binary_sv2::U256Owned;
use stratum_core::common_messages_sv2::{Protocol, SetupConnectionOwned};
use stratum_core::mining_sv2::{
    OpenExtendedMiningChannelSuccessOwned, OpenStandardMiningChannelSuccessOwned,
    SubmitSharesSuccessOwned,
};
use stratum_core::parsers_sv2::{AnyMessageOwned, MiningOwned};
use tokio::sync::watch;
use tracing::Instrument;

use super::channel::{
    difficulty_for_hashrate, Channel, ChannelKind, ShareError, MAX_EXTENDED_EXTRANONCE,
};
use super::messages::{self, ClientRequest};
use super::noise::{self, FrameReader, FrameWriter, Sv2IoError};
use super::Sv2BitcoinWork;
use crate::store::{now_ms, NewShare};
use crate::stratum::bitcoin::submit_block_task;
use crate::stratum::session_io::{invalid_share, BadMessages};
use crate::stratum::transport::{MinerRead, MinerWrite};
use crate::stratum::PortContext;

/// The one SV2 protocol version there is.
pub const PROTOCOL_VERSION: u16 = 2;
/// `SetupConnection.flags` of the mining protocol (spec, "SetupConnection flags").
pub const REQUIRES_STANDARD_JOBS: u32 = 1 << 0;
pub const REQUIRES_WORK_SELECTION: u32 = 1 << 1;
pub const REQUIRES_VERSION_ROLLING: u32 = 1 << 2;
/// Channels one connection may hold open (a proxy opens one per downstream miner
/// only with group channels, which this pool does not offer).
pub const MAX_CHANNELS: usize = 64;
/// Time a client has to finish the Noise handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Accepted shares acknowledged by one `SubmitShares.Success` at most, and how long
/// an acknowledgement waits for more.
pub const SUCCESS_BATCH: u32 = 8;
pub const SUCCESS_DELAY: Duration = Duration::from_millis(250);

enum End {
    Closed,
    Reason(String),
}

struct Session<W> {
    ctx: Arc<PortContext<Sv2BitcoinWork>>,
    peer: SocketAddr,
    algorithm: PowAlgorithm,
    conn: Connection,
    writer: FrameWriter<W>,
    channels: Vec<Channel>,
    next_channel_id: u32,
    invalid_shares: u32,
    bad: BadMessages,
    /// When pending `SubmitShares.Success` messages are due.
    flush_at: Option<tokio::time::Instant>,
}

/// Serves one SV2 miner until it leaves, misbehaves or the node stops.
pub async fn run_session<R: MinerRead, W: MinerWrite>(
    reader: R,
    writer: W,
    peer: SocketAddr,
    ctx: Arc<PortContext<Sv2BitcoinWork>>,
    stop: watch::Receiver<bool>,
) -> W {
    let id = ctx.shared.session_id();
    let span = tracing::info_span!("session", id, %peer, port = %ctx.port.listen, protocol = "sv2");
    async move {
        let Ok(algorithm) = PowAlgorithm::try_from(ctx.coin.spec().algorithm) else {
            // Ports are built per coin family; a Monero coin never gets here.
            return writer;
        };
        let authority = ctx.work.authority.clone();
        let responder = move || {
            authority.responder().map_err(|e| {
                // Checked at start; a failure here is a bug, not the miner's doing.
                tracing::error!(error = ?e, "authority keys unusable");
                format!("authority keys unusable: {e:?}")
            })
        };
        // Boxed, as every handler below: a task is as large as its largest state,
        // and an idle session should not carry the handshake's or a share's state
        // (the session future is ~1.9 KB this way).
        let (mut reader, writer) =
            match Box::pin(noise::accept(reader, writer, responder, HANDSHAKE_TIMEOUT)).await {
                Ok(halves) => halves,
                Err((e, writer)) => {
                    // Debug, not info: scanners and SV1 miners on the wrong port would
                    // otherwise fill the log.
                    tracing::debug!(error = %e, "noise handshake failed");
                    return writer;
                }
            };
        let mut session = Session {
            ctx,
            peer,
            algorithm,
            conn: Connection::new(MAX_CHANNELS),
            writer,
            channels: Vec::new(),
            next_channel_id: 1,
            invalid_shares: 0,
            bad: BadMessages::new(),
            flush_at: None,
        };
        let end = session.run(&mut reader, stop).await;
        session.conn.close();
        let reason = match &end {
            End::Closed => "closed by the miner".to_string(),
            End::Reason(r) => r.clone(),
        };
        for c in &session.channels {
            session
                .ctx
                .miner_disconnected(&c.identity.address, &c.identity.worker, &reason);
        }
        match end {
            End::Closed => tracing::debug!("session closed by the miner"),
            End::Reason(r) => tracing::info!(reason = %r, "session closed"),
        }
        session.writer.into_inner()
    }
    .instrument(span)
    .await
}

impl<W: MinerWrite> Session<W> {
    async fn run<R: MinerRead>(
        &mut self,
        reader: &mut FrameReader<R>,
        mut stop: watch::Receiver<bool>,
    ) -> End {
        let mut work_rx = self.ctx.work.source.subscribe();
        work_rx.mark_unchanged();
        let idle = self.ctx.settings.idle_timeout;
        let idle_timer = tokio::time::sleep(idle);
        tokio::pin!(idle_timer);
        loop {
            let flush_at = self.flush_at;
            tokio::select! {
                frame = reader.next_frame() => {
                    let mut frame = match frame {
                        Ok(f) => f,
                        Err(Sv2IoError::Closed) => return End::Closed,
                        Err(e) => return End::Reason(e.to_string()),
                    };
                    idle_timer.as_mut().reset(tokio::time::Instant::now() + idle);
                    if let Err(end) = Box::pin(self.handle_frame(&mut frame)).await {
                        let _ = Box::pin(self.flush()).await;
                        return end;
                    }
                }
                changed = work_rx.changed() => {
                    if changed.is_err() {
                        return End::Reason("job source stopped".into());
                    }
                    let work = work_rx.borrow_and_update().clone();
                    if let Some(work) = work {
                        if let Err(end) = Box::pin(self.push_work(work)).await {
                            return end;
                        }
                    }
                }
                _ = tokio::time::sleep_until(flush_at.unwrap_or_else(tokio::time::Instant::now)), if flush_at.is_some() => {
                    if let Err(end) = Box::pin(self.flush()).await {
                        return end;
                    }
                }
                _ = &mut idle_timer => {
                    return End::Reason(format!("idle for {}", humantime::format_duration(idle)));
                }
                r = stop.changed() => {
                    if r.is_err() || *stop.borrow() {
                        return Box::pin(self.shutdown()).await;
                    }
                }
            }
        }
    }

    /// A clean end on node shutdown: pending acknowledgements, then every channel
    /// closed with a reason the miner can log.
    async fn shutdown(&mut self) -> End {
        let _ = self.flush().await;
        let ids: Vec<u32> = self.channels.iter().map(|c| c.id).collect();
        for id in ids {
            if self
                .send(messages::close_channel(id, "pool-shutting-down"))
                .await
                .is_err()
            {
                break;
            }
        }
        End::Reason("node shutting down".into())
    }

    async fn send(&mut self, message: AnyMessageOwned) -> Result<(), End> {
        let frame = messages::frame(message)
            .map_err(|e| End::Reason(format!("cannot frame a message: {e:?}")))?;
        self.writer
            .send(frame)
            .await
            .map_err(|e| End::Reason(e.to_string()))
    }

    fn bad_message(&mut self) -> Result<(), End> {
        self.bad
            .count(self.ctx.settings.max_bad_messages_per_minute)
            .map_err(End::Reason)
    }

    async fn handle_frame(&mut self, frame: &mut noise::Frame) -> Result<(), End> {
        if self.ctx.shared.session_banned(self.peer.ip()) {
            return Err(End::Reason("address is banned".into()));
        }
        let request = match messages::parse_client(frame) {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = ?e, msg_type = frame.header().msg_type(), "undecodable message");
                return self.bad_message();
            }
        };
        if let Err(rejection) = self.conn.on_client(request.kind()) {
            return self.refuse(&request, rejection).await;
        }
        match request {
            ClientRequest::SetupConnection(m) => self.setup(m).await,
            ClientRequest::OpenStandard(m) => {
                let user = String::from_utf8_lossy(m.user_identity.as_bytes()).into_owned();
                self.open_channel(
                    m.request_id,
                    &user,
                    m.nominal_hash_rate,
                    m.max_target.to_array(),
                    ChannelKind::Standard,
                )
                .await
            }
            ClientRequest::OpenExtended(m) => {
                let wanted = usize::from(m.min_extranonce_size);
                if wanted > MAX_EXTENDED_EXTRANONCE {
                    return self
                        .send(messages::open_channel_error(
                            m.request_id,
                            "min-extranonce-size-too-large",
                        ))
                        .await;
                }
                // Asking for nothing gets the whole rollable part.
                let size = if wanted == 0 {
                    MAX_EXTENDED_EXTRANONCE
                } else {
                    wanted
                };
                let user = String::from_utf8_lossy(m.user_identity.as_bytes()).into_owned();
                self.open_channel(
                    m.request_id,
                    &user,
                    m.nominal_hash_rate,
                    m.max_target.to_array(),
                    ChannelKind::Extended {
                        extranonce_size: size,
                    },
                )
                .await
            }
            ClientRequest::UpdateChannel(m) => {
                self.update_channel(
                    m.channel_id,
                    m.nominal_hash_rate,
                    m.maximum_target.to_array(),
                )
                .await
            }
            ClientRequest::SubmitStandard(m) => {
                self.submit(
                    m.channel_id,
                    m.sequence_number,
                    m.job_id,
                    m.nonce,
                    m.ntime,
                    m.version,
                    &[],
                )
                .await
            }
            ClientRequest::SubmitExtended(m) => {
                let rolled = m.extranonce.as_bytes().to_vec();
                self.submit(
                    m.channel_id,
                    m.sequence_number,
                    m.job_id,
                    m.nonce,
                    m.ntime,
                    m.version,
                    &rolled,
                )
                .await
            }
            ClientRequest::CloseChannel(m) => self.close_channel(m.channel_id).await,
            ClientRequest::Unexpected(t) => {
                // The state machine refuses these; kept for completeness of the match.
                Err(End::Reason(format!("unexpected message type {t:#04x}")))
            }
        }
    }

    /// Answers a request the connection's state does not allow.
    async fn refuse(&mut self, request: &ClientRequest, rejection: Rejection) -> Result<(), End> {
        tracing::debug!(request = ?request.kind(), %rejection, "request refused in state {:?}", self.conn.state());
        if rejection.answered() {
            let (id, sequence) = request.reply_ids();
            let code = rejection.code();
            let reply = match request.kind().error_reply() {
                Some(ErrorReply::SetupConnectionError) => Some(messages::setup_error(0, code)),
                Some(ErrorReply::OpenMiningChannelError) => {
                    Some(messages::open_channel_error(id, code))
                }
                Some(ErrorReply::UpdateChannelError) => {
                    Some(messages::update_channel_error(id, code))
                }
                Some(ErrorReply::SubmitSharesError) => {
                    self.ctx
                        .shared
                        .shares_rejected
                        .fetch_add(1, Ordering::Relaxed);
                    Some(messages::submit_error(id, sequence, code))
                }
                None => None,
            };
            if let Some(reply) = reply {
                self.send(reply).await?;
            }
        }
        if rejection.closes() {
            return Err(End::Reason(format!("protocol violation: {rejection}")));
        }
        self.bad_message()
    }

    async fn setup(&mut self, m: SetupConnectionOwned) -> Result<(), End> {
        if m.protocol != Protocol::MiningProtocol {
            self.send(messages::setup_error(0, "unsupported-protocol"))
                .await?;
            return Err(End::Reason("setup refused: not the mining protocol".into()));
        }
        if m.min_version > PROTOCOL_VERSION || m.max_version < PROTOCOL_VERSION {
            self.send(messages::setup_error(0, "protocol-version-mismatch"))
                .await?;
            return Err(End::Reason(format!(
                "setup refused: versions {}..={}",
                m.min_version, m.max_version
            )));
        }
        if m.flags & REQUIRES_WORK_SELECTION != 0 {
            // Custom jobs (job declaration) are not offered by this pool.
            self.send(messages::setup_error(
                REQUIRES_WORK_SELECTION,
                "unsupported-feature-flags",
            ))
            .await?;
            return Err(End::Reason("setup refused: work selection".into()));
        }
        // Standard jobs are what standard channels get; version rolling (BIP 320
        // bits) is allowed on every channel. No flag of ours restricts the miner.
        self.send(messages::setup_success(PROTOCOL_VERSION, 0))
            .await?;
        self.conn
            .setup_accepted()
            .map_err(|e| End::Reason(e.to_string()))?;
        tracing::debug!(
            flags = m.flags,
            vendor = %String::from_utf8_lossy(m.vendor.as_bytes()),
            device = %String::from_utf8_lossy(m.device_id.as_bytes()),
            "connection set up"
        );
        Ok(())
    }

    async fn open_channel(
        &mut self,
        request_id: u32,
        user: &str,
        nominal_hash_rate: f32,
        max_target: [u8; 32],
        kind: ChannelKind,
    ) -> Result<(), End> {
        // The user identity is the login of SV1: ADDRESS[.WORKER][+DIFF].
        let identity = match parse_identity(user, "") {
            Ok(i) => i,
            Err(e) => {
                tracing::info!(error = %e, "channel refused: bad user identity");
                return self
                    .send(messages::open_channel_error(request_id, "unknown-user"))
                    .await;
            }
        };
        if let Err(e) = address::validate(
            self.ctx.coin.spec(),
            self.ctx.coin.network,
            &identity.address,
        ) {
            tracing::info!(error = %e, miner = %identity.address, "channel refused: invalid payout address");
            return self
                .send(messages::open_channel_error(request_id, "unknown-user"))
                .await;
        }
        let max_target = Target::from_le_bytes(max_target);
        let vardiff_cfg = self.ctx.vardiff.clone();
        let mut difficulty = self.ctx.port.difficulty;
        let mut vardiff = None;
        if let Some(d) = identity.fixed_difficulty {
            difficulty = match &vardiff_cfg {
                Some(cfg) => d.clamp(cfg.min, cfg.max),
                None => d.max(self.ctx.port.difficulty),
            };
        } else if let Some(cfg) = &vardiff_cfg {
            difficulty = difficulty_for_hashrate(self.algorithm, nominal_hash_rate, cfg)
                .unwrap_or_else(|| difficulty.clamp(cfg.min, cfg.max));
            vardiff = Some(Vardiff::new(cfg, difficulty, now_ms()));
        }
        let id = self.next_channel_id;
        self.next_channel_id = self.next_channel_id.wrapping_add(1).max(1);
        let extranonce1 = self.ctx.shared.extra_nonce().to_be_bytes();
        let channel = Channel::new(
            id,
            kind,
            identity.clone(),
            extranonce1,
            self.algorithm,
            difficulty,
            max_target,
            vardiff,
        );
        let target = U256Owned::from(channel.sent_target.to_le_bytes());
        let success = match kind {
            ChannelKind::Standard => MiningOwned::OpenStandardMiningChannelSuccess(
                OpenStandardMiningChannelSuccessOwned {
                    request_id,
                    channel_id: id,
                    target,
                    extranonce_prefix: channel.prefix_field(),
                    group_channel_id: 0,
                },
            ),
            ChannelKind::Extended { extranonce_size } => {
                MiningOwned::OpenExtendedMiningChannelSuccess(
                    OpenExtendedMiningChannelSuccessOwned {
                        request_id,
                        channel_id: id,
                        target,
                        extranonce_size: extranonce_size as u16,
                        extranonce_prefix: channel.prefix_field(),
                        group_channel_id: 0,
                    },
                )
            }
        };
        self.send(messages::mining(success)).await?;
        self.conn
            .channel_opened()
            .map_err(|e| End::Reason(e.to_string()))?;
        tracing::info!(
            channel = id,
            kind = ?kind,
            miner = %identity.address,
            worker = %identity.worker,
            solo = identity.solo || self.ctx.port.solo,
            difficulty,
            "channel opened"
        );
        self.ctx
            .miner_connected(&identity.address, &identity.worker, self.peer);
        self.channels.push(channel);
        match self.ctx.work.source.current() {
            Some(work) => {
                let index = self.channels.len() - 1;
                self.send_work(index, work).await
            }
            None => {
                tracing::warn!("no template yet; the channel gets its first job with the next one");
                Ok(())
            }
        }
    }

    /// Sends `work` on one channel: a new target first if it changed, then the job.
    async fn send_work(
        &mut self,
        index: usize,
        work: Arc<crate::mining::BitcoinWork>,
    ) -> Result<(), End> {
        let mut out = Vec::with_capacity(3);
        let channel = &mut self.channels[index];
        if let Some(set_target) = channel.retarget(Some(&work)) {
            out.push(set_target);
        }
        out.extend(channel.job_messages(work));
        let sent_job = out.iter().any(|m| {
            matches!(
                m,
                MiningOwned::NewMiningJob(_) | MiningOwned::NewExtendedMiningJob(_)
            )
        });
        for m in out {
            self.send(messages::mining(m)).await?;
        }
        if sent_job {
            self.conn
                .job_sent()
                .map_err(|e| End::Reason(e.to_string()))?;
        }
        Ok(())
    }

    /// A new template: every channel gets a job (after a vardiff check).
    async fn push_work(&mut self, work: Arc<crate::mining::BitcoinWork>) -> Result<(), End> {
        if let Some(cfg) = self.ctx.vardiff.clone() {
            let now = now_ms();
            for c in &mut self.channels {
                if let Some(v) = c.vardiff.as_mut() {
                    if let Some(d) = v.on_tick(&cfg, now) {
                        c.difficulty = d;
                    }
                }
            }
        }
        for index in 0..self.channels.len() {
            self.send_work(index, work.clone()).await?;
        }
        Ok(())
    }

    async fn update_channel(
        &mut self,
        channel_id: u32,
        nominal_hash_rate: f32,
        maximum_target: [u8; 32],
    ) -> Result<(), End> {
        let Some(index) = self.channels.iter().position(|c| c.id == channel_id) else {
            self.send(messages::update_channel_error(
                channel_id,
                "invalid-channel-id",
            ))
            .await?;
            return self.bad_message();
        };
        let algorithm = self.algorithm;
        let vardiff_cfg = self.ctx.vardiff.clone();
        let current = self.ctx.work.source.current();
        let channel = &mut self.channels[index];
        channel.set_max_target(Target::from_le_bytes(maximum_target));
        // The announced hashrate restarts the channel's vardiff from what it implies.
        if let (Some(cfg), Some(v)) = (&vardiff_cfg, channel.vardiff.as_mut()) {
            if let Some(d) = difficulty_for_hashrate(algorithm, nominal_hash_rate, cfg) {
                *v = Vardiff::new(cfg, d, now_ms());
                channel.difficulty = d;
            }
        }
        if let Some(set_target) = channel.retarget(current.as_deref()) {
            tracing::debug!(
                channel = channel_id,
                difficulty = channel.difficulty,
                "channel updated"
            );
            self.send(messages::mining(set_target)).await?;
        }
        Ok(())
    }

    async fn close_channel(&mut self, channel_id: u32) -> Result<(), End> {
        let Some(index) = self.channels.iter().position(|c| c.id == channel_id) else {
            tracing::debug!(channel = channel_id, "CloseChannel for an unknown channel");
            return self.bad_message();
        };
        self.flush_channel(index).await?;
        let channel = self.channels.remove(index);
        self.conn
            .channel_closed()
            .map_err(|e| End::Reason(e.to_string()))?;
        tracing::info!(channel = channel_id, "channel closed by the miner");
        self.ctx.miner_disconnected(
            &channel.identity.address,
            &channel.identity.worker,
            "channel closed by the miner",
        );
        Ok(())
    }

    /// Sends the pending `SubmitShares.Success` of one channel.
    async fn flush_channel(&mut self, index: usize) -> Result<(), End> {
        let channel = &mut self.channels[index];
        let id = channel.id;
        if let Some(batch) = channel.take_batch() {
            let success = MiningOwned::SubmitSharesSuccess(SubmitSharesSuccessOwned {
                channel_id: id,
                last_sequence_number: batch.last_sequence_number,
                new_submits_accepted_count: batch.count,
                // The spec's "sum of shares" is in difficulty units; fractional
                // difficulties (tiny scrypt ones) round, and a batch never reports 0.
                new_shares_sum: (batch.difficulty_sum.round() as u64).max(1),
            });
            self.send(messages::mining(success)).await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), End> {
        self.flush_at = None;
        for index in 0..self.channels.len() {
            self.flush_channel(index).await?;
        }
        Ok(())
    }

    /// Refuses a share: recorded as rejected, counted towards a ban when it is bad
    /// work, and answered after the channel's pending successes (order kept).
    async fn reject(
        &mut self,
        index: usize,
        sequence_number: u32,
        error: ShareError,
        height: u64,
    ) -> Result<(), End> {
        self.ctx
            .shared
            .shares_rejected
            .fetch_add(1, Ordering::Relaxed);
        let channel = &self.channels[index];
        let channel_id = channel.id;
        let share = NewShare {
            coin: self.ctx.coin.spec().symbol.to_string(),
            miner: channel.identity.address.clone(),
            worker: channel.identity.worker.clone(),
            difficulty: channel.difficulty,
            network_difficulty: 1.0,
            height,
            accepted: false,
            solo: channel.identity.solo || self.ctx.port.solo,
            created_at: now_ms(),
        };
        if self.ctx.sink.submit(share).await.is_err() {
            tracing::error!("share sink stopped");
        }
        tracing::debug!(channel = channel_id, error = %error, "share rejected");
        self.flush_channel(index).await?;
        let code = error.code();
        if error.is_invalid() {
            if let Some(end) = invalid_share(
                &mut self.invalid_shares,
                &self.ctx.shared,
                &self.ctx.settings,
                self.peer.ip(),
            ) {
                let _ = self
                    .send(messages::submit_error(channel_id, sequence_number, &code))
                    .await;
                return Err(End::Reason(end));
            }
        }
        self.send(messages::submit_error(channel_id, sequence_number, &code))
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn submit(
        &mut self,
        channel_id: u32,
        sequence_number: u32,
        job_id: u32,
        nonce: u32,
        ntime: u32,
        version: u32,
        rolled: &[u8],
    ) -> Result<(), End> {
        let Some(index) = self.channels.iter().position(|c| c.id == channel_id) else {
            self.ctx
                .shared
                .shares_rejected
                .fetch_add(1, Ordering::Relaxed);
            self.send(messages::submit_error(
                channel_id,
                sequence_number,
                "invalid-channel-id",
            ))
            .await?;
            return self.bad_message();
        };
        let source = self.ctx.work.source.clone();
        let current = source.current();
        let fallback_height = current.as_ref().map_or(0, |c| c.height);
        let checked = match self.channels[index].check_share(job_id, nonce, ntime, version, rolled)
        {
            Ok(c) => c,
            Err(e) => {
                return self
                    .reject(index, sequence_number, e, fallback_height)
                    .await
            }
        };
        let work = checked.work.clone();
        let is_current_block = current.as_ref().is_some_and(|c| c.height == work.height);
        let stale_for = current
            .as_ref()
            .map(|c| c.height_since.elapsed())
            .unwrap_or_default();
        let grace = self.ctx.settings.stale_grace;
        let solved_long_ago = source.solved_for(work.height).is_some_and(|d| d > grace);
        if solved_long_ago || (!is_current_block && stale_for > grace) {
            return self
                .reject(index, sequence_number, ShareError::Stale, work.height)
                .await;
        }
        let header_bytes = checked.header.to_bytes();
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
                            .send(messages::submit_error(
                                channel_id,
                                sequence_number,
                                "internal-error",
                            ))
                            .await;
                    }
                }
            }
        };
        let Some(difficulty) = self.channels[index].credited_difficulty(&hash) else {
            return self
                .reject(
                    index,
                    sequence_number,
                    ShareError::LowDifficulty,
                    work.height,
                )
                .await;
        };
        let identity = self.channels[index].identity.clone();
        let solo = identity.solo || self.ctx.port.solo;
        let network_difficulty = algorithm.difficulty_of_target(&work.job.network_target());
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

        if is_current_block
            && work.job.network_target().is_met_by(&hash)
            && source.claim_height(work.height)
        {
            match work
                .job
                .block(&checked.extranonce1, &checked.extranonce2, &checked.header)
            {
                Ok(block) => {
                    let hash_hex = hash_to_display_hex(&checked.header.block_hash());
                    tokio::spawn(
                        submit_block_task(
                            self.ctx.clone(),
                            work.clone(),
                            block,
                            hash_hex,
                            identity,
                            solo,
                            network_difficulty,
                        )
                        .instrument(tracing::Span::current()),
                    );
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot assemble the block");
                    source.release_height(work.height);
                }
            }
        }

        let channel = &mut self.channels[index];
        channel.accepted(sequence_number, difficulty);
        if channel.batch.count >= SUCCESS_BATCH {
            self.flush_channel(index).await?;
        } else if self.flush_at.is_none() {
            self.flush_at = Some(tokio::time::Instant::now() + SUCCESS_DELAY);
        }

        if let Some(cfg) = self.ctx.vardiff.clone() {
            let channel = &mut self.channels[index];
            if let Some(v) = channel.vardiff.as_mut() {
                if let Some(d) = v.on_share(&cfg, now_ms()) {
                    tracing::debug!(
                        channel = channel_id,
                        from = channel.difficulty,
                        to = d,
                        "vardiff retarget"
                    );
                    channel.difficulty = d;
                    if let Some(set_target) = channel.retarget(current.as_deref()) {
                        // Acknowledge what was found at the old target first.
                        self.flush_channel(index).await?;
                        self.send(messages::mining(set_target)).await?;
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! A session served in process, against a job source fed by hand: what needs no
    //! daemon (the job flow, targets from announced hash rates, `UpdateChannel`,
    //! batching, shutdown) is tested here; `tests/sv2_pool.rs` mines on litecoind.

    use super::*;
    use crate::accounting::ShareSink;
    use crate::config::Config;
    use crate::events::EventHub;
    use crate::mining::BitcoinSource;
    use crate::store::Store;
    use crate::stratum::sv2::channel::tests::work;
    use crate::stratum::sv2::{Authority, Sv2BitcoinWork};
    use crate::stratum::StratumShared;
    use defpool_core::job::bitcoin::ScriptPubKey;
    use defpool_core::pow::bitcoin::Target;
    use defpool_core::vardiff::VardiffConfig;
    use stratum_core::binary_sv2::{Str0255Owned, U256Owned};
    use stratum_core::common_messages_sv2::{Protocol, SetupConnectionOwned};
    use stratum_core::mining_sv2::{OpenStandardMiningChannelOwned, UpdateChannelOwned};
    use stratum_core::parsers_sv2::CommonMessagesOwned;
    use tokio::net::TcpListener;

    /// A valid LTC regtest P2PKH address (version 0x6f, payload 01..14).
    const MINER: &str = "mfcHP2WMCVLsVZA8yrovmhMgxNFW9r98xw";
    const PUBLIC: &str = "9auqWEzQDVyd2oe1JVGFLMLHZtCo2FFqZwtKA5gd9xbuEu7PH72";
    const SECRET: &str = "mkDLTBBRxdBv998612qipDYoTK3YUrqLe8uWw7gu3iXbSrn2n";

    struct Pool {
        addr: std::net::SocketAddr,
        source: Arc<BitcoinSource>,
        stop: watch::Sender<bool>,
        _dir: tempfile::TempDir,
    }

    async fn pool() -> Pool {
        let dir = tempfile::tempdir().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let listen = listener.local_addr().unwrap();
        let config = Config::from_toml_str(&format!(
            r#"
[[coins]]
symbol = "LTC"
network = "regtest"
pool_address = "{MINER}"

[[ports]]
listen = "{listen}"
protocol = "sv2"
coin = "LTC"
difficulty = 1
authority_public_key = "{PUBLIC}"
authority_secret_key = "{SECRET}"
"#
        ))
        .unwrap();
        let store = Store::connect(
            &format!("sqlite://{}", dir.path().join("db.sqlite").display()),
            4,
        )
        .await
        .unwrap();
        let (sink, _) = ShareSink::start(store, 1024, 10, Duration::from_millis(20));
        let source = BitcoinSource::new(
            &defpool_core::coin::LTC,
            Vec::new(),
            ScriptPubKey::from_bytes(vec![0x51]),
        );
        source.publish(work(100, true));
        let ctx = Arc::new(PortContext {
            port: config.ports[0].clone(),
            coin: config.coins[0].clone(),
            settings: config.stratum.clone(),
            vardiff: Some(VardiffConfig {
                target_seconds: 10.0,
                min: 0.001,
                max: 1000.0,
                ..VardiffConfig::default()
            }),
            work: Sv2BitcoinWork {
                source: source.clone(),
                authority: Authority::from_port(&config.ports[0]).unwrap(),
            },
            sink,
            shared: StratumShared::new(),
            tls: None,
            events: EventHub::new(),
        });
        let (stop, stop_rx) = watch::channel(false);
        tokio::spawn(crate::stratum::serve(listener, ctx, stop_rx));
        Pool {
            addr: listen,
            source,
            stop,
            _dir: dir,
        }
    }

    type Client = (
        FrameReader<tokio::net::tcp::OwnedReadHalf>,
        FrameWriter<tokio::net::tcp::OwnedWriteHalf>,
    );

    async fn client(pool: &Pool) -> Client {
        let stream = tokio::net::TcpStream::connect(pool.addr).await.unwrap();
        let (r, w) = stream.into_split();
        let public = PUBLIC
            .parse::<defpool_core::stratum::sv2_key::AuthorityPublicKey>()
            .unwrap();
        noise::connect(r, w, public.to_bytes()).await.unwrap()
    }

    async fn send(c: &mut Client, m: AnyMessageOwned) {
        c.1.send(messages::frame(m).unwrap()).await.unwrap();
    }

    async fn recv(c: &mut Client) -> AnyMessageOwned {
        let mut f = tokio::time::timeout(Duration::from_secs(10), c.0.next_frame())
            .await
            .expect("a message in time")
            .expect("connection up");
        messages::parse_any(&mut f).unwrap()
    }

    async fn recv_mining(c: &mut Client) -> MiningOwned {
        match recv(c).await {
            AnyMessageOwned::Mining(m) => m,
            other => panic!("{other:?}"),
        }
    }

    fn setup() -> AnyMessageOwned {
        messages::common(CommonMessagesOwned::SetupConnection(SetupConnectionOwned {
            protocol: Protocol::MiningProtocol,
            min_version: 2,
            max_version: 2,
            flags: REQUIRES_STANDARD_JOBS,
            endpoint_host: Str0255Owned::try_from(String::new()).unwrap(),
            endpoint_port: 0,
            vendor: Str0255Owned::try_from(String::new()).unwrap(),
            hardware_version: Str0255Owned::try_from(String::new()).unwrap(),
            firmware: Str0255Owned::try_from(String::new()).unwrap(),
            device_id: Str0255Owned::try_from(String::new()).unwrap(),
        }))
    }

    fn open(user: &str, hash_rate: f32) -> AnyMessageOwned {
        messages::mining(MiningOwned::OpenStandardMiningChannel(
            OpenStandardMiningChannelOwned {
                request_id: 5,
                user_identity: Str0255Owned::try_from(user.to_string()).unwrap(),
                nominal_hash_rate: hash_rate,
                max_target: U256Owned::from([0xff; 32]),
            },
        ))
    }

    fn difficulty_of(target: [u8; 32]) -> f64 {
        PowAlgorithm::Scrypt.difficulty_of_target(&Target::from_le_bytes(target))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn announced_hash_rates_set_the_target_and_new_blocks_reach_the_channel() {
        let pool = pool().await;
        let mut c = client(&pool).await;
        send(&mut c, setup()).await;
        assert!(matches!(
            recv(&mut c).await,
            AnyMessageOwned::Common(CommonMessagesOwned::SetupConnectionSuccess(_))
        ));
        // 65,536 scrypt hashes per second, one share per 10 s: difficulty 10.
        send(&mut c, open(&format!("{MINER}.rig"), 65_536.0)).await;
        let MiningOwned::OpenStandardMiningChannelSuccess(ok) = recv_mining(&mut c).await else {
            panic!("channel refused")
        };
        assert_eq!(ok.request_id, 5);
        let d = difficulty_of(ok.target.to_array());
        assert!((d - 10.0).abs() < 0.01, "{d}");
        let channel = ok.channel_id;
        // The current template: a future job, then the previous hash that starts it.
        let MiningOwned::NewMiningJob(job) = recv_mining(&mut c).await else {
            panic!("no job")
        };
        assert_eq!(job.channel_id, channel);
        assert!(job.min_ntime.clone().into_inner().is_none());
        let MiningOwned::SetNewPrevHash(prev) = recv_mining(&mut c).await else {
            panic!("no prev hash")
        };
        assert_eq!(prev.job_id, job.job_id);

        // UpdateChannel: four times the hash rate, four times the difficulty.
        send(
            &mut c,
            messages::mining(MiningOwned::UpdateChannel(UpdateChannelOwned {
                channel_id: channel,
                nominal_hash_rate: 4.0 * 65_536.0,
                maximum_target: U256Owned::from([0xff; 32]),
            })),
        )
        .await;
        let MiningOwned::SetTarget(t) = recv_mining(&mut c).await else {
            panic!("no SetTarget")
        };
        let d = difficulty_of(t.maximum_target.to_array());
        assert!((d - 40.0).abs() < 0.04, "{d}");

        // A new block reaches the open channel as a future job and its prev hash.
        pool.source.publish(work(101, true));
        let MiningOwned::NewMiningJob(next) = recv_mining(&mut c).await else {
            panic!("no job for the new block")
        };
        assert!(next.job_id != job.job_id);
        let MiningOwned::SetNewPrevHash(prev2) = recv_mining(&mut c).await else {
            panic!("no prev hash for the new block")
        };
        assert_eq!(prev2.job_id, next.job_id);
        assert_ne!(prev2.prev_hash.to_array(), prev.prev_hash.to_array());

        // Shutdown: every channel is closed with a reason.
        pool.stop.send(true).unwrap();
        let MiningOwned::CloseChannel(close) = recv_mining(&mut c).await else {
            panic!("no CloseChannel")
        };
        assert_eq!(close.channel_id, channel);
        assert_eq!(close.reason_code.as_bytes(), b"pool-shutting-down");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn accepted_shares_are_acknowledged_together() {
        let pool = pool().await;
        let mut c = client(&pool).await;
        send(&mut c, setup()).await;
        recv(&mut c).await;
        // A fixed, tiny difficulty (vardiff's minimum): shares in a few hundred hashes.
        send(&mut c, open(&format!("{MINER}.rig+0.001"), 0.0)).await;
        let MiningOwned::OpenStandardMiningChannelSuccess(ok) = recv_mining(&mut c).await else {
            panic!("channel refused")
        };
        let target = Target::from_le_bytes(ok.target.to_array());
        let MiningOwned::NewMiningJob(job) = recv_mining(&mut c).await else {
            panic!()
        };
        let MiningOwned::SetNewPrevHash(prev) = recv_mining(&mut c).await else {
            panic!()
        };
        let mut found = Vec::new();
        let mut nonce = 0u32;
        while found.len() < 3 {
            let header = defpool_core::job::bitcoin::BlockHeader {
                version: job.version,
                prev_hash: prev.prev_hash.to_array(),
                merkle_root: job.merkle_root.to_array(),
                time: prev.min_ntime,
                bits: defpool_core::pow::bitcoin::CompactTarget(prev.nbits),
                nonce,
            };
            if target.is_met_by(&PowAlgorithm::Scrypt.hash_header(&header.to_bytes())) {
                found.push(nonce);
            }
            nonce += 1;
        }
        for (i, nonce) in found.iter().enumerate() {
            send(
                &mut c,
                messages::mining(MiningOwned::SubmitSharesStandard(
                    stratum_core::mining_sv2::SubmitSharesStandard {
                        channel_id: ok.channel_id,
                        sequence_number: 10 + i as u32,
                        job_id: job.job_id,
                        nonce: *nonce,
                        ntime: prev.min_ntime,
                        version: job.version,
                    },
                )),
            )
            .await;
        }
        // One acknowledgement for all three, after the batch delay.
        let MiningOwned::SubmitSharesSuccess(s) = recv_mining(&mut c).await else {
            panic!("no SubmitShares.Success")
        };
        assert_eq!(s.channel_id, ok.channel_id);
        assert_eq!(s.new_submits_accepted_count, 3);
        assert_eq!(s.last_sequence_number, 12);
        // A duplicate is refused at once, with the spec's code.
        send(
            &mut c,
            messages::mining(MiningOwned::SubmitSharesStandard(
                stratum_core::mining_sv2::SubmitSharesStandard {
                    channel_id: ok.channel_id,
                    sequence_number: 13,
                    job_id: job.job_id,
                    nonce: found[0],
                    ntime: prev.min_ntime,
                    version: job.version,
                },
            )),
        )
        .await;
        let MiningOwned::SubmitSharesError(e) = recv_mining(&mut c).await else {
            panic!("no SubmitShares.Error")
        };
        assert_eq!(e.sequence_number, 13);
        assert_eq!(e.error_code.as_bytes(), b"duplicate-share");
        let _ = pool.stop.send(true);
    }
}
