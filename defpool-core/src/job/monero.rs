//! Monero work: from monerod's `get_block_template` to the blob a miner hashes, and from
//! a solved nonce back to the block `submit_block` takes.
//!
//! A block blob is the header (`varint major_version ‖ varint minor_version ‖ varint
//! timestamp ‖ prev_id (32) ‖ nonce (4)`), the miner transaction, then `varint count ‖
//! count × 32-byte` hashes of the other transactions. What a miner hashes is the
//! header, the Merkle root (Monero's `tree_hash`) of every transaction hash, miner
//! transaction first, and the transaction count. The pool writes its extra nonce into
//! the space monerod reserved in the miner transaction's extra field, which changes the
//! miner transaction hash and so the root; everything else is computed once per
//! template in [`MoneroTemplate::parse`], leaving a keccak of the miner transaction
//! prefix and one keccak per tree level per job.
//!
//! Hashes are `cn_fast_hash`: the original Keccak-256 (before SHA-3's padding change).

use std::fmt;
use std::ops::Range;

use tiny_keccak::{Hasher, Keccak};

use super::JobError;

/// Bytes of the nonce in the block header.
pub const NONCE_LEN: usize = 4;

/// Transaction input tag of the coinbase input (`txin_gen`).
const TXIN_GEN: u8 = 0xff;
/// Output target tags: `txout_to_key` and `txout_to_tagged_key` (with a view tag, v15+).
const TXOUT_TO_KEY: u8 = 0x02;
const TXOUT_TO_TAGGED_KEY: u8 = 0x03;
/// RingCT type of a coinbase transaction: no signatures, amounts in the clear.
const RCT_TYPE_NULL: u8 = 0;

/// The one block whose id is not the hash of its hashing blob. Block 202612 has 514
/// transactions, which hit a bug in the original CryptoNote `tree_hash`; the chain kept
/// the id computed with the buggy root. monerod special-cases it in
/// `calculate_block_hash` (keyed on the hash of the whole block blob); keying on the
/// hash of the correct hashing blob, as monero-oxide does, is equivalent and all
/// [`block_id`] sees.
const BLOCK_202612_HASHING_BLOB_ID: [u8; 32] = [
    0x42, 0x6d, 0x16, 0xcf, 0xf0, 0x4c, 0x71, 0xf8, 0xb1, 0x63, 0x40, 0xb7, 0x22, 0xdc, 0x40, 0x10,
    0xa2, 0xdd, 0x38, 0x31, 0xc2, 0x20, 0x41, 0x43, 0x1f, 0x77, 0x25, 0x47, 0xba, 0x6e, 0x33, 0x1a,
];
const BLOCK_202612_ID: [u8; 32] = [
    0xbb, 0xd6, 0x04, 0xd2, 0xba, 0x11, 0xba, 0x27, 0x93, 0x5e, 0x00, 0x6e, 0xd3, 0x9c, 0x9b, 0xfd,
    0xd9, 0x9b, 0x76, 0xbf, 0x4a, 0x50, 0x65, 0x4b, 0xc1, 0xe1, 0xe6, 0x12, 0x17, 0x96, 0x26, 0x98,
];

/// A monerod block template, parsed once, from which per-miner work is cut.
///
/// Cheap to clone (one `Vec` of the blob and one of the Merkle branch), so a job can
/// keep its own copy.
#[derive(Clone)]
pub struct MoneroTemplate {
    /// The template as monerod sent it; blocks are this with the extra nonce and the
    /// nonce written in.
    blob: Vec<u8>,
    /// Length of the block header, the first part of the hashing blob.
    header_len: usize,
    /// Where the 4 nonce bytes sit, in both the template and the hashing blob.
    nonce_offset: usize,
    /// Where the pool's extra nonce goes (inside the miner tx extra field).
    reserved_offset: usize,
    reserve_size: usize,
    /// End of the miner tx prefix: the extra nonce hash covers
    /// `reserved_offset..prefix_end` after the precomputed part.
    prefix_end: usize,
    /// Keccak state after absorbing the miner tx prefix up to the reserved space, so each
    /// job only hashes from the extra nonce on.
    prefix_head: Keccak,
    /// Hash of the miner tx RingCT base (the single null type byte).
    rct_base_hash: [u8; 32],
    /// Sibling hashes on the way from leaf 0 (the miner tx) to the Merkle root.
    branch: Vec<[u8; 32]>,
    /// Transactions in the block, the miner tx included.
    tx_count: u64,
    /// Height, from the miner tx's coinbase input.
    height: u64,
    major_version: u64,
    prev_id: [u8; 32],
}

impl fmt::Debug for MoneroTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MoneroTemplate")
            .field("height", &self.height)
            .field("major_version", &self.major_version)
            .field("prev_id", &hex::encode(self.prev_id))
            .field("tx_count", &self.tx_count)
            .field("blob_len", &self.blob.len())
            .field("nonce_offset", &self.nonce_offset)
            .field("reserved_offset", &self.reserved_offset)
            .field("reserve_size", &self.reserve_size)
            .finish_non_exhaustive()
    }
}

impl MoneroTemplate {
    /// Parses `blocktemplate_blob` from `get_block_template`, with the
    /// `reserved_offset` it returned and the `reserve_size` it was asked for.
    ///
    /// Only what a template can hold is accepted: a version-2 miner tx with one coinbase
    /// input, `to_key`/`to_tagged_key` outputs and a null RingCT section. The reserved
    /// space must lie inside the miner tx's extra field.
    pub fn parse(
        blocktemplate_blob: &[u8],
        reserved_offset: usize,
        reserve_size: usize,
    ) -> Result<Self, JobError> {
        let mut r = Reader::new(blocktemplate_blob);
        let header = parse_header(&mut r)?;

        let tx_start = r.pos;
        let prefix = parse_miner_tx_prefix(&mut r)?;
        if prefix.version != 2 {
            return Err(JobError::Unsupported {
                what: "miner tx version",
                value: prefix.version,
                offset: tx_start,
            });
        }
        let rct_start = r.pos;
        let rct_type = r.byte("miner tx RingCT type")?;
        if rct_type != RCT_TYPE_NULL {
            return Err(JobError::Unsupported {
                what: "miner tx RingCT type",
                value: u64::from(rct_type),
                offset: rct_start,
            });
        }
        let rct_base_hash = keccak256(&blocktemplate_blob[rct_start..r.pos]);

        let hashes_offset = r.pos;
        let count = r.varint("transaction count")?;
        if count > (r.remaining() / 32) as u64 {
            return Err(JobError::Malformed {
                offset: hashes_offset,
                what: "transaction count",
                reason: "more hashes than bytes left",
            });
        }
        let mut leaves = Vec::with_capacity(count as usize + 1);
        leaves.push([0u8; 32]); // the miner tx, filled in below
        for _ in 0..count {
            leaves.push(r.hash("transaction hash")?);
        }
        if r.remaining() != 0 {
            return Err(JobError::TrailingBytes {
                offset: r.pos,
                count: r.remaining(),
            });
        }

        let reserved_end = reserved_offset.checked_add(reserve_size);
        if reserved_offset < prefix.extra.start
            || reserved_end.is_none_or(|end| end > prefix.extra.end)
        {
            return Err(JobError::ReservedOutsideExtra {
                offset: reserved_offset,
                size: reserve_size,
                extra_start: prefix.extra.start,
                extra_end: prefix.extra.end,
            });
        }

        let mut prefix_head = Keccak::v256();
        prefix_head.update(&blocktemplate_blob[tx_start..reserved_offset]);

        let template = MoneroTemplate {
            blob: blocktemplate_blob.to_vec(),
            header_len: header.len,
            nonce_offset: header.nonce_offset,
            reserved_offset,
            reserve_size,
            prefix_end: prefix.end,
            prefix_head,
            rct_base_hash,
            branch: Vec::new(),
            tx_count: count + 1,
            height: prefix.height,
            major_version: header.major_version,
            prev_id: header.prev_id,
        };
        // The branch does not depend on leaf 0, but building it walks the whole tree, so
        // use the template's own miner tx hash there.
        let reserved = &blocktemplate_blob[reserved_offset..reserved_offset + reserve_size];
        leaves[0] = template.miner_tx_hash(reserved);
        Ok(MoneroTemplate {
            branch: first_leaf_branch(&leaves),
            ..template
        })
    }

    /// The blob the miner hashes (header ‖ Merkle root ‖ varint tx count) with
    /// `extra_nonce` written at the start of the reserved space. Reserved bytes past a
    /// shorter extra nonce keep the template's value (zeros from monerod).
    pub fn hashing_blob(&self, extra_nonce: &[u8]) -> Result<Vec<u8>, JobError> {
        let root = self.merkle_root(extra_nonce)?;
        let mut out = Vec::with_capacity(self.header_len + 32 + 10);
        out.extend_from_slice(self.header());
        out.extend_from_slice(&root);
        out.extend_from_slice(&self.hashing_blob_tail());
        Ok(out)
    }

    /// The Merkle root with `extra_nonce` written in: the only part of the hashing blob
    /// that differs between miners (`header ‖ root ‖ tail`), so a job line can carry
    /// the rest encoded once per template.
    pub fn merkle_root(&self, extra_nonce: &[u8]) -> Result<[u8; 32], JobError> {
        self.check_extra_nonce(extra_nonce)?;
        Ok(root_from_first_leaf(
            self.miner_tx_hash(extra_nonce),
            &self.branch,
        ))
    }

    /// The block header: the hashing blob before the Merkle root.
    pub fn header(&self) -> &[u8] {
        &self.blob[..self.header_len]
    }

    /// The hashing blob after the Merkle root: the transaction count as a varint.
    pub fn hashing_blob_tail(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(10);
        write_varint(&mut out, self.tx_count);
        out
    }

    /// The full block for `submit_block`: the template with `extra_nonce` and the
    /// miner's `nonce` (the 4 bytes as they sit in the blob, xmrig's `nonce` field)
    /// written in.
    pub fn block_blob(
        &self,
        extra_nonce: &[u8],
        nonce: [u8; NONCE_LEN],
    ) -> Result<Vec<u8>, JobError> {
        self.check_extra_nonce(extra_nonce)?;
        let mut block = self.blob.clone();
        block[self.reserved_offset..self.reserved_offset + extra_nonce.len()]
            .copy_from_slice(extra_nonce);
        block[self.nonce_offset..self.nonce_offset + NONCE_LEN].copy_from_slice(&nonce);
        Ok(block)
    }

    /// Where the 4 nonce bytes start, in the hashing blob as in the block (39 for a v16
    /// header with a present-day timestamp; it follows the header varints).
    pub fn nonce_offset(&self) -> usize {
        self.nonce_offset
    }

    /// Block height, read from the miner tx's coinbase input.
    pub fn height(&self) -> u64 {
        self.height
    }

    /// The header's major version (the hard fork, 16 today).
    pub fn major_version(&self) -> u64 {
        self.major_version
    }

    /// The id of the block this template builds on.
    pub fn prev_id(&self) -> &[u8; 32] {
        &self.prev_id
    }

    /// Transactions in the block, the miner tx included.
    pub fn transaction_count(&self) -> u64 {
        self.tx_count
    }

    pub fn reserved_offset(&self) -> usize {
        self.reserved_offset
    }

    pub fn reserve_size(&self) -> usize {
        self.reserve_size
    }

    /// The template blob as monerod sent it.
    pub fn blob(&self) -> &[u8] {
        &self.blob
    }

    fn check_extra_nonce(&self, extra_nonce: &[u8]) -> Result<(), JobError> {
        if extra_nonce.len() > self.reserve_size {
            return Err(JobError::ExtraNonceTooLong {
                len: extra_nonce.len(),
                reserve_size: self.reserve_size,
            });
        }
        Ok(())
    }

    /// The v2 miner tx hash with `extra_nonce` (at most `reserve_size` bytes) in the
    /// reserved space: `keccak(keccak(prefix) ‖ keccak(rct base) ‖ 0^32)`, the last part
    /// being the (empty) prunable RingCT data, hashed as zeros for a null type.
    fn miner_tx_hash(&self, extra_nonce: &[u8]) -> [u8; 32] {
        let mut prefix = self.prefix_head.clone();
        prefix.update(extra_nonce);
        prefix.update(&self.blob[self.reserved_offset + extra_nonce.len()..self.prefix_end]);
        let mut parts = [0u8; 96];
        prefix.finalize(&mut parts[..32]);
        parts[32..64].copy_from_slice(&self.rct_base_hash);
        keccak256(&parts)
    }
}

/// The block id of a hashing blob: `keccak(varint(len) ‖ blob)`, monerod's
/// `get_block_hash`, including its one exception: mainnet block 202612, whose id the
/// chain took from a root computed by the original, buggy CryptoNote `tree_hash`;
/// for its (correct) hashing blob this returns the historical id `bbd604d2…`.
pub fn block_id(hashing_blob: &[u8]) -> [u8; 32] {
    let mut hasher = Keccak::v256();
    let mut len = Vec::with_capacity(10);
    write_varint(&mut len, hashing_blob.len() as u64);
    hasher.update(&len);
    hasher.update(hashing_blob);
    let mut id = [0u8; 32];
    hasher.finalize(&mut id);
    if id == BLOCK_202612_HASHING_BLOB_ID {
        return BLOCK_202612_ID;
    }
    id
}

/// Where the nonce starts in a block or hashing blob, read from the header varints.
/// Use it on a blob the pool did not parse itself (a job blob seen on the wire).
pub fn blob_nonce_offset(blob: &[u8]) -> Result<usize, JobError> {
    parse_header(&mut Reader::new(blob)).map(|h| h.nonce_offset)
}

// ---------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------

/// A cursor over a blob that reports where it failed.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }

    fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], JobError> {
        if self.remaining() < n {
            return Err(JobError::Truncated {
                offset: self.data.len(),
                what,
            });
        }
        let out = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn byte(&mut self, what: &'static str) -> Result<u8, JobError> {
        Ok(self.bytes(1, what)?[0])
    }

    fn hash(&mut self, what: &'static str) -> Result<[u8; 32], JobError> {
        let mut h = [0u8; 32];
        h.copy_from_slice(self.bytes(32, what)?);
        Ok(h)
    }

    /// A LEB128 varint with monero's checks (`tools::read_varint`): no value past
    /// 64 bits, no redundant trailing zero byte. Rejecting non-canonical forms keeps
    /// re-serialization byte-exact.
    fn varint(&mut self, what: &'static str) -> Result<u64, JobError> {
        let start = self.pos;
        let mut value: u64 = 0;
        let mut shift = 0u32;
        loop {
            let byte = self.byte(what)?;
            if shift == 63 && byte > 1 {
                return Err(JobError::Malformed {
                    offset: start,
                    what,
                    reason: "varint overflows 64 bits",
                });
            }
            if byte == 0 && shift != 0 {
                return Err(JobError::Malformed {
                    offset: start,
                    what,
                    reason: "varint is not in canonical form",
                });
            }
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
            shift += 7;
        }
    }
}

fn write_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

struct Header {
    major_version: u64,
    prev_id: [u8; 32],
    nonce_offset: usize,
    len: usize,
}

fn parse_header(r: &mut Reader<'_>) -> Result<Header, JobError> {
    let major_version = r.varint("header major version")?;
    let _minor_version = r.varint("header minor version")?;
    let _timestamp = r.varint("header timestamp")?;
    let prev_id = r.hash("header prev_id")?;
    let nonce_offset = r.pos;
    r.bytes(NONCE_LEN, "header nonce")?;
    Ok(Header {
        major_version,
        prev_id,
        nonce_offset,
        len: r.pos,
    })
}

struct MinerTxPrefix {
    version: u64,
    height: u64,
    /// The extra field's bytes (after its length varint).
    extra: Range<usize>,
    /// One past the last prefix byte.
    end: usize,
}

/// The prefix of a miner transaction: version, unlock time, exactly one coinbase input,
/// key outputs, extra. The version is returned, not checked: the caller decides.
fn parse_miner_tx_prefix(r: &mut Reader<'_>) -> Result<MinerTxPrefix, JobError> {
    let version = r.varint("miner tx version")?;
    let _unlock_time = r.varint("miner tx unlock time")?;

    let inputs_offset = r.pos;
    let inputs = r.varint("miner tx input count")?;
    if inputs != 1 {
        return Err(JobError::Unsupported {
            what: "miner tx input count",
            value: inputs,
            offset: inputs_offset,
        });
    }
    let tag_offset = r.pos;
    let tag = r.byte("miner tx input tag")?;
    if tag != TXIN_GEN {
        return Err(JobError::Unsupported {
            what: "miner tx input type (not coinbase)",
            value: u64::from(tag),
            offset: tag_offset,
        });
    }
    let height = r.varint("miner tx coinbase height")?;

    let outputs = r.varint("miner tx output count")?;
    // Each output takes at least 34 bytes; the loop ends at the blob's end anyway.
    for _ in 0..outputs {
        let _amount = r.varint("miner tx output amount")?;
        let tag_offset = r.pos;
        match r.byte("miner tx output target tag")? {
            TXOUT_TO_KEY => {
                r.bytes(32, "miner tx output key")?;
            }
            TXOUT_TO_TAGGED_KEY => {
                r.bytes(32 + 1, "miner tx output key and view tag")?;
            }
            other => {
                return Err(JobError::Unsupported {
                    what: "miner tx output target type",
                    value: u64::from(other),
                    offset: tag_offset,
                })
            }
        }
    }

    let extra_len = r.varint("miner tx extra length")?;
    let extra_start = r.pos;
    // A length past usize is past the blob too: report it as the truncation it is.
    r.bytes(
        usize::try_from(extra_len).unwrap_or(usize::MAX),
        "miner tx extra",
    )?;
    Ok(MinerTxPrefix {
        version,
        height,
        extra: extra_start..r.pos,
        end: r.pos,
    })
}

// ---------------------------------------------------------------------------------------
// Hashing
// ---------------------------------------------------------------------------------------

fn keccak256(data: &[u8]) -> [u8; 32] {
    let mut hasher = Keccak::v256();
    hasher.update(data);
    let mut out = [0u8; 32];
    hasher.finalize(&mut out);
    out
}

fn keccak_pair(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut hasher = Keccak::v256();
    hasher.update(left);
    hasher.update(right);
    let mut out = [0u8; 32];
    hasher.finalize(&mut out);
    out
}

/// For `count >= 3`: the largest power of two strictly below `count` (monero's
/// `tree_hash_cnt`), the width of the tree's first full level.
fn tree_hash_cnt(count: usize) -> usize {
    debug_assert!(count >= 3);
    1 << (count - 1).ilog2()
}

/// Monero's Merkle root of transaction hashes (miner tx first), exactly as
/// `crypto/tree-hash.c`: one leaf is its own root, two are hashed together; otherwise
/// the first `2·cnt − count` leaves pass through and the rest are hashed in pairs to
/// fill a level of `cnt` (a power of two), which is then halved pairwise down to the
/// root. Empty input (never a block: the miner tx is always there) gives zeros.
///
/// Work building does not call it (it folds a precomputed branch instead); it is here
/// to check a whole block, and as the reference the branch is tested against.
pub fn tree_hash(leaves: &[[u8; 32]]) -> [u8; 32] {
    match leaves.len() {
        0 => [0u8; 32],
        1 => leaves[0],
        2 => keccak_pair(&leaves[0], &leaves[1]),
        count => {
            let mut cnt = tree_hash_cnt(count);
            let pass = 2 * cnt - count;
            let mut level: Vec<[u8; 32]> = leaves[..pass].to_vec();
            level.extend(
                leaves[pass..]
                    .chunks_exact(2)
                    .map(|p| keccak_pair(&p[0], &p[1])),
            );
            while cnt > 2 {
                cnt >>= 1;
                for j in 0..cnt {
                    level[j] = keccak_pair(&level[2 * j], &level[2 * j + 1]);
                }
            }
            keccak_pair(&level[0], &level[1])
        }
    }
}

/// The siblings met on the way from leaf 0 to the root of [`tree_hash`]. Leaf 0 is the
/// left input of every hash on its path, so the root is a left fold over the branch
/// (see [`root_from_first_leaf`]). None of these depends on leaf 0 itself.
fn first_leaf_branch(leaves: &[[u8; 32]]) -> Vec<[u8; 32]> {
    match leaves.len() {
        0 | 1 => Vec::new(),
        2 => vec![leaves[1]],
        count => {
            let mut branch = Vec::new();
            let mut cnt = tree_hash_cnt(count);
            let pass = 2 * cnt - count;
            if pass == 0 {
                // No leaf passes through: leaf 0 is paired with leaf 1 straight away.
                branch.push(leaves[1]);
            }
            let mut level: Vec<[u8; 32]> = leaves[..pass].to_vec();
            level.extend(
                leaves[pass..]
                    .chunks_exact(2)
                    .map(|p| keccak_pair(&p[0], &p[1])),
            );
            while cnt > 2 {
                branch.push(level[1]);
                cnt >>= 1;
                for j in 0..cnt {
                    level[j] = keccak_pair(&level[2 * j], &level[2 * j + 1]);
                }
            }
            branch.push(level[1]);
            branch
        }
    }
}

fn root_from_first_leaf(leaf: [u8; 32], branch: &[[u8; 32]]) -> [u8; 32] {
    branch
        .iter()
        .fold(leaf, |acc, sibling| keccak_pair(&acc, sibling))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    /// samples/xmr_gbt.json: monerod 0.18.0.0 regtest `get_block_template`
    /// (reserve_size 8), height 81, no mempool transaction.
    const GBT_TEMPLATE: &str = "101089da9bd806b5c35a7f01073009db768affde5365634b51f39d4b560ede90de26c3478bb17600000000028d0101ff5101ebff98f0ebff0703952c1e28d24ec5bccc6fe25dd2a082971d0ee30e94c3d53ba20c59aee30f3866b42b012ce98467dcf8d64b05795e73edaa328e950ceaa0e8c7c1554b4360761b71ee7d020800000000000000000000";
    const GBT_HASHING: &str = "101089da9bd806b5c35a7f01073009db768affde5365634b51f39d4b560ede90de26c3478bb17600000000b4fc0786be1b0faa3b8708c74e63f97e573419fb5ff9a69be474093ac032064d01";
    /// samples/xmr_gbt_with_tx.json: the same at height 84 with one mempool transaction.
    const GBT_TX_TEMPLATE: &str = "1010b2da9bd8064fed89240b847466762f02c64973945aa9421ef44f374da779a7e45c3a2dfd840000000002900101ff5401a9d9bbeaf4ff07034aeef012c313ac74809705a02f636c8a86e68f3d22712991c7bbd2883edbb4e1d52b0179d0195aaea533d511c557540e540a896b07700dfd177311e768fcfc448ee819020800000000000000000001e986a47fb730c2a060d11659bfc9efc2432fbb7817055775bec69e8a9e76e53c";
    const GBT_TX_HASHING: &str = "1010b2da9bd8064fed89240b847466762f02c64973945aa9421ef44f374da779a7e45c3a2dfd84000000009a485893abcb728ec06d11de571feaedb45a58fd9c4eea8f98fa15274e4876b902";
    const GBT_RESERVED_OFFSET: usize = 127;
    const GBT_RESERVE_SIZE: usize = 8;

    /// Mainnet block 2,751,506 (v16, view-tagged output, miner tx only), id
    /// 43bd1f2b…7428. From Cuprate's test data (github.com/Cuprate/cuprate at 618ff148),
    /// `test-utils/src/data/block/43bd1f2b6556dcafa413d8372974af59e4e8f37dbf74dc6b2a9b7212d0577428.bin`.
    const MAINNET_2751506: &str = "1010c58bab9b06b27bdecfc6cd0a46172d136c08831cf67660377ba992332363228b1b722781e7807e07f502cef8a70101ff92f8a7010180e0a596bb1103d7cbf826b665d7a532c316982dc8dbc24f285cbc18bbcc27c7164cd9b3277a85d034019f629d8b36bd16a2bfce3ea80c31dc4d8762c67165aec21845494e32b7582fe00211000000297a787a000000000000000000000000";
    const MAINNET_2751506_ID: &str =
        "43bd1f2b6556dcafa413d8372974af59e4e8f37dbf74dc6b2a9b7212d0577428";
    /// Mainnet block 1,731,606 (v9, three transactions besides the miner tx), id
    /// f910435a…25d4. Cuprate, `test-utils/src/data/block/f910435a…25d4.bin`.
    const MAINNET_1731606: &str = "0909d692f5e005b9f62b42bb2bd434ad6d549c8002e4bec44201c837ee3953d6685d641a21bdd4e7a1c2f502d2d86901ff96d86901f3ddabcc886302fce65f16d994d5cc3ffcc7391210472ed06a2bce9eb8115cbacaf152d134898727016f89f27cf66b732b7331f6a53de344479f80e755c36f8486cd5cadf1088738ab02047a62f04c0003e2d39395dd1625b2d707b98af789e7eab9d24c2bd2978ec38ef910961a8cdceee57440ec66d2f3b2a5fa2081af40128868973e7c021bb3877290db3066317474b6b4394d4ec5f08ad63267c07962550064caa8d225dd9ad6d739ebf60291c169";
    const MAINNET_1731606_ID: &str =
        "f910435a5477ca27be1986c080d5476aeab52d0c07cf3d9c72513213350d25d4";
    /// Mainnet block 202,609 (v1 miner tx), id 5ecb7e66…8eda. Cuprate,
    /// `test-utils/src/data/block/5ecb7e66…8eda.bin`. Not a template a pool can get.
    const MAINNET_202609: &str = "01009bd09fa005d1e0a6577e0dc26495be142d48700ef5646925750749fad2ac9aed8d03897c512abd000001adaf0c01fff1ae0c04b1d7dce18401026e9822b0119ecdd7d6462ced31a99c20304fb56464d44b0319db764723c9dbac80b081daaf14022baaa0d776f5c449922c553ddeabe8712f601a55e411ced7bf676d853380470d8080d194b57402ecfeaf3bc5c028a48bfaa71fc6af732a4f1b6c6a0a7bc4d7e39a5c050b0e856680c0caf384a30202e25a749722a8b0f38a6eccd166b5feedf9bd412d992e393496d9e658c4e0bc3f2b01f1fbdf4eec24e182fc372d11f0927b14f7ed9099b30a48163571d240856380b8020800000000a4dea5ae022180a87f724702d37af087e22476297e818a73579ef7b7da947da963245202a3d7febd16293799d9c6a8e0fe9199b8a0a3e0da5a8a165098937b60f0bbd582df";

    /// The extra field of a parsed blob's miner tx, located with the module's own parser.
    fn extra_range(blob: &[u8]) -> Range<usize> {
        let mut r = Reader::new(blob);
        parse_header(&mut r).unwrap();
        parse_miner_tx_prefix(&mut r).unwrap().extra
    }

    fn leaves(n: usize) -> Vec<[u8; 32]> {
        (0..n)
            .map(|i| keccak256(&(i as u64).to_le_bytes()))
            .collect()
    }

    #[test]
    fn templates_can_be_shared_across_tasks() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<MoneroTemplate>();
    }

    #[test]
    fn regtest_template_gives_monerods_hashing_blob() {
        let t = MoneroTemplate::parse(&unhex(GBT_TEMPLATE), GBT_RESERVED_OFFSET, GBT_RESERVE_SIZE)
            .unwrap();
        assert_eq!(hex::encode(t.hashing_blob(&[0u8; 8]).unwrap()), GBT_HASHING);
        assert_eq!(t.height(), 81);
        assert_eq!(t.major_version(), 16);
        assert_eq!(t.transaction_count(), 1);
        assert_eq!(t.nonce_offset(), 39);
        assert_eq!(
            hex::encode(t.prev_id()),
            "b5c35a7f01073009db768affde5365634b51f39d4b560ede90de26c3478bb176"
        );
    }

    #[test]
    fn regtest_template_with_a_mempool_tx_gives_monerods_hashing_blob() {
        let t = MoneroTemplate::parse(
            &unhex(GBT_TX_TEMPLATE),
            GBT_RESERVED_OFFSET,
            GBT_RESERVE_SIZE,
        )
        .unwrap();
        assert_eq!(
            hex::encode(t.hashing_blob(&[0u8; 8]).unwrap()),
            GBT_TX_HASHING
        );
        assert_eq!(t.height(), 84);
        assert_eq!(t.transaction_count(), 2);
        assert_eq!(t.nonce_offset(), 39);
    }

    #[test]
    fn extra_nonce_changes_the_root_but_not_the_header() {
        let t = MoneroTemplate::parse(
            &unhex(GBT_TX_TEMPLATE),
            GBT_RESERVED_OFFSET,
            GBT_RESERVE_SIZE,
        )
        .unwrap();
        let a = t.hashing_blob(&[0u8; 8]).unwrap();
        let b = t.hashing_blob(&1u64.to_le_bytes()).unwrap();
        assert_eq!(a.len(), b.len());
        assert_eq!(a[..43], b[..43]);
        assert_ne!(a[43..75], b[43..75]);
        // A short extra nonce leaves the rest of the reserved zeros in place.
        assert_eq!(t.hashing_blob(&[]).unwrap(), a);
        assert_eq!(t.hashing_blob(&[1]).unwrap(), b);
    }

    #[test]
    fn hashing_blob_is_header_root_and_tail() {
        for (blob, offset) in [
            (GBT_TEMPLATE, GBT_RESERVED_OFFSET),
            (GBT_TX_TEMPLATE, GBT_RESERVED_OFFSET),
        ] {
            let t = MoneroTemplate::parse(&unhex(blob), offset, GBT_RESERVE_SIZE).unwrap();
            for extra_nonce in [&[][..], &[7], &[1, 2, 3, 4, 5, 6, 7, 8]] {
                let mut parts = t.header().to_vec();
                parts.extend_from_slice(&t.merkle_root(extra_nonce).unwrap());
                parts.extend_from_slice(&t.hashing_blob_tail());
                assert_eq!(parts, t.hashing_blob(extra_nonce).unwrap());
            }
            assert!(t.merkle_root(&[0u8; 9]).is_err());
        }
    }

    #[test]
    fn block_blob_writes_extra_nonce_and_nonce() {
        let template = unhex(GBT_TEMPLATE);
        let t = MoneroTemplate::parse(&template, GBT_RESERVED_OFFSET, GBT_RESERVE_SIZE).unwrap();
        let extra_nonce = [1, 2, 3, 4, 5, 6, 7, 8];
        let block = t.block_blob(&extra_nonce, [0x9e, 0x02, 0, 0]).unwrap();
        assert_eq!(block.len(), template.len());
        assert_eq!(block[127..135], extra_nonce);
        assert_eq!(block[39..43], [0x9e, 0x02, 0, 0]);
        // Re-parsing the block as a template gives the same work as the template did.
        let again = MoneroTemplate::parse(&block, GBT_RESERVED_OFFSET, GBT_RESERVE_SIZE).unwrap();
        let mut expected = t.hashing_blob(&extra_nonce).unwrap();
        expected[39..43].copy_from_slice(&[0x9e, 0x02, 0, 0]);
        assert_eq!(again.hashing_blob(&extra_nonce).unwrap(), expected);
    }

    #[test]
    fn oversized_extra_nonce_is_refused() {
        let t = MoneroTemplate::parse(&unhex(GBT_TEMPLATE), GBT_RESERVED_OFFSET, GBT_RESERVE_SIZE)
            .unwrap();
        let err = JobError::ExtraNonceTooLong {
            len: 9,
            reserve_size: 8,
        };
        assert_eq!(t.hashing_blob(&[0u8; 9]), Err(err.clone()));
        assert_eq!(t.block_blob(&[0u8; 9], [0; 4]), Err(err));
    }

    #[test]
    fn reserved_space_must_lie_inside_the_extra_field() {
        let blob = unhex(GBT_TEMPLATE);
        let extra = extra_range(&blob);
        assert_eq!(extra, 92..135);
        for (offset, size) in [(91, 8), (128, 8), (135, 1), (usize::MAX, 2), (0, 0)] {
            assert!(
                matches!(
                    MoneroTemplate::parse(&blob, offset, size).err(),
                    Some(JobError::ReservedOutsideExtra {
                        extra_start: 92,
                        extra_end: 135,
                        ..
                    })
                ),
                "{offset}+{size}"
            );
        }
        // The whole extra field may be reserved.
        assert!(MoneroTemplate::parse(&blob, 92, 43).is_ok());
    }

    #[test]
    fn mainnet_v16_block_round_trips_and_has_its_id() {
        let blob = unhex(MAINNET_2751506);
        // Use the block's own extra nonce field (tag 0x02, length 0x11) as the reserved
        // space, as a pool's template would have had it.
        let extra = extra_range(&blob);
        assert_eq!(blob[extra.start + 33..extra.start + 35], [0x02, 0x11]);
        let reserved = extra.start + 35..extra.end;
        assert_eq!(reserved.len(), 17);

        let t = MoneroTemplate::parse(&blob, reserved.start, reserved.len()).unwrap();
        assert_eq!(t.height(), 2_751_506);
        assert_eq!(t.major_version(), 16);
        assert_eq!(t.transaction_count(), 1);
        assert_eq!(t.nonce_offset(), 39);
        let extra_nonce = &blob[reserved.clone()];
        let nonce: [u8; 4] = blob[39..43].try_into().unwrap();
        assert_eq!(u32::from_le_bytes(nonce), 4_110_909_056);
        let hashing = t.hashing_blob(extra_nonce).unwrap();
        assert_eq!(hex::encode(block_id(&hashing)), MAINNET_2751506_ID);
        assert_eq!(t.block_blob(extra_nonce, nonce).unwrap(), blob);
        assert_eq!(blob_nonce_offset(&hashing), Ok(39));
    }

    #[test]
    fn mainnet_block_with_transactions_round_trips_and_has_its_id() {
        let blob = unhex(MAINNET_1731606);
        let extra = extra_range(&blob);
        // Reserve the last 8 bytes of the extra field, wherever they fall.
        let t = MoneroTemplate::parse(&blob, extra.end - 8, 8).unwrap();
        assert_eq!(t.height(), 1_731_606);
        assert_eq!(t.major_version(), 9);
        assert_eq!(t.transaction_count(), 4);
        let nonce: [u8; 4] = blob[t.nonce_offset()..t.nonce_offset() + 4]
            .try_into()
            .unwrap();
        assert_eq!(u32::from_le_bytes(nonce), 4_123_173_351);
        let extra_nonce = &blob[extra.end - 8..extra.end];
        let hashing = t.hashing_blob(extra_nonce).unwrap();
        assert_eq!(hex::encode(block_id(&hashing)), MAINNET_1731606_ID);
        assert_eq!(t.block_blob(extra_nonce, nonce).unwrap(), blob);
        // A different extra nonce is a different block.
        assert_ne!(
            hex::encode(block_id(&t.hashing_blob(&[0u8; 8]).unwrap())),
            MAINNET_1731606_ID
        );
    }

    #[test]
    fn block_202612_keeps_its_historical_id() {
        // The hashing blob of mainnet block 202612 as monerod computes it today (with the
        // fixed tree_hash over its 514 transactions), derived with this module's parser
        // and tree_hash from monero's tests/data/blocks/block_202612_mainnet.bin
        // (monero-project/monero at 0aa9c51b, same bytes as Cuprate's bbd604d2….bin);
        // monero's unit test
        // cn_format_utils.block_longhash_202612_mainnet_blob asserts its hash 426d16cf…
        // and the block id bbd604d2….
        let hashing = unhex(
            "01009ad29fa0055da0a3d004c352a90cc86b00fab676695d76a4d1de16036c41ba4dd188c4d76f\
             46090040f353c96de74c53f87389b66fa625ed1f8676beeb5d47b4f0193bd16b584933be8204",
        );
        let mut raw = Vec::new();
        write_varint(&mut raw, hashing.len() as u64);
        raw.extend_from_slice(&hashing);
        assert_eq!(keccak256(&raw), BLOCK_202612_HASHING_BLOB_ID);
        assert_eq!(
            hex::encode(block_id(&hashing)),
            "bbd604d2ba11ba27935e006ed39c9bfdd99b76bf4a50654bc1e1e61217962698"
        );
    }

    #[test]
    fn v1_miner_tx_is_refused() {
        // A real pre-RingCT block: well formed, but no pool template looks like it.
        let blob = unhex(MAINNET_202609);
        let extra = extra_range(&blob);
        assert_eq!(
            MoneroTemplate::parse(&blob, extra.start, 1).unwrap_err(),
            JobError::Unsupported {
                what: "miner tx version",
                value: 1,
                offset: 43
            }
        );
    }

    #[test]
    fn malformed_templates_are_refused_with_a_reason() {
        let blob = unhex(GBT_TEMPLATE);
        let parse =
            |b: &[u8]| MoneroTemplate::parse(b, GBT_RESERVED_OFFSET, GBT_RESERVE_SIZE).err();

        assert!(matches!(
            parse(&blob[..40]),
            Some(JobError::Truncated {
                offset: 40,
                what: "header nonce"
            })
        ));
        assert!(matches!(
            parse(&blob[..blob.len() - 1]),
            Some(JobError::Truncated {
                what: "transaction count",
                ..
            })
        ));

        let mut trailing = blob.clone();
        trailing.push(0);
        assert_eq!(
            parse(&trailing),
            Some(JobError::TrailingBytes {
                offset: blob.len(),
                count: 1
            })
        );

        let mut rct = blob.clone();
        let rct_at = blob.len() - 2;
        rct[rct_at] = 5;
        assert!(matches!(
            parse(&rct),
            Some(JobError::Unsupported {
                what: "miner tx RingCT type",
                value: 5,
                ..
            })
        ));

        let mut input = blob.clone();
        input[47] = 0x02; // txin_to_key instead of txin_gen
        assert!(matches!(
            parse(&input),
            Some(JobError::Unsupported {
                value: 2,
                offset: 47,
                ..
            })
        ));

        let mut output = blob.clone();
        output[57] = 0x01; // txout_to_scripthash
        assert!(matches!(
            parse(&output),
            Some(JobError::Unsupported {
                what: "miner tx output target type",
                value: 1,
                offset: 57
            })
        ));

        let mut count = blob.clone();
        *count.last_mut().unwrap() = 0x05; // five hashes announced, none present
        assert!(matches!(
            parse(&count),
            Some(JobError::Malformed {
                what: "transaction count",
                ..
            })
        ));
        let mut extra = blob.clone();
        extra[91] = 0x7f; // extra length 127, past the end of the blob
        assert!(matches!(
            parse(&extra),
            Some(JobError::Truncated {
                what: "miner tx extra",
                ..
            })
        ));
    }

    #[test]
    fn varints_follow_monero_rules() {
        let read = |b: &[u8]| Reader::new(b).varint("v");
        assert_eq!(read(&[0x00]), Ok(0));
        assert_eq!(read(&[0x7f]), Ok(127));
        assert_eq!(read(&[0x80, 0x01]), Ok(128));
        assert_eq!(
            read(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
            Ok(u64::MAX)
        );
        assert!(read(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]).is_err());
        assert!(read(&[0x80, 0x00]).is_err()); // non-canonical zero
        assert!(read(&[0x80]).is_err());
        assert!(read(&[]).is_err());
        for v in [0, 1, 127, 128, 300, 1 << 35, u64::MAX] {
            let mut out = Vec::new();
            write_varint(&mut out, v);
            assert_eq!(read(&out), Ok(v));
        }
    }

    #[test]
    fn nonce_offset_follows_the_header_varints() {
        // A zero timestamp is one byte, not five.
        let mut blob = vec![0x10, 0x10, 0x00];
        blob.extend_from_slice(&[0u8; 36]);
        assert_eq!(blob_nonce_offset(&blob), Ok(35));
        assert_eq!(blob_nonce_offset(&unhex(GBT_HASHING)), Ok(39));
        assert!(blob_nonce_offset(&blob[..38]).is_err());
    }

    #[test]
    fn tree_hash_of_small_trees() {
        let l = leaves(5);
        assert_eq!(tree_hash(&l[..1]), l[0]);
        assert_eq!(tree_hash(&l[..2]), keccak_pair(&l[0], &l[1]));
        // 3 leaves: leaf 0 passes through, 1 and 2 are paired.
        assert_eq!(
            tree_hash(&l[..3]),
            keccak_pair(&l[0], &keccak_pair(&l[1], &l[2]))
        );
        // 4 leaves: a plain binary tree.
        assert_eq!(
            tree_hash(&l[..4]),
            keccak_pair(&keccak_pair(&l[0], &l[1]), &keccak_pair(&l[2], &l[3]))
        );
        // 5 leaves: 0..3 pass through, 3 and 4 are paired, then a tree of 4.
        assert_eq!(
            tree_hash(&l),
            keccak_pair(
                &keccak_pair(&l[0], &l[1]),
                &keccak_pair(&l[2], &keccak_pair(&l[3], &l[4]))
            )
        );
        assert_eq!(tree_hash_cnt(3), 2);
        assert_eq!(tree_hash_cnt(4), 2);
        assert_eq!(tree_hash_cnt(5), 4);
        assert_eq!(tree_hash_cnt(514), 512);
    }

    #[test]
    fn first_leaf_branch_gives_the_full_tree_root() {
        for n in 1..=20 {
            let mut l = leaves(n);
            let branch = first_leaf_branch(&l);
            assert_eq!(
                root_from_first_leaf(l[0], &branch),
                tree_hash(&l),
                "{n} leaves"
            );
            // floor(log2 n) hashes per job (leaf 0 skips the partial bottom level), and
            // the branch does not depend on leaf 0.
            assert_eq!(branch.len(), n.ilog2() as usize, "{n} leaves");
            l[0] = [0xab; 32];
            assert_eq!(
                root_from_first_leaf(l[0], &branch),
                tree_hash(&l),
                "{n} leaves"
            );
        }
    }

    proptest! {
        #[test]
        fn parsing_random_bytes_never_panics(
            bytes in proptest::collection::vec(any::<u8>(), 0..400),
            offset in 0usize..400,
            size in 0usize..300,
        ) {
            let _ = blob_nonce_offset(&bytes);
            if let Ok(t) = MoneroTemplate::parse(&bytes, offset, size) {
                let _ = t.hashing_blob(&bytes[..size.min(bytes.len())]);
                let _ = t.block_blob(&[0u8; 4][..size.min(4)], [1, 2, 3, 4]);
            }
        }

        #[test]
        fn mutated_real_templates_never_panic(
            which in 0usize..4,
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
            cut in any::<usize>(),
            offset in 0usize..300,
            size in 0usize..40,
            extra_nonce in proptest::collection::vec(any::<u8>(), 0..40),
        ) {
            let mut blob = unhex([GBT_TEMPLATE, GBT_TX_TEMPLATE, MAINNET_2751506, MAINNET_1731606][which]);
            for (at, value) in edits {
                let at = at % blob.len();
                blob[at] = value;
            }
            blob.truncate(cut % (blob.len() + 1));
            if let Ok(t) = MoneroTemplate::parse(&blob, offset, size) {
                let hashing = t.hashing_blob(&extra_nonce);
                prop_assert_eq!(hashing.is_ok(), extra_nonce.len() <= size);
                let block = t.block_blob(&extra_nonce, [9, 9, 9, 9]);
                prop_assert_eq!(block.is_ok(), extra_nonce.len() <= size);
                if let Ok(block) = block {
                    prop_assert_eq!(block.len(), blob.len());
                }
            }
        }

        #[test]
        fn block_blob_hashes_like_the_hashing_blob(extra_nonce in any::<[u8; 8]>(), nonce in any::<[u8; 4]>()) {
            // Whatever the pool writes, the block it submits has the id the miner's work
            // implies: re-parsing the block reproduces the hashing blob with the nonce.
            let t = MoneroTemplate::parse(&unhex(GBT_TX_TEMPLATE), GBT_RESERVED_OFFSET, GBT_RESERVE_SIZE).unwrap();
            let block = t.block_blob(&extra_nonce, nonce).unwrap();
            let mut work = t.hashing_blob(&extra_nonce).unwrap();
            work[39..43].copy_from_slice(&nonce);
            let reparsed = MoneroTemplate::parse(&block, GBT_RESERVED_OFFSET, GBT_RESERVE_SIZE).unwrap();
            prop_assert_eq!(reparsed.hashing_blob(&extra_nonce).unwrap(), work);
        }
    }
}
