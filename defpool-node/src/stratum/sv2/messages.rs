//! SV2 messages between frames and what the session handles: the client requests
//! a pool serves, read from a decrypted frame, and the server messages, made into a
//! frame. Types and binary encoding are SRI's (`parsers_sv2`, `mining_sv2`,
//! `common_messages_sv2`); this file only picks the ones the pool role uses.

use defpool_core::stratum::sv2_state::ClientMessage;
use stratum_core::binary_sv2::Str0255Owned;
use stratum_core::codec_sv2::MessageFrame;
use stratum_core::common_messages_sv2::{
    SetupConnectionErrorOwned, SetupConnectionOwned, SetupConnectionSuccessOwned,
};
use stratum_core::mining_sv2::{
    CloseChannelOwned, OpenExtendedMiningChannelOwned, OpenMiningChannelErrorOwned,
    OpenStandardMiningChannelOwned, SubmitSharesErrorOwned, SubmitSharesExtendedOwned,
    SubmitSharesStandard, UpdateChannelErrorOwned, UpdateChannelOwned,
};
use stratum_core::parsers_sv2::{
    AnyMessage, AnyMessageOwned, CommonMessagesOwned, MiningOwned, ParserError,
};

use super::noise::Frame;

/// A frame ready to encrypt.
pub type OutFrame = MessageFrame<AnyMessageOwned>;

/// What a miner (or proxy) may ask of the pool.
#[derive(Clone, Debug)]
pub enum ClientRequest {
    SetupConnection(SetupConnectionOwned),
    OpenStandard(OpenStandardMiningChannelOwned),
    OpenExtended(OpenExtendedMiningChannelOwned),
    UpdateChannel(UpdateChannelOwned),
    SubmitStandard(SubmitSharesStandard),
    SubmitExtended(SubmitSharesExtendedOwned),
    CloseChannel(CloseChannelOwned),
    /// A valid SV2 message a client does not send to a pool, by its type byte.
    Unexpected(u8),
}

impl ClientRequest {
    /// The request as the connection state machine sees it.
    pub fn kind(&self) -> ClientMessage {
        match self {
            ClientRequest::SetupConnection(_) => ClientMessage::SetupConnection,
            ClientRequest::OpenStandard(_) | ClientRequest::OpenExtended(_) => {
                ClientMessage::OpenChannel
            }
            ClientRequest::UpdateChannel(_) => ClientMessage::UpdateChannel,
            ClientRequest::SubmitStandard(_) | ClientRequest::SubmitExtended(_) => {
                ClientMessage::SubmitShares
            }
            ClientRequest::CloseChannel(_) => ClientMessage::CloseChannel,
            ClientRequest::Unexpected(_) => ClientMessage::Unexpected,
        }
    }

    /// The request id or channel id an error reply must carry, and the share's
    /// sequence number: `(request or channel id, sequence number)`.
    pub fn reply_ids(&self) -> (u32, u32) {
        match self {
            ClientRequest::OpenStandard(m) => (m.request_id, 0),
            ClientRequest::OpenExtended(m) => (m.request_id, 0),
            ClientRequest::UpdateChannel(m) => (m.channel_id, 0),
            ClientRequest::SubmitStandard(m) => (m.channel_id, m.sequence_number),
            ClientRequest::SubmitExtended(m) => (m.channel_id, m.sequence_number),
            ClientRequest::CloseChannel(m) => (m.channel_id, 0),
            ClientRequest::SetupConnection(_) | ClientRequest::Unexpected(_) => (0, 0),
        }
    }
}

/// Any SV2 message in a frame, owned (the test miner reads server messages this way).
pub fn parse_any(frame: &mut Frame) -> Result<AnyMessageOwned, ParserError> {
    let header = frame.header();
    let message = AnyMessage::try_from((header, frame.payload()))?;
    Ok(message.into_owned())
}

/// A client request from a frame; a frame that is not a valid SV2 message is an
/// error, a valid message the pool does not take is [`ClientRequest::Unexpected`].
pub fn parse_client(frame: &mut Frame) -> Result<ClientRequest, ParserError> {
    let msg_type = frame.header().msg_type();
    Ok(match parse_any(frame)? {
        AnyMessageOwned::Common(CommonMessagesOwned::SetupConnection(m)) => {
            ClientRequest::SetupConnection(m)
        }
        AnyMessageOwned::Mining(m) => match m {
            MiningOwned::OpenStandardMiningChannel(m) => ClientRequest::OpenStandard(m),
            MiningOwned::OpenExtendedMiningChannel(m) => ClientRequest::OpenExtended(m),
            MiningOwned::UpdateChannel(m) => ClientRequest::UpdateChannel(m),
            MiningOwned::SubmitSharesStandard(m) => ClientRequest::SubmitStandard(m),
            MiningOwned::SubmitSharesExtended(m) => ClientRequest::SubmitExtended(m),
            MiningOwned::CloseChannel(m) => ClientRequest::CloseChannel(m),
            _ => ClientRequest::Unexpected(msg_type),
        },
        _ => ClientRequest::Unexpected(msg_type),
    })
}

/// Reads a byte stream of unencrypted SV2 frames into client requests, frame by
/// frame, as a session does after Noise has decrypted them. A truncated last frame is
/// left out. For the fuzz target (`fuzz/fuzz_targets/sv2_frame.rs`) and its seed-corpus
/// test: the parsing a miner can reach, without the encryption in front of it.
pub fn parse_unencrypted(bytes: &[u8]) -> Vec<Result<ClientRequest, ParserError>> {
    use stratum_core::codec_sv2::{Decoded, Decoder};
    let mut decoder = Decoder::new();
    let mut requests = Vec::new();
    let mut at = 0;
    loop {
        match decoder.next_frame() {
            Ok(Decoded::Frame(mut frame)) => requests.push(parse_client(&mut frame)),
            Ok(Decoded::Incomplete(_)) => {
                let need = decoder.writable_len();
                if need == 0 || at + need > bytes.len() {
                    return requests;
                }
                decoder.writable().copy_from_slice(&bytes[at..at + need]);
                at += need;
            }
            Err(_) => return requests,
        }
    }
}

/// A frame for a message; only a message over the frame's 16 MiB limit fails, which
/// nothing the pool sends comes near.
pub fn frame(message: AnyMessageOwned) -> Result<OutFrame, ParserError> {
    MessageFrame::try_from(message)
}

pub fn mining(message: MiningOwned) -> AnyMessageOwned {
    AnyMessageOwned::Mining(message)
}

pub fn common(message: CommonMessagesOwned) -> AnyMessageOwned {
    AnyMessageOwned::Common(message)
}

/// An error code as the protocol's `STR0_255`; codes are ours and short.
pub fn error_code(code: &str) -> Str0255Owned {
    let mut code = code.as_bytes().to_vec();
    code.truncate(255);
    Str0255Owned::new(code).expect("at most 255 bytes always fit a STR0_255")
}

pub fn setup_success(used_version: u16, flags: u32) -> AnyMessageOwned {
    common(CommonMessagesOwned::SetupConnectionSuccess(
        SetupConnectionSuccessOwned {
            used_version,
            flags,
        },
    ))
}

pub fn setup_error(flags: u32, code: &str) -> AnyMessageOwned {
    common(CommonMessagesOwned::SetupConnectionError(
        SetupConnectionErrorOwned {
            flags,
            error_code: error_code(code),
        },
    ))
}

pub fn open_channel_error(request_id: u32, code: &str) -> AnyMessageOwned {
    mining(MiningOwned::OpenMiningChannelError(
        OpenMiningChannelErrorOwned {
            request_id,
            error_code: error_code(code),
        },
    ))
}

pub fn update_channel_error(channel_id: u32, code: &str) -> AnyMessageOwned {
    mining(MiningOwned::UpdateChannelError(UpdateChannelErrorOwned {
        channel_id,
        error_code: error_code(code),
    }))
}

pub fn submit_error(channel_id: u32, sequence_number: u32, code: &str) -> AnyMessageOwned {
    mining(MiningOwned::SubmitSharesError(SubmitSharesErrorOwned {
        channel_id,
        sequence_number,
        error_code: error_code(code),
    }))
}

pub fn close_channel(channel_id: u32, reason: &str) -> AnyMessageOwned {
    mining(MiningOwned::CloseChannel(CloseChannelOwned {
        channel_id,
        reason_code: error_code(reason),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use stratum_core::binary_sv2::{B032Owned, U256Owned};
    use stratum_core::codec_sv2::{Decoded, Decoder, Encoder};
    use stratum_core::mining_sv2::{
        NewMiningJobOwned, OpenStandardMiningChannelOwned, SetNewPrevHashOwned, SetTargetOwned,
        SubmitSharesSuccessOwned,
    };

    /// Encodes a message as a plain SV2 frame and decodes it again, as the Noise
    /// layer does around the encryption.
    fn round_trip(message: AnyMessageOwned) -> Frame {
        let mut encoder = Encoder::new();
        let bytes: Vec<u8> = encoder.encode(frame(message).unwrap()).unwrap();
        let mut decoder = Decoder::new();
        let mut at = 0;
        loop {
            match decoder.next_frame().unwrap() {
                Decoded::Frame(f) => {
                    assert_eq!(at, bytes.len(), "one frame uses every byte");
                    return f;
                }
                Decoded::Incomplete(_) => {
                    let w = decoder.writable();
                    let n = w.len();
                    w.copy_from_slice(&bytes[at..at + n]);
                    at += n;
                }
            }
        }
    }

    #[test]
    fn server_messages_survive_a_frame_round_trip() {
        let job = NewMiningJobOwned {
            channel_id: 4,
            job_id: 17,
            min_ntime: stratum_core::binary_sv2::Sv2OptionOwned::new(Some(1_700_000_000)),
            version: 0x2000_0000,
            merkle_root: U256Owned::from([9u8; 32]),
        };
        let mut f = round_trip(mining(MiningOwned::NewMiningJob(job.clone())));
        assert!(
            f.header().channel_msg(),
            "NewMiningJob is a channel message"
        );
        match parse_any(&mut f).unwrap() {
            AnyMessageOwned::Mining(MiningOwned::NewMiningJob(j)) => assert_eq!(j, job),
            other => panic!("{other:?}"),
        }
        let prev = SetNewPrevHashOwned {
            channel_id: 4,
            job_id: 17,
            prev_hash: U256Owned::from([3u8; 32]),
            min_ntime: 1_700_000_000,
            nbits: 0x207f_ffff,
        };
        let mut f = round_trip(mining(MiningOwned::SetNewPrevHash(prev.clone())));
        match parse_any(&mut f).unwrap() {
            AnyMessageOwned::Mining(MiningOwned::SetNewPrevHash(p)) => {
                assert_eq!(p.prev_hash.to_array(), [3u8; 32]);
                assert_eq!(
                    (p.job_id, p.min_ntime, p.nbits),
                    (17, 1_700_000_000, 0x207f_ffff)
                );
            }
            other => panic!("{other:?}"),
        }
        let mut f = round_trip(mining(MiningOwned::SetTarget(SetTargetOwned {
            channel_id: 4,
            maximum_target: U256Owned::from([0x11u8; 32]),
        })));
        assert!(matches!(
            parse_any(&mut f).unwrap(),
            AnyMessageOwned::Mining(MiningOwned::SetTarget(t)) if t.maximum_target.to_array() == [0x11u8; 32]
        ));
        let mut f = round_trip(mining(MiningOwned::SubmitSharesSuccess(
            SubmitSharesSuccessOwned {
                channel_id: 4,
                last_sequence_number: 12,
                new_submits_accepted_count: 8,
                new_shares_sum: 800,
            },
        )));
        assert!(matches!(
            parse_any(&mut f).unwrap(),
            AnyMessageOwned::Mining(MiningOwned::SubmitSharesSuccess(s))
                if s.last_sequence_number == 12 && s.new_submits_accepted_count == 8 && s.new_shares_sum == 800
        ));
        for (message, code) in [
            (
                setup_error(2, "unsupported-feature-flags"),
                "unsupported-feature-flags",
            ),
            (open_channel_error(5, "unknown-user"), "unknown-user"),
            (
                update_channel_error(5, "invalid-channel-id"),
                "invalid-channel-id",
            ),
            (close_channel(5, "pool-shutting-down"), "pool-shutting-down"),
        ] {
            let mut f = round_trip(message);
            let got = match parse_any(&mut f).unwrap() {
                AnyMessageOwned::Common(CommonMessagesOwned::SetupConnectionError(e)) => {
                    assert_eq!(e.flags, 2);
                    e.error_code
                }
                AnyMessageOwned::Mining(MiningOwned::OpenMiningChannelError(e)) => e.error_code,
                AnyMessageOwned::Mining(MiningOwned::UpdateChannelError(e)) => e.error_code,
                AnyMessageOwned::Mining(MiningOwned::CloseChannel(e)) => e.reason_code,
                other => panic!("{other:?}"),
            };
            assert_eq!(got.as_bytes(), code.as_bytes());
        }
    }

    #[test]
    fn client_requests_are_read_and_server_messages_from_a_client_are_unexpected() {
        let open = OpenStandardMiningChannelOwned {
            request_id: 10,
            user_identity: Str0255Owned::try_from("rltc1qaddress.rig".to_string()).unwrap(),
            nominal_hash_rate: 5e6,
            max_target: U256Owned::from([0xffu8; 32]),
        };
        let mut f = round_trip(mining(MiningOwned::OpenStandardMiningChannel(open)));
        let r = parse_client(&mut f).unwrap();
        assert_eq!(r.kind(), ClientMessage::OpenChannel);
        assert_eq!(r.reply_ids(), (10, 0));
        match r {
            ClientRequest::OpenStandard(o) => {
                assert_eq!(o.user_identity.as_bytes(), b"rltc1qaddress.rig");
                assert_eq!(o.nominal_hash_rate, 5e6);
            }
            other => panic!("{other:?}"),
        }
        let submit = SubmitSharesExtendedOwned {
            channel_id: 2,
            sequence_number: 77,
            job_id: 3,
            nonce: 0xdead_beef,
            ntime: 1_700_000_001,
            version: 0x2000_2000,
            extranonce: B032Owned::new(vec![1, 2, 3, 4]).unwrap(),
        };
        let mut f = round_trip(mining(MiningOwned::SubmitSharesExtended(submit)));
        let r = parse_client(&mut f).unwrap();
        assert_eq!(r.kind(), ClientMessage::SubmitShares);
        assert_eq!(r.reply_ids(), (2, 77));
        // A job is what a pool sends: from a client it is unexpected.
        let mut f = round_trip(mining(MiningOwned::SetTarget(SetTargetOwned {
            channel_id: 1,
            maximum_target: U256Owned::from([0u8; 32]),
        })));
        assert_eq!(
            parse_client(&mut f).unwrap().kind(),
            ClientMessage::Unexpected
        );
    }

    #[test]
    fn a_truncated_payload_is_an_error_not_a_panic() {
        let open = OpenStandardMiningChannelOwned {
            request_id: 10,
            user_identity: Str0255Owned::try_from("a".repeat(200)).unwrap(),
            nominal_hash_rate: 1.0,
            max_target: U256Owned::from([0xffu8; 32]),
        };
        let f = round_trip(mining(MiningOwned::OpenStandardMiningChannel(open)));
        let bytes = f.as_bytes().to_vec();
        // Keep the header's message type, cut the payload and fix the length.
        for cut in [0usize, 1, 4, 50, bytes.len() - 6 - 1] {
            let mut raw = bytes[..6].to_vec();
            let len = cut as u32;
            raw[3..6].copy_from_slice(&len.to_le_bytes()[..3]);
            raw.extend_from_slice(&bytes[6..6 + cut]);
            let mut frame = Frame::from_bytes(raw).unwrap();
            assert!(parse_client(&mut frame).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn random_payloads_of_every_message_type_never_panic_the_parser() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x5732);
        for msg_type in 0..=255u8 {
            for ext in [0u16, 0x8000, 1] {
                for _ in 0..40 {
                    let len = rng.gen_range(0..300usize);
                    let mut raw = Vec::with_capacity(6 + len);
                    raw.extend_from_slice(&ext.to_le_bytes());
                    raw.push(msg_type);
                    raw.extend_from_slice(&(len as u32).to_le_bytes()[..3]);
                    raw.extend((0..len).map(|_| rng.gen::<u8>()));
                    let mut frame = Frame::from_bytes(raw).unwrap();
                    // Ok or Err, never a panic: the result itself is whatever it is.
                    let _ = parse_client(&mut frame);
                }
            }
        }
    }

    #[test]
    fn the_fuzz_seed_corpus_is_made_of_valid_client_requests() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/corpus/sv2_frame");
        let mut seeds = 0;
        for entry in std::fs::read_dir(dir).expect("seed corpus") {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            let requests = parse_unencrypted(&bytes);
            assert!(!requests.is_empty(), "{path:?}");
            for r in requests {
                let r = r.unwrap_or_else(|e| panic!("{path:?}: {e:?}"));
                assert_ne!(r.kind(), ClientMessage::Unexpected, "{path:?}");
            }
            seeds += 1;
        }
        assert!(seeds >= 8);
        // Two frames in one stream are both read; a cut one is left out.
        let two = std::fs::read(format!("{dir}/setup_then_open")).unwrap();
        assert_eq!(parse_unencrypted(&two).len(), 2);
        assert_eq!(parse_unencrypted(&two[..two.len() - 1]).len(), 1);
    }
}
