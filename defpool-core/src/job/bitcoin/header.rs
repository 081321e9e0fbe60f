//! The 80-byte block header and the byte orders its fields travel in.
//!
//! In the header every integer is little-endian and the two hashes are in internal
//! order. Stratum sends version, nbits and ntime as big-endian hex of the integer, the
//! nonce as big-endian hex too, and the previous block hash with each 4-byte word
//! byte-reversed (a legacy of getwork, which byte-swapped the whole header as 32-bit
//! words). These are checked against the headers cpuminer hashed in the captured
//! sessions.

use crate::pow::bitcoin::{sha256d_header, CompactTarget, HEADER_LEN};

/// A block header, field by field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockHeader {
    /// Block version, with any version-rolling bits already applied.
    pub version: u32,
    /// Hash of the previous block, internal byte order.
    pub prev_hash: [u8; 32],
    /// Merkle root of the block's txids, internal byte order.
    pub merkle_root: [u8; 32],
    /// Block time (ntime), unix seconds.
    pub time: u32,
    pub bits: CompactTarget,
    pub nonce: u32,
}

impl BlockHeader {
    /// The 80 bytes that are hashed and sent in the block.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0..4].copy_from_slice(&self.version.to_le_bytes());
        out[4..36].copy_from_slice(&self.prev_hash);
        out[36..68].copy_from_slice(&self.merkle_root);
        out[68..72].copy_from_slice(&self.time.to_le_bytes());
        out[72..76].copy_from_slice(&self.bits.0.to_le_bytes());
        out[76..80].copy_from_slice(&self.nonce.to_le_bytes());
        out
    }

    pub fn from_bytes(bytes: &[u8; HEADER_LEN]) -> BlockHeader {
        let u32_at =
            |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        let mut prev_hash = [0u8; 32];
        prev_hash.copy_from_slice(&bytes[4..36]);
        let mut merkle_root = [0u8; 32];
        merkle_root.copy_from_slice(&bytes[36..68]);
        BlockHeader {
            version: u32_at(0),
            prev_hash,
            merkle_root,
            time: u32_at(68),
            bits: CompactTarget(u32_at(72)),
            nonce: u32_at(76),
        }
    }

    /// The block id: sha256d of the header, internal byte order (for sha256d coins also
    /// the proof-of-work hash; for scrypt coins only the id).
    pub fn block_hash(&self) -> [u8; 32] {
        sha256d_header(&self.to_bytes())
    }
}

/// The previous block hash as `mining.notify` sends it: internal order with each
/// 4-byte word reversed.
pub fn prevhash_to_stratum(prev_hash: &[u8; 32]) -> [u8; 32] {
    swap_words(prev_hash)
}

/// Back from `mining.notify` order to internal order (the same word swap).
pub fn prevhash_from_stratum(stratum: &[u8; 32]) -> [u8; 32] {
    swap_words(stratum)
}

fn swap_words(bytes: &[u8; 32]) -> [u8; 32] {
    let mut out = *bytes;
    for word in out.chunks_exact_mut(4) {
        word.reverse();
    }
    out
}

/// A 32-bit header field as stratum writes it: 8 big-endian hex digits.
pub fn u32_to_stratum_hex(value: u32) -> String {
    format!("{value:08x}")
}

/// A 32-bit header field from stratum's 8 big-endian hex digits (either case).
pub fn u32_from_stratum_hex(hex_be: &str) -> Option<u32> {
    let mut bytes = [0u8; 4];
    hex::decode_to_slice(hex_be, &mut bytes).ok()?;
    Some(u32::from_be_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pow::bitcoin::hash_to_display_hex;

    #[test]
    fn header_bytes_round_trip_on_a_real_header() {
        // Bitcoin block 125552.
        let raw = hex::decode(concat!(
            "0100000081cd02ab7e569e8bcd9317e2fe99f2de44d49ab2b8851ba4a308000000000000",
            "e320b6c2fffc8d750423db8b1eb942ae710e951ed797f7affc8892b0f1fc122b",
            "c7f5d74df2b9441a42a14695"
        ))
        .unwrap();
        let bytes: [u8; 80] = raw.try_into().unwrap();
        let header = BlockHeader::from_bytes(&bytes);
        assert_eq!(header.version, 1);
        assert_eq!(header.time, 1_305_998_791);
        assert_eq!(header.bits, CompactTarget(0x1a44b9f2));
        assert_eq!(header.nonce, 2_504_433_986);
        assert_eq!(header.to_bytes(), bytes);
        assert_eq!(
            hash_to_display_hex(&header.block_hash()),
            "00000000000000001e8d6829a8a21adc5d38d0a473b144b6765798e61f98bd1d"
        );
    }

    #[test]
    fn stratum_prevhash_is_word_swapped() {
        // cpuminer_scrypt_session.jsonl: the second notify builds on block 436, whose
        // id litecoind reported as d38e75d3…76ab49c3; the notify sent 76ab49c3…d38e75d3.
        let internal = crate::pow::bitcoin::hash_from_display_hex(
            "d38e75d35339e2fb576f23ae0947600a25e2430ef06c2df704b60c3076ab49c3",
        )
        .unwrap();
        assert_eq!(
            hex::encode(prevhash_to_stratum(&internal)),
            "76ab49c304b60c30f06c2df725e2430e0947600a576f23ae5339e2fbd38e75d3"
        );
        assert_eq!(
            prevhash_from_stratum(&prevhash_to_stratum(&internal)),
            internal
        );
    }

    #[test]
    fn stratum_u32_fields_are_big_endian_hex() {
        assert_eq!(u32_to_stratum_hex(0x2000_0000), "20000000");
        assert_eq!(u32_from_stratum_hex("6b06ee47"), Some(0x6b06_ee47));
        assert_eq!(u32_from_stratum_hex("6B06EE47"), Some(0x6b06_ee47));
        assert_eq!(u32_from_stratum_hex("6b06ee4"), None);
        assert_eq!(u32_from_stratum_hex("6b06ee4z"), None);
        assert_eq!(u32_from_stratum_hex("+b06ee47"), None);
    }
}
