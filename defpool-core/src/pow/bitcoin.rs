//! Bitcoin-family proof of work: header hashes (sha256d, scrypt), 256-bit targets, the
//! compact `nBits` form, and stratum share difficulty.
//!
//! A hash meets a target when, read as a little-endian 256-bit number, it is at most the
//! target. That comparison decides whether a share counts and whether a block is found,
//! so it is done in exact integer arithmetic; floats only appear where a difficulty is
//! shown or estimated.
//!
//! Stratum difficulty 1 is the target `0x00000000ffff0000…` (`0xffff × 2^208`, the
//! truncated Bitcoin genesis target) for sha256d. For scrypt every Litecoin pool and
//! miner (cpuminer divides the stratum difficulty by 65536 before building its target)
//! uses a difficulty-1 target 2^16 times larger, `0x0000ffff0000…`. Getting that factor
//! wrong makes every scrypt share "low difficulty" (or every one accepted), so it lives in
//! one place: [`PowAlgorithm::diff1_target`].

mod u256;

use std::fmt;

use sha2::{Digest, Sha256};

use crate::coin::Algorithm;
use crate::units::Difficulty;
use u256::U256;

/// Bytes of a Bitcoin-family block header.
pub const HEADER_LEN: usize = 80;

/// `sha256(sha256(data))`: block ids, transaction ids, merkle nodes and the sha256d
/// proof of work. The bytes are in internal order (a little-endian number); block
/// explorers and RPCs show them reversed.
pub fn sha256d(data: &[u8]) -> [u8; 32] {
    sha256_of_digest(&Sha256::digest(data).into())
}

/// [`sha256d`] of the concatenation of `parts`, without building it: a coinbase
/// (`coinb1 ‖ extranonce1 ‖ extranonce2 ‖ coinb2`) is hashed for every share.
pub fn sha256d_parts(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    sha256_of_digest(&hasher.finalize().into())
}

/// [`sha256d`] of 64 bytes (a merkle node: left ‖ right), straight on the compression
/// function: the second block of the inner hash is the same padding for every node.
pub fn sha256d_64(data: &[u8; 64]) -> [u8; 32] {
    let mut state = SHA256_IV;
    compress(&mut state, data);
    compress(&mut state, &PADDING_AFTER_64);
    sha256_of_digest(&state_bytes(&state))
}

/// [`sha256d`] of an 80-byte block header, straight on the compression function.
pub fn sha256d_header(header: &[u8; HEADER_LEN]) -> [u8; 32] {
    let mut state = SHA256_IV;
    let (first, rest) = header.split_at(64);
    compress(&mut state, first.try_into().expect("64 bytes"));
    let mut block = [0u8; 64];
    block[..HEADER_LEN - 64].copy_from_slice(rest);
    block[HEADER_LEN - 64] = 0x80;
    block[56..].copy_from_slice(&(HEADER_LEN as u64 * 8).to_be_bytes());
    compress(&mut state, &block);
    sha256_of_digest(&state_bytes(&state))
}

/// SHA-256's initial state (FIPS 180-4, 5.3.3).
const SHA256_IV: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// The block SHA-256 appends to a 64-byte message: `0x80`, zeros, the length in bits
/// (512) big-endian.
const PADDING_AFTER_64: [u8; 64] = {
    let mut block = [0u8; 64];
    block[0] = 0x80;
    block[62] = 0x02;
    block
};

fn compress(state: &mut [u32; 8], block: &[u8; 64]) {
    use sha2::digest::generic_array::GenericArray;
    sha2::compress256(state, std::slice::from_ref(GenericArray::from_slice(block)));
}

fn state_bytes(state: &[u32; 8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// SHA-256 of a 32-byte digest (the outer hash of sha256d): one padded block.
fn sha256_of_digest(digest: &[u8; 32]) -> [u8; 32] {
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(digest);
    block[32] = 0x80;
    block[56..].copy_from_slice(&256u64.to_be_bytes());
    let mut state = SHA256_IV;
    compress(&mut state, &block);
    state_bytes(&state)
}

/// Litecoin's proof-of-work hash: scrypt with N=1024, r=1, p=1, the header as both
/// password and salt, 32 bytes out (internal order, like [`sha256d`]).
pub fn scrypt_1024_1_1(header: &[u8]) -> [u8; 32] {
    // log2(N) = 10, r = 1, p = 1, 32 bytes: constant parameters inside the crate's
    // limits, so neither call can fail. Were one to, the all-ones "hash" meets no
    // target: a broken hasher must reject shares, never accept them.
    let mut out = [0xff; 32];
    if let Ok(params) = scrypt::Params::new(10, 1, 1, 32) {
        let _ = scrypt::scrypt(header, header, &params, &mut out);
    }
    out
}

/// The hash of a Bitcoin-family block header that is compared with targets; the coin's
/// [`Algorithm`] restricted to the ones that have compact targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PowAlgorithm {
    Sha256d,
    Scrypt,
}

/// The algorithm is not a Bitcoin-family one (RandomX uses [`crate::pow::check_hash`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} has no Bitcoin-family targets")]
pub struct NotBitcoinFamily(pub Algorithm);

impl TryFrom<Algorithm> for PowAlgorithm {
    type Error = NotBitcoinFamily;
    fn try_from(algorithm: Algorithm) -> Result<Self, Self::Error> {
        match algorithm {
            Algorithm::Sha256d => Ok(PowAlgorithm::Sha256d),
            Algorithm::Scrypt => Ok(PowAlgorithm::Scrypt),
            other => Err(NotBitcoinFamily(other)),
        }
    }
}

impl PowAlgorithm {
    /// The proof-of-work hash of an 80-byte header. (The block id is always
    /// [`sha256d`], whatever the algorithm.)
    pub fn hash_header(self, header: &[u8; HEADER_LEN]) -> [u8; 32] {
        match self {
            PowAlgorithm::Sha256d => sha256d_header(header),
            PowAlgorithm::Scrypt => scrypt_1024_1_1(header),
        }
    }

    /// Log2 of how much larger this algorithm's difficulty-1 target is than sha256d's.
    fn diff1_shift(self) -> i32 {
        match self {
            PowAlgorithm::Sha256d => 0,
            PowAlgorithm::Scrypt => 16,
        }
    }

    /// The target of stratum difficulty 1: `0xffff × 2^208` for sha256d, 2^16 times
    /// that for scrypt.
    pub fn diff1_target(self) -> Target {
        Target(U256::from_u64(DIFF1_MANTISSA).shl((DIFF1_SHIFT + self.diff1_shift()) as u32))
    }

    /// The share target for a stratum difficulty: `floor(diff1 / difficulty)`, exact
    /// for every `f64` (the difficulty is taken as the binary fraction it is), and
    /// [`Target::MAX`] when that does not fit in 256 bits (difficulties below ~1.5e-5
    /// for sha256d, ~2.3e-10 for scrypt).
    pub fn target_for_difficulty(self, difficulty: Difficulty) -> Target {
        let (mantissa, exponent) = decompose(difficulty.value());
        let shift = DIFF1_SHIFT + self.diff1_shift() - exponent;
        match U256::from_ratio(DIFF1_MANTISSA, shift, mantissa) {
            Some(t) => Target(t),
            None => Target::MAX,
        }
    }

    /// The stratum difficulty a target stands for, `diff1 / target` (infinite for a
    /// zero target). For display and statistics.
    pub fn difficulty_of_target(self, target: &Target) -> f64 {
        self.diff1_target().0.to_f64() / target.0.to_f64()
    }

    /// The share difficulty a hash reached, `diff1 / hash` (infinite for a zero hash):
    /// what the pool credits is the session's difficulty, this is for "best share"
    /// statistics and logs.
    pub fn hash_difficulty(self, hash: &[u8; 32]) -> f64 {
        self.diff1_target().0.to_f64() / U256::from_le_bytes(hash).to_f64()
    }
}

/// Difficulty 1 is `0xffff × 2^208` for sha256d.
const DIFF1_MANTISSA: u64 = 0xffff;
const DIFF1_SHIFT: i32 = 208;

/// A positive finite `f64` as `mantissa × 2^exponent`, exactly.
fn decompose(value: f64) -> (u64, i32) {
    let bits = value.to_bits();
    let exponent_bits = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1 << 52) - 1);
    if exponent_bits == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1 << 52), exponent_bits - 1075)
    }
}

/// A 256-bit target: a hash meets it when the hash, read as a little-endian number, is
/// at most the target.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Target(U256);

impl Target {
    pub const ZERO: Target = Target(U256::ZERO);
    /// Every hash meets it.
    pub const MAX: Target = Target(U256::MAX);

    /// Whether `hash` (32 bytes in internal order, as [`sha256d`] and
    /// [`scrypt_1024_1_1`] return them) meets the target: `hash <= target` as 256-bit
    /// numbers, the consensus rule.
    pub fn is_met_by(&self, hash: &[u8; 32]) -> bool {
        U256::from_le_bytes(hash) <= self.0
    }

    /// From 32 bytes in internal (little-endian) order.
    pub fn from_le_bytes(bytes: [u8; 32]) -> Target {
        Target(U256::from_le_bytes(&bytes))
    }

    pub fn to_le_bytes(self) -> [u8; 32] {
        self.0.to_le_bytes()
    }

    /// From 32 big-endian bytes, the order RPCs show (GBT's `target`).
    pub fn from_be_bytes(bytes: [u8; 32]) -> Target {
        Target(U256::from_be_bytes(&bytes))
    }

    pub fn to_be_bytes(self) -> [u8; 32] {
        self.0.to_be_bytes()
    }

    /// From 64 hex digits, big-endian (GBT's `target`).
    pub fn from_hex(hex_be: &str) -> Result<Target, TargetError> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hex_be, &mut bytes)
            .map_err(|_| TargetError::NotHex(hex_be.chars().take(80).collect()))?;
        Ok(Target::from_be_bytes(bytes))
    }

    /// The compact form Bitcoin Core would write for this target (`GetCompact`): the
    /// mantissa keeps the top 23 bits, so the round trip through [`CompactTarget`]
    /// rounds the target down.
    pub fn to_compact(self) -> CompactTarget {
        let mut size = self.0.bits().div_ceil(8);
        let mut mantissa = if size <= 3 {
            self.0.low_u64() << (8 * (3 - size))
        } else {
            self.0.shr(8 * (size - 3)).low_u64()
        } as u32;
        // The 0x00800000 bit is the sign: move it out of the mantissa.
        if mantissa & 0x0080_0000 != 0 {
            mantissa >>= 8;
            size += 1;
        }
        CompactTarget(mantissa | (size << 24))
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Target({self})")
    }
}

/// 64 hex digits, big-endian, as RPCs show targets.
impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.to_be_bytes()))
    }
}

/// Why a target could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("target {0:?} is not 64 hex digits")]
    NotHex(String),
    #[error("compact target {0:?} is not 8 hex digits")]
    CompactNotHex(String),
    /// Bitcoin Core treats these as invalid proof of work: no block can meet them.
    #[error("compact target {0} is negative")]
    Negative(CompactTarget),
    #[error("compact target {0} overflows 256 bits")]
    Overflow(CompactTarget),
}

/// The header's `nBits`: a target as a floating-point number with a one-byte base-256
/// exponent and a 23-bit mantissa (bit 23 being a sign that valid targets never have).
///
/// GBT's `bits` and stratum's `nbits` show it as 8 big-endian hex digits; the header
/// stores it little-endian.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CompactTarget(pub u32);

impl CompactTarget {
    /// From 8 hex digits, big-endian (`"207fffff"`, `"1d00ffff"`).
    pub fn from_hex(hex_be: &str) -> Result<CompactTarget, TargetError> {
        let mut bytes = [0u8; 4];
        hex::decode_to_slice(hex_be, &mut bytes)
            .map_err(|_| TargetError::CompactNotHex(hex_be.chars().take(16).collect()))?;
        Ok(CompactTarget(u32::from_be_bytes(bytes)))
    }

    /// 8 hex digits, big-endian.
    pub fn to_hex(self) -> String {
        format!("{:08x}", self.0)
    }

    /// The 256-bit target (Bitcoin Core's `SetCompact`), refusing the negative and
    /// overflowing forms that `CheckProofOfWork` refuses.
    pub fn to_target(self) -> Result<Target, TargetError> {
        let size = self.0 >> 24;
        let word = self.0 & 0x007f_ffff;
        let value = if size <= 3 {
            U256::from_u64(u64::from(word >> (8 * (3 - size))))
        } else {
            U256::from_u64(u64::from(word)).shl(8 * (size - 3))
        };
        if word != 0 && self.0 & 0x0080_0000 != 0 {
            return Err(TargetError::Negative(self));
        }
        if word != 0 && (size > 34 || (word > 0xff && size > 33) || (word > 0xffff && size > 32)) {
            return Err(TargetError::Overflow(self));
        }
        Ok(Target(value))
    }
}

impl fmt::Display for CompactTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

impl fmt::Debug for CompactTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CompactTarget({:08x})", self.0)
    }
}

/// Parses a 64-hex-digit hash as RPCs and explorers show it (big-endian) into internal
/// byte order.
pub fn hash_from_display_hex(hex_be: &str) -> Option<[u8; 32]> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(hex_be, &mut bytes).ok()?;
    bytes.reverse();
    Some(bytes)
}

/// A hash in internal byte order as RPCs and explorers show it (reversed, hex).
pub fn hash_to_display_hex(hash: &[u8; 32]) -> String {
    let mut bytes = *hash;
    bytes.reverse();
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn header(hex_str: &str) -> [u8; 80] {
        let mut h = [0u8; 80];
        hex::decode_to_slice(hex_str, &mut h).unwrap();
        h
    }

    fn display(hash: [u8; 32]) -> String {
        hash_to_display_hex(&hash)
    }

    fn difficulty(d: f64) -> Difficulty {
        Difficulty::new(d).unwrap()
    }

    /// Bitcoin mainnet genesis block header.
    const BTC_GENESIS: &str = concat!(
        "01000000",
        "0000000000000000000000000000000000000000000000000000000000000000",
        "3ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a",
        "29ab5f49",
        "ffff001d",
        "1dac2b7c"
    );

    /// Bitcoin mainnet block 125552, the worked example of the Bitcoin wiki's "Block
    /// hashing algorithm" page.
    const BTC_125552: &str = concat!(
        "01000000",
        "81cd02ab7e569e8bcd9317e2fe99f2de44d49ab2b8851ba4a308000000000000",
        "e320b6c2fffc8d750423db8b1eb942ae710e951ed797f7affc8892b0f1fc122b",
        "c7f5d74d",
        "f2b9441a",
        "42a14695"
    );

    /// Litecoin mainnet genesis block header (time 1317972665, bits 1e0ffff0, nonce
    /// 2084524493).
    const LTC_GENESIS: &str = concat!(
        "01000000",
        "0000000000000000000000000000000000000000000000000000000000000000",
        "d9ced4ed1130f7b7faad9be25323ffafa33232a17c3edf6cfd97bee6bafbdd97",
        "b9aa8e4e",
        "f0ff0f1e",
        "cd513f7c"
    );

    #[test]
    fn bitcoin_genesis_hash() {
        let h = header(BTC_GENESIS);
        assert_eq!(
            display(sha256d(&h)),
            "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
        );
        let target = CompactTarget(0x1d00ffff).to_target().unwrap();
        assert!(target.is_met_by(&sha256d(&h)));
        assert_eq!(target, PowAlgorithm::Sha256d.diff1_target());
    }

    #[test]
    fn bitcoin_block_125552_hash_meets_its_bits() {
        let h = header(BTC_125552);
        let hash = PowAlgorithm::Sha256d.hash_header(&h);
        assert_eq!(
            display(hash),
            "00000000000000001e8d6829a8a21adc5d38d0a473b144b6765798e61f98bd1d"
        );
        let bits = CompactTarget::from_hex("1a44b9f2").unwrap();
        assert!(bits.to_target().unwrap().is_met_by(&hash));
        // Its network difficulty was 244,112.49.
        let d = PowAlgorithm::Sha256d.difficulty_of_target(&bits.to_target().unwrap());
        assert!((d - 244_112.487_774_9).abs() < 0.001, "{d}");
    }

    #[test]
    fn litecoin_genesis_scrypt_pow() {
        let h = header(LTC_GENESIS);
        // The block id is sha256d whatever the algorithm.
        assert_eq!(
            display(sha256d(&h)),
            "12a765e31ffd4059bada1e25190f6e98c99d9714d334efa41a195a7e7e04bfe2"
        );
        let pow = PowAlgorithm::Scrypt.hash_header(&h);
        // FIELD-NOTES: 0000050c34a6…1e00; the middle from Python's hashlib.scrypt.
        assert_eq!(
            display(pow),
            "0000050c34a64b415b6b15b37f2216634b5b1669cb9a2e38d76f7213b0671e00"
        );
        assert!(CompactTarget(0x1e0ffff0)
            .to_target()
            .unwrap()
            .is_met_by(&pow));
        assert!(!CompactTarget(0x1e00ffff)
            .to_target()
            .unwrap()
            .is_met_by(&pow));
    }

    #[test]
    fn diff1_targets() {
        assert_eq!(
            PowAlgorithm::Sha256d.diff1_target().to_string(),
            "00000000ffff0000000000000000000000000000000000000000000000000000"
        );
        assert_eq!(
            PowAlgorithm::Scrypt.diff1_target().to_string(),
            "0000ffff00000000000000000000000000000000000000000000000000000000"
        );
        for algo in [PowAlgorithm::Sha256d, PowAlgorithm::Scrypt] {
            assert_eq!(
                algo.target_for_difficulty(difficulty(1.0)),
                algo.diff1_target()
            );
            assert_eq!(algo.difficulty_of_target(&algo.diff1_target()), 1.0);
        }
    }

    #[test]
    fn fractional_difficulties_are_exact() {
        // 0.05 is not a binary fraction: the target is floor(diff1 / the f64 nearest 0.05).
        let t = PowAlgorithm::Scrypt.target_for_difficulty(difficulty(0.05));
        assert_eq!(
            t.to_string(),
            "0013ffebffffffffb00050000000013ffebffffffffb00050000000013ffebff"
        );
        let t = PowAlgorithm::Sha256d.target_for_difficulty(difficulty(0.5));
        assert_eq!(
            t.to_string(),
            "00000001fffe0000000000000000000000000000000000000000000000000000"
        );
        let t = PowAlgorithm::Sha256d.target_for_difficulty(difficulty(65536.0));
        assert_eq!(
            t.to_string(),
            "000000000000ffff000000000000000000000000000000000000000000000000"
        );
        // Too easy to fit 256 bits: every hash is a share.
        assert_eq!(
            PowAlgorithm::Scrypt.target_for_difficulty(difficulty(1e-12)),
            Target::MAX
        );
        assert_eq!(
            PowAlgorithm::Sha256d.target_for_difficulty(difficulty(f64::MIN_POSITIVE)),
            Target::MAX
        );
        // Absurdly hard: nothing but a zero hash.
        assert_eq!(
            PowAlgorithm::Sha256d.target_for_difficulty(difficulty(f64::MAX)),
            Target::ZERO
        );
    }

    #[test]
    fn regtest_bits_match_gbt_target() {
        // ltc_gbt.json: bits 207fffff, target 7fffff00…
        let target = CompactTarget::from_hex("207fffff")
            .unwrap()
            .to_target()
            .unwrap();
        assert_eq!(
            target,
            Target::from_hex("7fffff0000000000000000000000000000000000000000000000000000000000")
                .unwrap()
        );
        assert_eq!(target.to_compact(), CompactTarget(0x207fffff));
        // In scrypt stratum units regtest is difficulty ~3.05e-5 (litecoind's
        // getdifficulty, in sha256d units, says 4.66e-10).
        let d = PowAlgorithm::Scrypt.difficulty_of_target(&target);
        assert!((d - 3.051_711_6e-5).abs() < 1e-12, "{d}");
        let d = PowAlgorithm::Sha256d.difficulty_of_target(&target);
        assert!((d - 4.656_542e-10).abs() < 1e-15, "{d}");
    }

    #[test]
    fn compact_edge_cases_follow_bitcoin_core() {
        // arith_uint256_tests.cpp (bitcoin core), SetCompact / GetCompact.
        let cases: [(u32, &str, u32); 8] = [
            (0x0000_0000, "0", 0),
            (0x0112_3456, "12", 0x0112_0000),
            (0x0200_8000, "80", 0x0200_8000),
            (0x0512_3456, "1234560000", 0x0512_3456),
            (0x0412_3456, "12345600", 0x0412_3456),
            (0x0312_3456, "123456", 0x0312_3456),
            (0x0100_3456, "0", 0),
            (
                0x2012_3456,
                "1234560000000000000000000000000000000000000000000000000000000000",
                0x2012_3456,
            ),
        ];
        for (compact, hex_value, back) in cases {
            let t = CompactTarget(compact).to_target().unwrap();
            let padded = format!("{hex_value:0>64}");
            assert_eq!(t.to_string(), padded, "{compact:08x}");
            assert_eq!(t.to_compact(), CompactTarget(back), "{compact:08x}");
        }
        assert_eq!(
            CompactTarget(0x0492_3456).to_target(),
            Err(TargetError::Negative(CompactTarget(0x0492_3456)))
        );
        assert_eq!(
            CompactTarget(0xff12_3456).to_target(),
            Err(TargetError::Overflow(CompactTarget(0xff12_3456)))
        );
        // A zero mantissa with the sign bit is zero, not negative.
        assert_eq!(CompactTarget(0x0180_0000).to_target(), Ok(Target::ZERO));
        assert!(CompactTarget::from_hex("1d00fff").is_err());
        assert!(CompactTarget::from_hex("1d00fffg").is_err());
        assert_eq!(
            CompactTarget::from_hex("1D00FFFF").unwrap().to_hex(),
            "1d00ffff"
        );
    }

    #[test]
    fn hash_meets_target_at_the_boundary() {
        let target = CompactTarget(0x1d00ffff).to_target().unwrap();
        let at = target.to_le_bytes();
        assert!(target.is_met_by(&at));
        let mut above = at;
        above[0] = 1; // target + 1: its low byte is zero
        assert!(!target.is_met_by(&above));
        assert!(Target::MAX.is_met_by(&[0xff; 32]));
        assert!(Target::ZERO.is_met_by(&[0; 32]));
        assert!(!Target::ZERO.is_met_by(&{
            let mut h = [0; 32];
            h[0] = 1;
            h
        }));
    }

    #[test]
    fn hash_difficulty_of_real_shares() {
        // Bitcoin genesis: 0x00000000_0019d668… is difficulty ~2536.4 against diff 1.
        let d = PowAlgorithm::Sha256d.hash_difficulty(&sha256d(&header(BTC_GENESIS)));
        assert!((d - 2536.426).abs() < 0.001, "{d}");
        assert_eq!(
            PowAlgorithm::Sha256d.hash_difficulty(&[0; 32]),
            f64::INFINITY
        );
    }

    #[test]
    fn only_bitcoin_family_algorithms_convert() {
        assert_eq!(
            PowAlgorithm::try_from(Algorithm::Scrypt),
            Ok(PowAlgorithm::Scrypt)
        );
        assert_eq!(
            PowAlgorithm::try_from(Algorithm::RandomX),
            Err(NotBitcoinFamily(Algorithm::RandomX))
        );
    }

    proptest! {
        #[test]
        fn compact_round_trip_of_valid_compacts(size in 0u32..=32, mantissa in 0x8000u32..0x80_0000) {
            // A normalised compact (mantissa's top byte non-zero, or small sizes) maps to a
            // target and back to itself.
            let compact = CompactTarget((size << 24) | mantissa);
            let target = compact.to_target().unwrap();
            let back = target.to_compact();
            prop_assert_eq!(back.to_target().unwrap(), target);
            if size >= 3 && mantissa >= 0x1_0000 {
                prop_assert_eq!(back, compact);
            }
        }

        #[test]
        fn fixed_size_sha256d_matches_the_digest_api(
            data in proptest::collection::vec(any::<u8>(), 0..300),
            cut in any::<prop::sample::Index>(),
            node in any::<[u8; 32]>(),
            header in proptest::collection::vec(any::<u8>(), HEADER_LEN),
        ) {
            let reference = |d: &[u8]| -> [u8; 32] { Sha256::digest(Sha256::digest(d)).into() };
            prop_assert_eq!(sha256d(&data), reference(&data));
            let (a, b) = data.split_at(cut.index(data.len() + 1));
            prop_assert_eq!(sha256d_parts(&[a, &[], b]), reference(&data));
            let mut pair = [0u8; 64];
            pair[..32].copy_from_slice(&node);
            pair[32..].copy_from_slice(&node.map(|x| x ^ 0x5a));
            prop_assert_eq!(sha256d_64(&pair), reference(&pair));
            let header: [u8; HEADER_LEN] = header.try_into().unwrap();
            prop_assert_eq!(sha256d_header(&header), reference(&header));
        }

        #[test]
        fn target_to_compact_never_rounds_up(bytes in any::<[u8; 32]>()) {
            let target = Target::from_le_bytes(bytes);
            let rounded = target.to_compact().to_target().unwrap();
            prop_assert!(rounded <= target);
            // Only the bits below the 23-bit mantissa are lost.
            prop_assert_eq!(rounded.to_compact(), target.to_compact());
        }

        #[test]
        fn harder_difficulty_never_gives_an_easier_target(a in 1e-9f64..1e12, b in 1e-9f64..1e12) {
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            for algo in [PowAlgorithm::Sha256d, PowAlgorithm::Scrypt] {
                let easy = algo.target_for_difficulty(difficulty(lo));
                let hard = algo.target_for_difficulty(difficulty(hi));
                prop_assert!(hard <= easy);
            }
        }

        #[test]
        fn difficulty_survives_the_target(d in 1e-4f64..1e15) {
            let algo = PowAlgorithm::Sha256d;
            let back = algo.difficulty_of_target(&algo.target_for_difficulty(difficulty(d)));
            prop_assert!(((back - d) / d).abs() < 1e-12, "{} -> {}", d, back);
        }
    }
}
