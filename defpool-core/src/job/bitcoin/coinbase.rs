//! The coinbase transaction, cut in two around the extranonce.
//!
//! Every miner of a job gets the same `coinb1` and `coinb2`; what differs is the
//! extranonce between them: `extranonce1` (per session, from the pool) then
//! `extranonce2` (rolled by the miner). The miner hashes `coinb1 ‖ en1 ‖ en2 ‖ coinb2`
//! for the coinbase txid, so that must be the non-witness serialization; the block
//! carries the witness form ([`with_witness`]) when the template has a witness
//! commitment.
//!
//! The scriptSig is `height push ‖ push(extranonce) ‖ push(pool tag)`. The height comes
//! first and encoded as `CScript() << height` because BIP34 compares those exact bytes;
//! the extranonce sits in a proper push so the script stays parseable whatever bytes the
//! miner rolls.

use super::encode::{write_compact_size, TxOut};

/// A coinbase scriptSig must be 2 to 100 bytes (consensus, `bad-cb-length`).
pub const MAX_SCRIPT_SIG_LEN: usize = 100;
/// Longest direct push (opcodes 0x01..=0x4b push that many bytes).
const MAX_DIRECT_PUSH: usize = 75;
/// The coinbase's one input spends nothing: a null outpoint.
const NULL_OUTPOINT_INDEX: u32 = 0xffff_ffff;
const FINAL_SEQUENCE: u32 = 0xffff_ffff;
/// Version 1, like most pools' coinbases (no relative lock-time semantics needed).
const COINBASE_VERSION: u32 = 1;

/// What goes into a coinbase besides the extranonce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoinbaseParts<'a> {
    /// Block height, pushed first in the scriptSig (BIP34).
    pub height: u64,
    /// Bytes between `coinb1` and `coinb2`: extranonce1 + extranonce2 lengths.
    pub extranonce_len: usize,
    /// A short text identifying the pool in the block (may be empty).
    pub pool_tag: &'a [u8],
    /// Outputs in order: payouts first, the witness commitment (if any) last.
    pub outputs: &'a [TxOut],
}

/// Why a coinbase cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoinbaseError {
    #[error("extranonce of {0} bytes: it must be 1 to 75 bytes")]
    ExtranonceLength(usize),
    #[error("coinbase scriptSig would be {len} bytes; at most {MAX_SCRIPT_SIG_LEN} are allowed (shorten the pool tag)")]
    ScriptSigTooLong { len: usize },
    #[error("pool tag of {0} bytes: at most 75 fit one push")]
    PoolTagTooLong(usize),
    #[error("coinbase has no outputs")]
    NoOutputs,
}

/// The coinbase around the extranonce.
#[derive(Clone, PartialEq, Eq)]
pub struct CoinbaseSplit {
    /// Serialized coinbase up to the extranonce (non-witness form).
    pub coinb1: Vec<u8>,
    /// Serialized coinbase after the extranonce.
    pub coinb2: Vec<u8>,
}

impl std::fmt::Debug for CoinbaseSplit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoinbaseSplit")
            .field("coinb1", &hex::encode(&self.coinb1))
            .field("coinb2", &hex::encode(&self.coinb2))
            .finish()
    }
}

impl CoinbaseSplit {
    /// `coinb1 ‖ extranonce1 ‖ extranonce2 ‖ coinb2`: the non-witness coinbase whose
    /// sha256d is the txid the miner puts at leaf 0. The caller checks the lengths.
    pub fn assemble(&self, extranonce1: &[u8], extranonce2: &[u8]) -> Vec<u8> {
        let mut tx = Vec::with_capacity(
            self.coinb1.len() + extranonce1.len() + extranonce2.len() + self.coinb2.len(),
        );
        tx.extend_from_slice(&self.coinb1);
        tx.extend_from_slice(extranonce1);
        tx.extend_from_slice(extranonce2);
        tx.extend_from_slice(&self.coinb2);
        tx
    }
}

/// The BIP34 height as Bitcoin Core writes `CScript() << height`: `OP_0` for 0,
/// `OP_1`..`OP_16` for 1 to 16, otherwise a push of the minimal little-endian script
/// number (with a zero byte added when the top bit would read as a sign).
pub fn bip34_height_push(height: u64) -> Vec<u8> {
    match height {
        0 => vec![0x00],
        1..=16 => vec![0x50 + height as u8],
        _ => {
            let mut number = Vec::with_capacity(9);
            let mut h = height;
            while h > 0 {
                number.push(h as u8);
                h >>= 8;
            }
            if number.last().is_some_and(|&top| top & 0x80 != 0) {
                number.push(0);
            }
            let mut push = Vec::with_capacity(number.len() + 1);
            push.push(number.len() as u8);
            push.extend_from_slice(&number);
            push
        }
    }
}

/// Builds the coinbase and splits it at the extranonce.
pub fn build_coinbase(parts: &CoinbaseParts<'_>) -> Result<CoinbaseSplit, CoinbaseError> {
    if parts.extranonce_len == 0 || parts.extranonce_len > MAX_DIRECT_PUSH {
        return Err(CoinbaseError::ExtranonceLength(parts.extranonce_len));
    }
    if parts.outputs.is_empty() {
        return Err(CoinbaseError::NoOutputs);
    }
    let height = bip34_height_push(parts.height);
    let tag_push_len = match parts.pool_tag.len() {
        0 => 0,
        n => n + 1,
    };
    let script_len = height.len() + 1 + parts.extranonce_len + tag_push_len;
    if parts.pool_tag.len() > MAX_DIRECT_PUSH {
        return Err(CoinbaseError::PoolTagTooLong(parts.pool_tag.len()));
    }
    if script_len > MAX_SCRIPT_SIG_LEN {
        return Err(CoinbaseError::ScriptSigTooLong { len: script_len });
    }

    let mut coinb1 = Vec::with_capacity(64);
    coinb1.extend_from_slice(&COINBASE_VERSION.to_le_bytes());
    write_compact_size(&mut coinb1, 1);
    coinb1.extend_from_slice(&[0u8; 32]);
    coinb1.extend_from_slice(&NULL_OUTPOINT_INDEX.to_le_bytes());
    write_compact_size(&mut coinb1, script_len as u64);
    coinb1.extend_from_slice(&height);
    coinb1.push(parts.extranonce_len as u8);

    let mut coinb2 = Vec::with_capacity(128);
    if !parts.pool_tag.is_empty() {
        coinb2.push(parts.pool_tag.len() as u8);
        coinb2.extend_from_slice(parts.pool_tag);
    }
    coinb2.extend_from_slice(&FINAL_SEQUENCE.to_le_bytes());
    write_compact_size(&mut coinb2, parts.outputs.len() as u64);
    for output in parts.outputs {
        output.write(&mut coinb2);
    }
    coinb2.extend_from_slice(&0u32.to_le_bytes()); // lock time
    Ok(CoinbaseSplit { coinb1, coinb2 })
}

/// The witness serialization of a coinbase built by [`build_coinbase`]: BIP144 marker
/// and flag after the version, and before the lock time the one witness stack of its
/// one input, holding the 32-byte witness reserved value (all zeros) that the witness
/// commitment was computed with.
pub fn with_witness(coinbase: &[u8]) -> Vec<u8> {
    // Every serialized transaction starts with a 4-byte version and ends with a 4-byte
    // lock time; anything shorter is not one of ours and is left alone.
    let Some(lock_time_at) = coinbase.len().checked_sub(4).filter(|&at| at >= 4) else {
        return coinbase.to_vec();
    };
    let (body, lock_time) = coinbase.split_at(lock_time_at);
    let mut tx = Vec::with_capacity(coinbase.len() + 2 + 34);
    tx.extend_from_slice(&body[..4]);
    tx.extend_from_slice(&[0x00, 0x01]);
    tx.extend_from_slice(&body[4..]);
    tx.push(1); // one witness item
    tx.push(32);
    tx.extend_from_slice(&[0u8; 32]);
    tx.extend_from_slice(lock_time);
    tx
}

#[cfg(test)]
mod tests {
    use super::super::encode::decode_transaction;
    use super::*;
    use crate::units::Amount;
    use proptest::prelude::*;

    #[test]
    fn bip34_heights() {
        let hex_of = |h| hex::encode(bip34_height_push(h));
        assert_eq!(hex_of(0), "00");
        assert_eq!(hex_of(1), "51");
        assert_eq!(hex_of(16), "60");
        assert_eq!(hex_of(17), "0111");
        assert_eq!(hex_of(127), "017f");
        assert_eq!(hex_of(128), "028000");
        assert_eq!(hex_of(255), "02ff00");
        assert_eq!(hex_of(256), "020001");
        // Heights of the captured sessions (436) and of a recent mainnet block.
        assert_eq!(hex_of(436), "02b401");
        assert_eq!(hex_of(32_767), "02ff7f");
        assert_eq!(hex_of(32_768), "03008000");
        // Bitcoin block 227,931 (BIP34 activation): 03 5b7a03.
        assert_eq!(hex_of(227_931), "035b7a03");
        assert_eq!(hex_of(8_388_608), "0400008000");
    }

    #[test]
    fn witness_form_inserts_marker_flag_and_reserved_value() {
        let outputs = [TxOut {
            value: Amount::from_atomic(50),
            script_pubkey: vec![0x51],
        }];
        let split = build_coinbase(&CoinbaseParts {
            height: 500,
            extranonce_len: 8,
            pool_tag: b"/t/",
            outputs: &outputs,
        })
        .unwrap();
        let plain = split.assemble(&[1; 4], &[2; 4]);
        let witness = with_witness(&plain);
        assert_eq!(witness.len(), plain.len() + 2 + 34);
        let decoded = decode_transaction(&witness).unwrap();
        assert_eq!(decoded.witness, Some(vec![vec![vec![0u8; 32]]]));
        let stripped = decode_transaction(&plain).unwrap();
        assert_eq!(decoded.inputs, stripped.inputs);
        assert_eq!(decoded.outputs, stripped.outputs);
    }

    #[test]
    fn refuses_what_consensus_refuses() {
        let outputs = [TxOut {
            value: Amount::ZERO,
            script_pubkey: vec![],
        }];
        let parts = |extranonce_len, pool_tag: &'static [u8]| CoinbaseParts {
            height: 1_000_000,
            extranonce_len,
            pool_tag,
            outputs: &outputs,
        };
        assert_eq!(
            build_coinbase(&parts(0, b"")),
            Err(CoinbaseError::ExtranonceLength(0))
        );
        assert_eq!(
            build_coinbase(&parts(76, b"")),
            Err(CoinbaseError::ExtranonceLength(76))
        );
        // 4 (height) + 1 + 75 + 1 + 20 = 101.
        assert_eq!(
            build_coinbase(&parts(75, &[b'x'; 20])),
            Err(CoinbaseError::ScriptSigTooLong { len: 101 })
        );
        assert!(build_coinbase(&parts(75, &[b'x'; 19])).is_ok());
        assert_eq!(
            build_coinbase(&parts(8, &[b'x'; 76])),
            Err(CoinbaseError::PoolTagTooLong(76))
        );
        assert!(build_coinbase(&parts(8, &[b'x'; 75])).is_ok());
        assert_eq!(
            build_coinbase(&CoinbaseParts {
                outputs: &[],
                ..parts(8, b"")
            }),
            Err(CoinbaseError::NoOutputs)
        );
    }

    proptest! {
        #[test]
        fn split_coinbase_reassembles_to_a_parseable_tx(
            height in 0u64..0x7fff_ffff,
            en1 in proptest::collection::vec(any::<u8>(), 0..=8),
            en2 in proptest::collection::vec(any::<u8>(), 1..=16),
            tag in proptest::collection::vec(any::<u8>(), 0..=40),
            values in proptest::collection::vec(any::<u64>(), 1..4),
            script in proptest::collection::vec(any::<u8>(), 0..40),
        ) {
            let outputs: Vec<TxOut> = values
                .iter()
                .map(|&v| TxOut { value: Amount::from_atomic(v), script_pubkey: script.clone() })
                .collect();
            let split = build_coinbase(&CoinbaseParts {
                height,
                extranonce_len: en1.len() + en2.len(),
                pool_tag: &tag,
                outputs: &outputs,
            }).unwrap();
            let tx = split.assemble(&en1, &en2);
            prop_assert_eq!(
                tx.len(),
                split.coinb1.len() + en1.len() + en2.len() + split.coinb2.len()
            );
            let decoded = decode_transaction(&tx).unwrap();
            prop_assert_eq!(decoded.inputs.len(), 1);
            prop_assert_eq!(decoded.inputs[0].0, [0u8; 32]);
            prop_assert_eq!(decoded.inputs[0].1, u32::MAX);
            let script_sig = &decoded.inputs[0].2;
            let height_push = bip34_height_push(height);
            prop_assert!(script_sig.starts_with(&height_push));
            let mut extranonce = en1.clone();
            extranonce.extend_from_slice(&en2);
            prop_assert_eq!(&script_sig[height_push.len() + 1..][..extranonce.len()], &extranonce[..]);
            prop_assert!(script_sig.len() >= 2 && script_sig.len() <= MAX_SCRIPT_SIG_LEN);
            prop_assert_eq!(decoded.outputs, outputs);
            prop_assert_eq!(decoded.witness, None);
            let witness = decode_transaction(&with_witness(&tx)).unwrap();
            prop_assert_eq!(witness.witness, Some(vec![vec![vec![0u8; 32]]]));
        }
    }
}
