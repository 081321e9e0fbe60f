//! SV2 frames over Noise NX on a miner connection: the handshake (as the pool's
//! responder, or as an initiator for our test miner and tests), then encrypted frames
//! in both directions.
//!
//! The SRI codec wants its buffer filled with exactly the bytes it asks for next
//! (`writable()`), while our connection halves hand over whatever arrived. The reader
//! keeps what arrived in its own buffer and feeds the codec from it, so a read that is
//! cancelled (the session `select!`s on it) loses nothing. Each half owns its own half
//! of the Noise state, so jobs can be written while a read waits.

use std::io;
use std::time::Duration;

use stratum_core::codec_sv2::{
    self, Decoded, Decrypted, EncodableFrame, Handshake, HandshakeMessage, NoiseDecoder,
    NoiseEncoder, TransportDecryptState, TransportEncryptState,
};
use stratum_core::noise_sv2::{
    Initiator, Responder, ELLSWIFT_ENCODING_SIZE, INITIATOR_EXPECTED_HANDSHAKE_MESSAGE_SIZE,
};

use crate::stratum::session_io::send_to_miner;
use crate::stratum::transport::{MinerRead, MinerWrite};

/// One decrypted frame: header and payload.
pub type Frame = codec_sv2::SerializedFrame;

/// Largest encrypted frame a miner may send. Client messages are small (a
/// `SetupConnection` with every string at its 255-byte maximum is ~1.3 KiB); the
/// frame header allows 16 MiB, which the codec would otherwise buffer for anyone.
pub const MAX_CLIENT_FRAME_BYTES: usize = 16 * 1024;

/// Why a connection cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum Sv2IoError {
    #[error("connection closed by the peer")]
    Closed,
    #[error("read failed: {0}")]
    Io(#[from] io::Error),
    #[error("{0}")]
    Write(String),
    #[error("noise handshake failed: {0}")]
    Handshake(String),
    #[error("undecodable or unauthenticated frame: {0}")]
    Codec(String),
    #[error("frame larger than {MAX_CLIENT_FRAME_BYTES} bytes")]
    FrameTooLarge,
    #[error("no noise handshake within {0:?}")]
    HandshakeTimeout(Duration),
}

fn codec_error(e: codec_sv2::Error) -> Sv2IoError {
    Sv2IoError::Codec(e.to_string())
}

/// The reading half: decrypts frames from the peer.
pub struct FrameReader<R> {
    reader: R,
    decoder: NoiseDecoder,
    /// `None` only while the codec holds it, or after a fatal decryption error.
    state: Option<TransportDecryptState>,
    /// Bytes read from the socket that the codec has not asked for yet.
    inbound: Vec<u8>,
    /// Bytes given to the codec since the last whole frame (the frame-size bound).
    in_frame: usize,
}

/// The writing half: encrypts frames to the peer.
pub struct FrameWriter<W> {
    writer: W,
    encoder: NoiseEncoder,
    state: TransportEncryptState,
}

/// Feeds `decoder` the `writable_len()` bytes it wants, reading more when needed.
async fn fill<R: MinerRead>(
    reader: &mut R,
    inbound: &mut Vec<u8>,
    need: usize,
    put: impl FnOnce(&[u8]),
) -> Result<(), Sv2IoError> {
    while inbound.len() < need {
        match reader.read_into(inbound).await {
            Ok(0) => return Err(Sv2IoError::Closed),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                // A spurious wake-up still reserved a read chunk: give it back, or a
                // silent connection keeps 4 KiB for as long as it stays.
                if inbound.is_empty() {
                    *inbound = Vec::new();
                }
            }
            Err(e) => return Err(Sv2IoError::Io(e)),
        }
    }
    put(&inbound[..need]);
    inbound.drain(..need);
    if inbound.is_empty() {
        // A read reserves a 4 KiB chunk; an idle session must not keep it (the
        // next read waits for readiness before it allocates).
        *inbound = Vec::new();
    }
    Ok(())
}

/// The pool side of the handshake: reads the initiator's ephemeral key, answers with
/// ours and the certificate signed by the authority. `responder` makes the Noise
/// responder once the initiator's first message is in, so a connection that sends
/// nothing holds no key material. On failure the writing half is handed back with the
/// error, so the caller can still close it.
#[allow(clippy::type_complexity)]
pub async fn accept<R: MinerRead, W: MinerWrite>(
    mut reader: R,
    mut writer: W,
    responder: impl FnOnce() -> Result<Box<Responder>, String>,
    timeout: Duration,
) -> Result<(FrameReader<R>, FrameWriter<W>), (Sv2IoError, W)> {
    let mut decoder = NoiseDecoder::new();
    let mut encoder = NoiseEncoder::new();
    let mut inbound = Vec::new();
    let handshake = respond(
        &mut reader,
        &mut writer,
        &mut decoder,
        &mut encoder,
        &mut inbound,
        responder,
    );
    let transport = match tokio::time::timeout(timeout, handshake).await {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => return Err((e, writer)),
        Err(_) => return Err((Sv2IoError::HandshakeTimeout(timeout), writer)),
    };
    let (encrypt, decrypt) = transport.split();
    Ok((
        FrameReader {
            reader,
            decoder,
            state: Some(decrypt),
            inbound,
            in_frame: 0,
        },
        FrameWriter {
            writer,
            encoder,
            state: encrypt,
        },
    ))
}

async fn respond<R: MinerRead, W: MinerWrite>(
    reader: &mut R,
    writer: &mut W,
    decoder: &mut NoiseDecoder,
    encoder: &mut NoiseEncoder,
    inbound: &mut Vec<u8>,
    responder: impl FnOnce() -> Result<Box<Responder>, String>,
) -> Result<codec_sv2::Transport, Sv2IoError> {
    let first = loop {
        match decoder
            .next_handshake_frame::<Responder>()
            .map_err(codec_error)?
        {
            Decoded::Frame(m) => break m,
            Decoded::Incomplete(_) => {
                let need = decoder.writable_len();
                fill(reader, inbound, need, |b| {
                    decoder.writable().copy_from_slice(b)
                })
                .await?
            }
        }
    };
    let ephemeral: [u8; ELLSWIFT_ENCODING_SIZE] = first
        .payload()
        .try_into()
        .map_err(|_| Sv2IoError::Handshake("first message has the wrong size".into()))?;
    let responder = responder().map_err(Sv2IoError::Handshake)?;
    let (reply, transport) = Handshake::responder(responder)
        .step_1(ephemeral)
        .map_err(|e| Sv2IoError::Handshake(e.to_string()))?;
    let bytes = encoder.encode_handshake(reply);
    send_to_miner(writer, bytes.as_ref())
        .await
        .map_err(Sv2IoError::Write)?;
    Ok(transport)
}

/// The miner side of the handshake, pinning the pool's authority public key (x-only,
/// 32 bytes). Used by our SV2 test miner and the tests.
pub async fn connect<R: MinerRead, W: MinerWrite>(
    mut reader: R,
    mut writer: W,
    authority_public_key: [u8; 32],
) -> Result<(FrameReader<R>, FrameWriter<W>), Sv2IoError> {
    let mut decoder = NoiseDecoder::new();
    let mut encoder = NoiseEncoder::new();
    let mut inbound = Vec::new();
    let initiator = Initiator::from_raw_k(authority_public_key)
        .map_err(|e| Sv2IoError::Handshake(format!("{e:?}")))?;
    let (first, sent) = Handshake::initiator(initiator)
        .step_0()
        .map_err(|e| Sv2IoError::Handshake(e.to_string()))?;
    let bytes = encoder.encode_handshake(first);
    send_to_miner(&mut writer, bytes.as_ref())
        .await
        .map_err(Sv2IoError::Write)?;
    let reply: HandshakeMessage = loop {
        match decoder
            .next_handshake_frame::<codec_sv2::InitiatorSent>()
            .map_err(codec_error)?
        {
            Decoded::Frame(m) => break m,
            Decoded::Incomplete(_) => {
                let need = decoder.writable_len();
                fill(&mut reader, &mut inbound, need, |b| {
                    decoder.writable().copy_from_slice(b)
                })
                .await?
            }
        }
    };
    let reply: [u8; INITIATOR_EXPECTED_HANDSHAKE_MESSAGE_SIZE] = reply
        .payload()
        .try_into()
        .map_err(|_| Sv2IoError::Handshake("second message has the wrong size".into()))?;
    // step_2 checks the certificate: signed by the pinned authority and in validity.
    let transport = sent
        .step_2(reply)
        .map_err(|e| Sv2IoError::Handshake(e.to_string()))?;
    let (encrypt, decrypt) = transport.split();
    Ok((
        FrameReader {
            reader,
            decoder,
            state: Some(decrypt),
            inbound,
            in_frame: 0,
        },
        FrameWriter {
            writer,
            encoder,
            state: encrypt,
        },
    ))
}

impl<R: MinerRead> FrameReader<R> {
    /// The next whole frame from the peer. Cancel-safe: bytes already read stay
    /// buffered for the next call.
    pub async fn next_frame(&mut self) -> Result<Frame, Sv2IoError> {
        loop {
            // Noise cannot resynchronise after a failed frame: the error is final.
            let state = self
                .state
                .take()
                .ok_or_else(|| Sv2IoError::Codec("the connection failed earlier".into()))?;
            match self
                .decoder
                .next_transport_frame(state)
                .map_err(codec_error)?
            {
                Decrypted::Frame(frame, state) => {
                    self.state = Some(state);
                    self.in_frame = 0;
                    return Ok(frame);
                }
                Decrypted::Incomplete(_, state) => {
                    self.state = Some(state);
                    let need = self.decoder.writable_len();
                    if need == 0 {
                        return Err(Sv2IoError::Codec("codec asked for no bytes".into()));
                    }
                    if self.in_frame + need > MAX_CLIENT_FRAME_BYTES {
                        return Err(Sv2IoError::FrameTooLarge);
                    }
                    let decoder = &mut self.decoder;
                    fill(&mut self.reader, &mut self.inbound, need, |b| {
                        decoder.writable().copy_from_slice(b)
                    })
                    .await?;
                    // Counted once the bytes are in: a cancelled read asks again.
                    self.in_frame += need;
                }
            }
        }
    }
}

impl<W: MinerWrite> FrameWriter<W> {
    /// Encrypts and writes one frame.
    pub async fn send<F: EncodableFrame>(&mut self, frame: F) -> Result<(), Sv2IoError> {
        let bytes = self
            .encoder
            .encode_transport(frame, &mut self.state)
            .map_err(codec_error)?;
        send_to_miner(&mut self.writer, bytes.as_ref())
            .await
            .map_err(Sv2IoError::Write)
    }

    /// The connection's writing half, to close it.
    pub fn into_inner(self) -> W {
        self.writer
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stratum::sv2::messages::{self, parse_any, parse_client, ClientRequest};
    use defpool_core::stratum::sv2_key::{AuthorityPublicKey, AuthoritySecretKey};
    use stratum_core::binary_sv2::{B064KOwned, Seq0255Owned, Str0255Owned, Sv2OptionOwned};
    use stratum_core::common_messages_sv2::{Protocol, SetupConnectionOwned};
    use stratum_core::mining_sv2::NewExtendedMiningJobOwned;
    use stratum_core::parsers_sv2::{AnyMessageOwned, CommonMessagesOwned, MiningOwned};
    use tokio::io::{AsyncWriteExt, DuplexStream, ReadHalf, WriteHalf};

    const PUBLIC: &str = "9auqWEzQDVyd2oe1JVGFLMLHZtCo2FFqZwtKA5gd9xbuEu7PH72";
    const SECRET: &str = "mkDLTBBRxdBv998612qipDYoTK3YUrqLe8uWw7gu3iXbSrn2n";

    type Half = (ReadHalf<DuplexStream>, WriteHalf<DuplexStream>);

    fn pipe() -> (Half, Half) {
        let (a, b) = tokio::io::duplex(1 << 16);
        (tokio::io::split(a), tokio::io::split(b))
    }

    fn public() -> [u8; 32] {
        PUBLIC.parse::<AuthorityPublicKey>().unwrap().to_bytes()
    }

    fn responder() -> impl FnOnce() -> Result<Box<Responder>, String> {
        || {
            let secret = SECRET.parse::<AuthoritySecretKey>().unwrap().to_bytes();
            Responder::from_authority_kp(&public(), &secret, Duration::from_secs(3600))
                .map_err(|e| format!("{e:?}"))
        }
    }

    fn setup_connection() -> AnyMessageOwned {
        messages::common(CommonMessagesOwned::SetupConnection(SetupConnectionOwned {
            protocol: Protocol::MiningProtocol,
            min_version: 2,
            max_version: 2,
            flags: 0b101,
            endpoint_host: Str0255Owned::try_from("pool.example".to_string()).unwrap(),
            endpoint_port: 3336,
            vendor: Str0255Owned::try_from("vendor".to_string()).unwrap(),
            hardware_version: Str0255Owned::try_from("hw".to_string()).unwrap(),
            firmware: Str0255Owned::try_from("fw".to_string()).unwrap(),
            device_id: Str0255Owned::try_from("rig-7".to_string()).unwrap(),
        }))
    }

    #[tokio::test]
    async fn our_initiator_and_responder_agree_and_carry_frames_both_ways() {
        let ((sr, sw), (cr, cw)) = pipe();
        let server = tokio::spawn(async move {
            accept(sr, sw, responder(), Duration::from_secs(5))
                .await
                .map_err(|(e, _)| e)
        });
        let (mut client_r, mut client_w) = connect(cr, cw, public()).await.expect("initiator");
        let (mut server_r, mut server_w) = server.await.unwrap().expect("responder");

        // Client to pool: SetupConnection arrives with every field.
        client_w
            .send(messages::frame(setup_connection()).unwrap())
            .await
            .unwrap();
        let mut frame = server_r.next_frame().await.unwrap();
        match parse_client(&mut frame).unwrap() {
            ClientRequest::SetupConnection(s) => {
                assert_eq!(s.protocol, Protocol::MiningProtocol);
                assert_eq!((s.min_version, s.max_version, s.flags), (2, 2, 0b101));
                assert_eq!(s.device_id.as_bytes(), b"rig-7");
                assert_eq!(s.endpoint_port, 3336);
            }
            other => panic!("{other:?}"),
        }

        // Pool to client, several frames back to back (the reader must split them).
        server_w
            .send(messages::frame(messages::setup_success(2, 0)).unwrap())
            .await
            .unwrap();
        server_w
            .send(messages::frame(messages::submit_error(3, 9, "stale-share")).unwrap())
            .await
            .unwrap();
        let mut f = client_r.next_frame().await.unwrap();
        assert!(matches!(
            parse_any(&mut f).unwrap(),
            AnyMessageOwned::Common(CommonMessagesOwned::SetupConnectionSuccess(s))
                if s.used_version == 2 && s.flags == 0
        ));
        let mut f = client_r.next_frame().await.unwrap();
        match parse_any(&mut f).unwrap() {
            AnyMessageOwned::Mining(MiningOwned::SubmitSharesError(e)) => {
                assert_eq!((e.channel_id, e.sequence_number), (3, 9));
                assert_eq!(e.error_code.as_bytes(), b"stale-share");
            }
            other => panic!("{other:?}"),
        }

        // A closed peer is `Closed`, not an error to log.
        drop(client_w);
        drop(client_r);
        assert!(matches!(
            server_r.next_frame().await,
            Err(Sv2IoError::Closed)
        ));
    }

    #[tokio::test]
    async fn an_initiator_pinning_another_authority_refuses_the_certificate() {
        let ((sr, sw), (cr, cw)) = pipe();
        let _server = tokio::spawn(async move {
            let _ = accept(sr, sw, responder(), Duration::from_secs(5)).await;
        });
        let mut other = public();
        other[0] ^= 1;
        // A flipped bit may not even be a curve point; either way no transport.
        let r = connect(cr, cw, other).await;
        assert!(matches!(r, Err(Sv2IoError::Handshake(_))), "{:?}", r.err());
    }

    #[tokio::test]
    async fn a_silent_client_times_out_in_the_handshake() {
        let ((sr, sw), (_cr, mut cw)) = pipe();
        cw.write_all(&[1u8; 10]).await.unwrap();
        let r = accept(sr, sw, responder(), Duration::from_millis(200)).await;
        assert!(matches!(r, Err((Sv2IoError::HandshakeTimeout(_), _))));
    }

    #[tokio::test]
    async fn garbage_after_the_handshake_ends_the_connection_without_panicking() {
        let ((sr, sw), (cr, cw)) = pipe();
        let server = tokio::spawn(async move {
            accept(sr, sw, responder(), Duration::from_secs(5))
                .await
                .map_err(|(e, _)| e)
        });
        let (_client_r, client_w) = connect(cr, cw, public()).await.unwrap();
        let (mut server_r, _server_w) = server.await.unwrap().unwrap();
        let mut raw = client_w.into_inner();
        raw.write_all(&[0x42u8; 200]).await.unwrap();
        let r = server_r.next_frame().await;
        assert!(matches!(r, Err(Sv2IoError::Codec(_))), "{:?}", r.err());
        // Noise cannot resynchronise: the reader stays failed.
        assert!(server_r.next_frame().await.is_err());
    }

    #[tokio::test]
    async fn a_frame_over_the_client_limit_is_refused_before_it_is_buffered() {
        let ((sr, sw), (cr, cw)) = pipe();
        let server = tokio::spawn(async move {
            accept(sr, sw, responder(), Duration::from_secs(5))
                .await
                .map_err(|(e, _)| e)
        });
        let (_client_r, mut client_w) = connect(cr, cw, public()).await.unwrap();
        let (mut server_r, _server_w) = server.await.unwrap().unwrap();
        // A server message with a 40 KiB coinbase: valid SV2, but no client sends it.
        let big = messages::mining(MiningOwned::NewExtendedMiningJob(
            NewExtendedMiningJobOwned {
                channel_id: 1,
                job_id: 1,
                min_ntime: Sv2OptionOwned::new(None),
                version: 0x2000_0000,
                version_rolling_allowed: true,
                merkle_path: Seq0255Owned::new(Vec::new()).unwrap(),
                coinbase_tx_prefix: B064KOwned::new(vec![0u8; 40 * 1024]).unwrap(),
                coinbase_tx_suffix: B064KOwned::new(Vec::new()).unwrap(),
            },
        ));
        let writer = tokio::spawn(async move {
            let _ = client_w.send(messages::frame(big).unwrap()).await;
            client_w
        });
        let r = server_r.next_frame().await;
        assert!(matches!(r, Err(Sv2IoError::FrameTooLarge)), "{:?}", r.err());
        drop(server_r);
        let _ = writer.await;
    }
}
