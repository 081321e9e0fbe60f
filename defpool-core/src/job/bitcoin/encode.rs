//! Bitcoin's consensus serialization, the few pieces the pool writes and reads itself:
//! CompactSize lengths and a cursor that reports where a transaction ended early.
//!
//! Kept apart from the job logic (rust-bitcoin's split between encoding and meaning),
//! and small on purpose: the pool only ever writes a coinbase and copies the daemon's
//! transactions through as bytes.

use std::fmt;

use crate::units::Amount;

/// Appends `n` as a CompactSize (Bitcoin's "varint": 1, 3, 5 or 9 bytes).
pub fn write_compact_size(out: &mut Vec<u8>, n: u64) {
    match n {
        0..=0xfc => out.push(n as u8),
        0xfd..=0xffff => {
            out.push(0xfd);
            out.extend_from_slice(&(n as u16).to_le_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(0xfe);
            out.extend_from_slice(&(n as u32).to_le_bytes());
        }
        _ => {
            out.push(0xff);
            out.extend_from_slice(&n.to_le_bytes());
        }
    }
}

/// Bytes `n` takes as a CompactSize.
pub fn compact_size_len(n: u64) -> usize {
    match n {
        0..=0xfc => 1,
        0xfd..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    }
}

/// Why bytes are not the transaction they should be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("ends at byte {offset}, inside the {what}")]
    Truncated { offset: usize, what: &'static str },
    #[error("non-canonical CompactSize for the {what} at byte {offset}")]
    NonCanonical { offset: usize, what: &'static str },
    #[error("{count} bytes after the end of the transaction")]
    TrailingBytes { count: usize },
}

/// A cursor over serialized bytes.
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    pub(crate) pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    pub(crate) fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::Truncated {
                offset: self.data.len(),
                what,
            });
        }
        let out = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub(crate) fn byte(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.bytes(1, what)?[0])
    }

    pub(crate) fn u32_le(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        let b = self.bytes(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn u64_le(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        let b = self.bytes(8, what)?;
        let mut w = [0u8; 8];
        w.copy_from_slice(b);
        Ok(u64::from_le_bytes(w))
    }

    /// A CompactSize, refusing non-minimal encodings as Bitcoin Core does.
    pub(crate) fn compact_size(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        let start = self.pos;
        let (value, min) = match self.byte(what)? {
            0xfd => {
                let b = self.bytes(2, what)?;
                (u64::from(u16::from_le_bytes([b[0], b[1]])), 0xfd)
            }
            0xfe => (u64::from(self.u32_le(what)?), 0x1_0000),
            0xff => (self.u64_le(what)?, 0x1_0000_0000),
            small => return Ok(u64::from(small)),
        };
        if value < min {
            return Err(DecodeError::NonCanonical {
                offset: start,
                what,
            });
        }
        Ok(value)
    }

    /// A length-prefixed byte string.
    pub(crate) fn var_bytes(&mut self, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let len = self.compact_size(what)?;
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        self.bytes(len, what)
    }
}

/// A transaction output: an amount in atomic units and the script it pays to.
#[derive(Clone, PartialEq, Eq)]
pub struct TxOut {
    pub value: Amount,
    pub script_pubkey: Vec<u8>,
}

impl fmt::Debug for TxOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TxOut")
            .field("value", &self.value)
            .field("script_pubkey", &hex::encode(&self.script_pubkey))
            .finish()
    }
}

impl TxOut {
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.value.atomic().to_le_bytes());
        write_compact_size(out, self.script_pubkey.len() as u64);
        out.extend_from_slice(&self.script_pubkey);
    }
}

/// A decoded transaction, as far as the pool looks into one: enough to check that a
/// coinbase it built (or was sent by an upstream) is well formed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodedTx {
    pub version: u32,
    /// Each input's previous outpoint (txid, index) and scriptSig.
    pub inputs: Vec<([u8; 32], u32, Vec<u8>)>,
    pub outputs: Vec<TxOut>,
    /// Witness stacks, one per input, when the segwit serialization was used.
    pub witness: Option<Vec<Vec<Vec<u8>>>>,
    pub lock_time: u32,
}

/// Decodes a whole transaction, with or without witness (BIP144 marker `00`, flag `01`).
pub fn decode_transaction(bytes: &[u8]) -> Result<DecodedTx, DecodeError> {
    let mut r = Reader::new(bytes);
    let version = r.u32_le("version")?;
    let mut input_count = r.compact_size("input count")?;
    let mut segwit = false;
    if input_count == 0 {
        // Marker 0x00, then the flag; a transaction with no inputs has no other meaning.
        let flag = r.byte("segwit flag")?;
        if flag != 1 {
            return Err(DecodeError::NonCanonical {
                offset: r.pos - 1,
                what: "segwit flag",
            });
        }
        segwit = true;
        input_count = r.compact_size("input count")?;
    }
    let mut inputs = Vec::new();
    for _ in 0..input_count {
        let mut txid = [0u8; 32];
        txid.copy_from_slice(r.bytes(32, "previous txid")?);
        let index = r.u32_le("previous output index")?;
        let script = r.var_bytes("scriptSig")?.to_vec();
        let _sequence = r.u32_le("sequence")?;
        inputs.push((txid, index, script));
    }
    let output_count = r.compact_size("output count")?;
    let mut outputs = Vec::new();
    for _ in 0..output_count {
        let value = Amount::from_atomic(r.u64_le("output value")?);
        let script_pubkey = r.var_bytes("scriptPubKey")?.to_vec();
        outputs.push(TxOut {
            value,
            script_pubkey,
        });
    }
    let witness = if segwit {
        let mut stacks = Vec::new();
        for _ in 0..inputs.len() {
            let items = r.compact_size("witness item count")?;
            let mut stack = Vec::new();
            for _ in 0..items {
                stack.push(r.var_bytes("witness item")?.to_vec());
            }
            stacks.push(stack);
        }
        Some(stacks)
    } else {
        None
    };
    let lock_time = r.u32_le("lock time")?;
    if r.remaining() != 0 {
        return Err(DecodeError::TrailingBytes {
            count: r.remaining(),
        });
    }
    Ok(DecodedTx {
        version,
        inputs,
        outputs,
        witness,
        lock_time,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn compact_sizes_at_their_boundaries() {
        for (n, expected) in [
            (0u64, "00"),
            (0xfc, "fc"),
            (0xfd, "fdfd00"),
            (0xffff, "fdffff"),
            (0x1_0000, "fe00000100"),
            (0xffff_ffff, "feffffffff"),
            (0x1_0000_0000, "ff0000000001000000"),
        ] {
            let mut out = Vec::new();
            write_compact_size(&mut out, n);
            assert_eq!(hex::encode(&out), expected);
            assert_eq!(compact_size_len(n), out.len());
            assert_eq!(Reader::new(&out).compact_size("n"), Ok(n));
        }
        assert!(matches!(
            Reader::new(&[0xfd, 0x10, 0x00]).compact_size("n"),
            Err(DecodeError::NonCanonical { .. })
        ));
    }

    #[test]
    fn decodes_a_real_segwit_transaction() {
        // ltc_gbt_with_tx.json: the mempool transaction (P2WPKH spend, two outputs).
        let tx = hex::decode("020000000001013ab2d7f406cc697564573445651438ccb845ddd5033cade882f8a055639c70230000000000feffffff02fe1a1521010000001600146bfb4c4ba8a5a0e1906589266779bf518d16861780d1f00800000000160014324f22ca1b8be4c2f18dabb3a08d863787fdf8ce02473044022062be7a6f67ebfee86f33703ef25e277e08a453abb1e36aeaddc759735747042f022032ace9aeeb71e12c28fbb4f07947a5bd468d2068cc190ff8a85d63ab68efeab00121024d4ee0803c754655bde8df84983ef3d721f0df2c6da05b860d63fe8415af154603000000").unwrap();
        let d = decode_transaction(&tx).unwrap();
        assert_eq!(d.version, 2);
        assert_eq!(d.inputs.len(), 1);
        assert_eq!(d.outputs.len(), 2);
        assert_eq!(d.outputs[1].value, Amount::from_atomic(150_000_000));
        assert_eq!(d.witness.as_ref().map(|w| w[0].len()), Some(2));
        assert_eq!(d.lock_time, 3);
        assert!(matches!(
            decode_transaction(&tx[..tx.len() - 1]),
            Err(DecodeError::Truncated { .. })
        ));
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_transaction(&bytes);
        }

        #[test]
        fn compact_size_round_trips(n in any::<u64>()) {
            let mut out = Vec::new();
            write_compact_size(&mut out, n);
            let mut r = Reader::new(&out);
            prop_assert_eq!(r.compact_size("n"), Ok(n));
            prop_assert_eq!(r.remaining(), 0);
        }
    }
}
