//! Checks of a Bitcoin-dialect `mining.submit` that need no I/O: field formats, the
//! ntime window, version bits within the negotiated mask, and the duplicate key.
//!
//! The order matches what a session does: [`check_submit`] decodes and bounds-checks
//! the fields (a reject here costs no hashing), then the session looks the
//! [`DuplicateKey`] up in the job's set, builds the header with
//! [`crate::job::bitcoin::BitcoinJob::header`], hashes it and compares with its
//! share target and the network target ([`crate::pow::bitcoin::Target::is_met_by`]).

use crate::stratum::bitcoin::{ErrorCode, SubmitParams};

pub use crate::job::bitcoin::MAX_EXTRANONCE2_LEN;

/// How far past the job's ntime a miner may move its ntime. Consensus allows a block
/// up to two hours (7200 s) ahead of the node's clock; a margin keeps a share accepted
/// here from being a block the daemon calls `time-too-new`.
pub const DEFAULT_MAX_NTIME_AHEAD_SECS: u32 = 7000;

/// The ntimes a share may carry, inclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NtimeWindow {
    pub earliest: u32,
    pub latest: u32,
}

impl NtimeWindow {
    /// From the template's `mintime` (median time past + 1: an earlier block time is
    /// invalid) to `max_ahead_secs` past the job's ntime (the daemon's `curtime` when
    /// the job was built, so never ahead of the daemon's clock).
    pub fn for_job(mintime: u32, job_ntime: u32, max_ahead_secs: u32) -> NtimeWindow {
        NtimeWindow {
            earliest: mintime,
            latest: job_ntime.saturating_add(max_ahead_secs),
        }
    }

    pub fn contains(&self, ntime: u32) -> bool {
        (self.earliest..=self.latest).contains(&ntime)
    }
}

/// What a session's submits are checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubmitRules {
    /// Bytes of extranonce2 the session was told (`extranonce2_size`).
    pub extranonce2_len: usize,
    pub ntime: NtimeWindow,
    /// The mask negotiated with `mining.configure`; `None` without version rolling, in
    /// which case any non-zero version bits are refused.
    pub version_mask: Option<u32>,
}

/// An extranonce2, decoded; fixed-size so shares can be keyed without allocating.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Extranonce2 {
    bytes: [u8; MAX_EXTRANONCE2_LEN],
    len: u8,
}

impl Extranonce2 {
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// From raw bytes (Stratum V2 sends the extranonce as bytes, not hex); `None` when
    /// longer than [`MAX_EXTRANONCE2_LEN`].
    pub fn from_bytes(raw: &[u8]) -> Option<Extranonce2> {
        if raw.len() > MAX_EXTRANONCE2_LEN {
            return None;
        }
        let mut bytes = [0u8; MAX_EXTRANONCE2_LEN];
        bytes[..raw.len()].copy_from_slice(raw);
        Some(Extranonce2 {
            bytes,
            len: raw.len() as u8,
        })
    }
}

impl std::fmt::Debug for Extranonce2 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Extranonce2({})", hex::encode(self.as_bytes()))
    }
}

/// A submit whose fields are well formed and within bounds, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckedSubmit {
    pub extranonce2: Extranonce2,
    pub ntime: u32,
    pub nonce: u32,
    /// The header version: the job's, with the rolled bits applied.
    pub version: u32,
}

impl CheckedSubmit {
    /// The key under which the job remembers this share.
    pub fn duplicate_key(&self) -> DuplicateKey {
        DuplicateKey {
            extranonce2: self.extranonce2,
            ntime: self.ntime,
            nonce: self.nonce,
            version: self.version,
        }
    }
}

/// What makes two submits of one session on one job the same share: the header they
/// hash to is the same. Keep one set per job and session (the extranonce1 is the
/// session's, so it is not part of the key). Fields are decoded values, so `"0A"` and
/// `"0a"` are the same share.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DuplicateKey {
    pub extranonce2: Extranonce2,
    pub ntime: u32,
    pub nonce: u32,
    pub version: u32,
}

/// Why a submit's fields are refused. All answer with [`ErrorCode::Other`]; the
/// `Display` text is the message for the miner.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    #[error("Invalid extranonce2: expected {expected} hex digits, got {got} characters")]
    Extranonce2Length { expected: usize, got: usize },
    #[error("Invalid extranonce2: not hex")]
    Extranonce2NotHex,
    #[error("Invalid ntime: expected 8 hex digits")]
    NtimeNotHex,
    #[error("Invalid ntime: {ntime} is outside {earliest}..={latest}")]
    NtimeOutOfRange {
        ntime: u32,
        earliest: u32,
        latest: u32,
    },
    #[error("Invalid nonce: expected 8 hex digits")]
    NonceNotHex,
    #[error("Invalid version bits: expected 8 hex digits")]
    VersionBitsNotHex,
    /// BIP 310: `version_bits & !mask` must be zero.
    #[error("Invalid version bits {bits:08x}: outside the negotiated mask {mask:08x}")]
    VersionBitsOutsideMask { bits: u32, mask: u32 },
}

impl SubmitError {
    pub fn code(&self) -> ErrorCode {
        ErrorCode::Other
    }
}

/// BIP 310: `(job_version & !mask) | (version_bits & mask)`.
pub fn rolled_version(job_version: u32, version_bits: u32, mask: u32) -> u32 {
    (job_version & !mask) | (version_bits & mask)
}

/// Stratum V2 sends the whole header version rather than BIP 310 bits: it may differ
/// from the job's only under `mask` (BIP 320's general-purpose bits). Returns the
/// version when it does.
pub fn check_full_version(job_version: u32, version: u32, mask: u32) -> Result<u32, SubmitError> {
    let changed = version ^ job_version;
    if changed & !mask != 0 {
        return Err(SubmitError::VersionBitsOutsideMask {
            bits: changed,
            mask,
        });
    }
    Ok(version)
}

/// Decodes a submit's fields and checks them against the session's rules and the
/// job's version. Never allocates.
pub fn check_submit(
    submit: &SubmitParams,
    job_version: u32,
    rules: &SubmitRules,
) -> Result<CheckedSubmit, SubmitError> {
    let expected = rules.extranonce2_len.min(MAX_EXTRANONCE2_LEN);
    let got = submit.extranonce2.len();
    if got != 2 * expected {
        return Err(SubmitError::Extranonce2Length {
            expected: 2 * expected,
            got,
        });
    }
    let mut bytes = [0u8; MAX_EXTRANONCE2_LEN];
    if !decode_hex(submit.extranonce2.as_bytes(), &mut bytes[..expected]) {
        return Err(SubmitError::Extranonce2NotHex);
    }
    let extranonce2 = Extranonce2 {
        bytes,
        len: expected as u8,
    };

    let ntime = u32_hex(&submit.ntime).ok_or(SubmitError::NtimeNotHex)?;
    if !rules.ntime.contains(ntime) {
        return Err(SubmitError::NtimeOutOfRange {
            ntime,
            earliest: rules.ntime.earliest,
            latest: rules.ntime.latest,
        });
    }
    let nonce = u32_hex(&submit.nonce).ok_or(SubmitError::NonceNotHex)?;

    let mask = rules.version_mask.unwrap_or(0);
    let version = match &submit.version_bits {
        None => job_version,
        Some(hex_bits) => {
            let bits = u32_hex(hex_bits).ok_or(SubmitError::VersionBitsNotHex)?;
            if bits & !mask != 0 {
                return Err(SubmitError::VersionBitsOutsideMask { bits, mask });
            }
            rolled_version(job_version, bits, mask)
        }
    };
    Ok(CheckedSubmit {
        extranonce2,
        ntime,
        nonce,
        version,
    })
}

/// 8 hex digits (either case), big-endian, as stratum writes 32-bit header fields.
fn u32_hex(s: &str) -> Option<u32> {
    let mut bytes = [0u8; 4];
    decode_hex(s.as_bytes(), &mut bytes).then(|| u32::from_be_bytes(bytes))
}

/// Value of each byte as a hex digit (either case); `INVALID` for anything else.
const HEX_DIGIT: [u8; 256] = {
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        table[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};
const INVALID: u8 = 0x10;

/// Decodes `2 × out.len()` hex digits into `out`; false (and `out` unspecified) when
/// the length is wrong or a byte is not a hex digit. A table lookup per digit with no
/// branch on its value: miners' digits are random, and `hex`'s per-digit range checks
/// mispredicted on most of them (it was most of `check_submit`'s time).
fn decode_hex(digits: &[u8], out: &mut [u8]) -> bool {
    if digits.len() != 2 * out.len() {
        return false;
    }
    let mut bad = 0u8;
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let (hi, lo) = (
            HEX_DIGIT[usize::from(pair[0])],
            HEX_DIGIT[usize::from(pair[1])],
        );
        bad |= hi | lo;
        *byte = (hi << 4) | (lo & 0x0f);
    }
    bad & INVALID == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::bitcoin::fixtures::{
        captured_shares, CPUMINER_SCRYPT_SESSION, CPUMINER_SHA256D_SESSION, SRI_SV1_SESSION,
    };
    use crate::job::bitcoin::StratumWork;
    use crate::pow::bitcoin::{hash_to_display_hex, PowAlgorithm};
    use crate::units::Difficulty;
    use proptest::prelude::*;
    use std::collections::HashSet;

    fn submit(
        extranonce2: &str,
        ntime: &str,
        nonce: &str,
        version_bits: Option<&str>,
    ) -> SubmitParams {
        SubmitParams {
            worker: "w".into(),
            job_id: "1".into(),
            extranonce2: extranonce2.into(),
            ntime: ntime.into(),
            nonce: nonce.into(),
            version_bits: version_bits.map(str::to_string),
        }
    }

    const JOB_NTIME: u32 = 0x6b06_ee47;

    fn rules(version_mask: Option<u32>) -> SubmitRules {
        SubmitRules {
            extranonce2_len: 4,
            ntime: NtimeWindow::for_job(JOB_NTIME - 600, JOB_NTIME, DEFAULT_MAX_NTIME_AHEAD_SECS),
            version_mask,
        }
    }

    /// Every share cpuminer and the SRI miner submitted, checked the way a session will:
    /// fields, header from the notify, proof of work against the session's difficulty,
    /// and for the shares that became blocks, the block id litecoind reported.
    #[test]
    fn every_captured_share_checks_out() {
        let sessions = [
            (CPUMINER_SCRYPT_SESSION, PowAlgorithm::Scrypt, 4),
            (CPUMINER_SHA256D_SESSION, PowAlgorithm::Sha256d, 3),
            (SRI_SV1_SESSION, PowAlgorithm::Sha256d, 3),
        ];
        let mut blocks = 0;
        for (session, algorithm, count) in sessions {
            let shares = captured_shares(session);
            assert_eq!(shares.len(), count);
            let mut seen = HashSet::new();
            for share in shares {
                let work = StratumWork::from_notify(&share.notify).unwrap();
                let rules = SubmitRules {
                    extranonce2_len: share.extranonce2_size,
                    ntime: NtimeWindow::for_job(
                        work.ntime,
                        work.ntime,
                        DEFAULT_MAX_NTIME_AHEAD_SECS,
                    ),
                    version_mask: None,
                };
                let checked = check_submit(&share.submit, work.version, &rules).unwrap();
                assert!(
                    seen.insert(checked.duplicate_key()),
                    "no duplicates were sent"
                );
                let header = work.header(
                    &share.extranonce1,
                    checked.extranonce2.as_bytes(),
                    checked.version,
                    checked.ntime,
                    checked.nonce,
                );
                assert_eq!(hex::encode(header.to_bytes()), share.header);
                let hash = algorithm.hash_header(&header.to_bytes());
                assert_eq!(hash_to_display_hex(&hash), share.hash);

                let difficulty = Difficulty::new(share.difficulty).unwrap();
                let share_target = algorithm.target_for_difficulty(difficulty);
                assert!(share_target.is_met_by(&hash), "{}", share.hash);
                assert!(algorithm.hash_difficulty(&hash) >= share.difficulty);
                // Twice as hard as what the share reached: low difficulty.
                let harder = Difficulty::new(algorithm.hash_difficulty(&hash) * 2.0).unwrap();
                assert!(!algorithm.target_for_difficulty(harder).is_met_by(&hash));

                let network = work.bits.to_target().unwrap();
                if let Some(block_hash) = &share.block_hash {
                    assert_eq!(&hash_to_display_hex(&header.block_hash()), block_hash);
                    assert!(network.is_met_by(&hash));
                    blocks += 1;
                }
            }
        }
        assert_eq!(blocks, 4, "all four scrypt shares became blocks");
    }

    #[test]
    fn scrypt_difficulty_is_counted_in_units_of_65536() {
        // The first scrypt share reached ~0.0976 in scrypt stratum units; in sha256d
        // units (the mistake) it would be 65536 times less and fail difficulty 0.05.
        let share = &captured_shares(CPUMINER_SCRYPT_SESSION)[0];
        let header = hex::decode(&share.header).unwrap();
        let hash = PowAlgorithm::Scrypt.hash_header(&header.try_into().unwrap());
        let d = PowAlgorithm::Scrypt.hash_difficulty(&hash);
        assert!((0.09..0.1).contains(&d), "{d}");
        let session = Difficulty::new(share.difficulty).unwrap();
        assert!(!PowAlgorithm::Sha256d
            .target_for_difficulty(session)
            .is_met_by(&hash));
    }

    #[test]
    fn fields_are_decoded() {
        let checked = check_submit(
            &submit("0000000a", "6b06ee47", "430b0000", None),
            0x2000_0000,
            &rules(None),
        )
        .unwrap();
        assert_eq!(checked.extranonce2.as_bytes(), &[0, 0, 0, 0x0a]);
        assert_eq!(checked.ntime, 0x6b06_ee47);
        assert_eq!(checked.nonce, 0x430b_0000);
        assert_eq!(checked.version, 0x2000_0000);
    }

    #[test]
    fn malformed_fields_are_refused() {
        let r = rules(None);
        let check = |s: SubmitParams| check_submit(&s, 0x2000_0000, &r);
        assert_eq!(
            check(submit("000000", "6b06ee47", "00000000", None)),
            Err(SubmitError::Extranonce2Length {
                expected: 8,
                got: 6
            })
        );
        assert_eq!(
            check(submit("0000000000", "6b06ee47", "00000000", None)),
            Err(SubmitError::Extranonce2Length {
                expected: 8,
                got: 10
            })
        );
        assert_eq!(
            check(submit("0000000g", "6b06ee47", "00000000", None)),
            Err(SubmitError::Extranonce2NotHex)
        );
        // Multi-byte characters count as their bytes and are never hex.
        assert!(check(submit("000000é", "6b06ee47", "00000000", None)).is_err());
        assert_eq!(
            check(submit("00000000", "6b06ee4", "00000000", None)),
            Err(SubmitError::NtimeNotHex)
        );
        assert_eq!(
            check(submit("00000000", "0x6b06ee", "00000000", None)),
            Err(SubmitError::NtimeNotHex)
        );
        assert_eq!(
            check(submit("00000000", "6b06ee47", "+0000000", None)),
            Err(SubmitError::NonceNotHex)
        );
        assert_eq!(
            check(submit("00000000", "6b06ee47", "00000000", Some("4000"))),
            Err(SubmitError::VersionBitsNotHex)
        );
        assert!(SubmitError::NonceNotHex
            .to_string()
            .starts_with("Invalid nonce"));
        assert_eq!(SubmitError::NonceNotHex.code(), ErrorCode::Other);
    }

    #[test]
    fn ntime_must_fall_in_the_window() {
        let r = rules(None);
        let at = |ntime: u32| {
            check_submit(
                &submit("00000000", &format!("{ntime:08x}"), "00000000", None),
                1,
                &r,
            )
        };
        assert!(at(JOB_NTIME - 600).is_ok());
        assert!(at(JOB_NTIME + DEFAULT_MAX_NTIME_AHEAD_SECS).is_ok());
        assert_eq!(
            at(JOB_NTIME - 601),
            Err(SubmitError::NtimeOutOfRange {
                ntime: JOB_NTIME - 601,
                earliest: JOB_NTIME - 600,
                latest: JOB_NTIME + DEFAULT_MAX_NTIME_AHEAD_SECS
            })
        );
        assert!(at(JOB_NTIME + DEFAULT_MAX_NTIME_AHEAD_SECS + 1).is_err());
        // The window saturates instead of wrapping near the end of u32 time.
        assert_eq!(NtimeWindow::for_job(5, u32::MAX - 1, 7000).latest, u32::MAX);
    }

    #[test]
    fn version_bits_follow_the_negotiated_mask() {
        let check = |bits: &str, mask| {
            check_submit(
                &submit("00000000", "6b06ee47", "00000000", Some(bits)),
                0x2000_0000,
                &rules(mask),
            )
        };
        // BIP 310: nVersion = (job & !mask) | (bits & mask).
        assert_eq!(
            check("00004000", Some(0x1fff_e000)).unwrap().version,
            0x2000_4000
        );
        assert_eq!(
            check("1fffe000", Some(0x1fff_e000)).unwrap().version,
            0x3fff_e000
        );
        assert_eq!(
            check("00000000", Some(0x1fff_e000)).unwrap().version,
            0x2000_0000
        );
        // A miner sending the full version instead of the bits is outside the mask.
        assert_eq!(
            check("20004000", Some(0x1fff_e000)),
            Err(SubmitError::VersionBitsOutsideMask {
                bits: 0x2000_4000,
                mask: 0x1fff_e000
            })
        );
        // A narrower negotiated mask.
        assert!(check("00006000", Some(0x0000_6000)).is_ok());
        assert!(check("00008000", Some(0x0000_6000)).is_err());
        // Without version rolling only zero bits pass (and change nothing).
        assert_eq!(check("00000000", None).unwrap().version, 0x2000_0000);
        assert_eq!(
            check("00002000", None),
            Err(SubmitError::VersionBitsOutsideMask {
                bits: 0x2000,
                mask: 0
            })
        );
    }

    #[test]
    fn duplicate_keys_compare_decoded_values() {
        let r = rules(Some(0x1fff_e000));
        let key = |en2: &str, ntime: &str, nonce: &str, bits: Option<&str>| {
            check_submit(&submit(en2, ntime, nonce, bits), 0x2000_0000, &r)
                .unwrap()
                .duplicate_key()
        };
        let base = key("0000000a", "6b06ee47", "430b0000", None);
        assert_eq!(base, key("0000000A", "6B06EE47", "430B0000", None));
        // Zero version bits are the job's version: the same header, the same share.
        assert_eq!(
            base,
            key("0000000a", "6b06ee47", "430b0000", Some("00000000"))
        );
        for other in [
            key("0000000b", "6b06ee47", "430b0000", None),
            key("0000000a", "6b06ee48", "430b0000", None),
            key("0000000a", "6b06ee47", "430b0001", None),
            key("0000000a", "6b06ee47", "430b0000", Some("00002000")),
        ] {
            assert_ne!(base, other);
        }
    }

    #[test]
    fn extranonce2_longer_than_supported_is_refused() {
        let r = SubmitRules {
            extranonce2_len: 32,
            ..rules(None)
        };
        let long = "00".repeat(32);
        assert_eq!(
            check_submit(&submit(&long, "6b06ee47", "00000000", None), 1, &r),
            Err(SubmitError::Extranonce2Length {
                expected: 32,
                got: 64
            })
        );
    }

    #[test]
    fn hex_digits_decode_like_the_hex_crate() {
        let mut out = [0u8; 4];
        assert!(decode_hex(b"0aF9bC10", &mut out));
        assert_eq!(out, [0x0a, 0xf9, 0xbc, 0x10]);
        for bad in [
            &b"0aF9bC1"[..],
            b"0aF9bC100",
            b"0aF9bC1g",
            b"+aF9bC10",
            b"0aF9bC1\xff",
            b"0x0a0b0c",
        ] {
            assert!(!decode_hex(bad, &mut out), "{bad:?}");
        }
        assert!(decode_hex(b"", &mut []));
    }

    proptest! {
        #[test]
        fn hex_decoding_matches_the_hex_crate(digits in proptest::collection::vec(any::<u8>(), 0..20)) {
            let mut ours = vec![0u8; digits.len() / 2];
            let mut theirs = vec![0u8; digits.len() / 2];
            let ok = decode_hex(&digits, &mut ours);
            let reference = hex::decode_to_slice(&digits, &mut theirs).is_ok();
            prop_assert_eq!(ok, reference);
            if ok {
                prop_assert_eq!(ours, theirs);
            }
        }

        #[test]
        fn hex_digit_strings_decode(bytes in proptest::collection::vec(any::<u8>(), 0..10), upper in any::<bool>()) {
            let text = if upper { hex::encode_upper(&bytes) } else { hex::encode(&bytes) };
            let mut out = vec![0u8; bytes.len()];
            prop_assert!(decode_hex(text.as_bytes(), &mut out));
            prop_assert_eq!(out, bytes);
        }

        #[test]
        fn rolled_version_takes_masked_bits_from_the_miner(job in any::<u32>(), bits in any::<u32>(), mask in any::<u32>()) {
            let v = rolled_version(job, bits, mask);
            prop_assert_eq!(v & !mask, job & !mask);
            prop_assert_eq!(v & mask, bits & mask);
        }

        #[test]
        fn random_fields_never_panic(
            en2 in ".{0,20}",
            ntime in ".{0,10}",
            nonce in ".{0,10}",
            bits in proptest::option::of(".{0,10}"),
            len in 0usize..40,
            mask in proptest::option::of(any::<u32>()),
        ) {
            let r = SubmitRules { extranonce2_len: len, version_mask: mask, ..rules(None) };
            let s = SubmitParams {
                worker: String::new(),
                job_id: String::new(),
                extranonce2: en2,
                ntime,
                nonce,
                version_bits: bits,
            };
            let _ = check_submit(&s, 0x2000_0000, &r);
        }
    }
}

#[cfg(test)]
mod sv2_tests {
    use super::*;

    #[test]
    fn a_full_version_may_change_only_under_the_mask() {
        let job = 0x2000_0000;
        let mask = 0x1fff_e000;
        assert_eq!(check_full_version(job, job, mask), Ok(job));
        assert_eq!(check_full_version(job, 0x2000_2000, mask), Ok(0x2000_2000));
        assert_eq!(
            check_full_version(job, 0x6000_0000, mask),
            Err(SubmitError::VersionBitsOutsideMask {
                bits: 0x4000_0000,
                mask
            })
        );
    }

    #[test]
    fn raw_extranonce_bytes_key_shares_like_hex_ones() {
        let e = Extranonce2::from_bytes(&[1, 2, 3, 4]).unwrap();
        assert_eq!(e.as_bytes(), &[1, 2, 3, 4]);
        assert!(Extranonce2::from_bytes(&[0u8; MAX_EXTRANONCE2_LEN + 1]).is_none());
        assert_ne!(e, Extranonce2::from_bytes(&[1, 2, 3, 4, 0]).unwrap());
    }
}
