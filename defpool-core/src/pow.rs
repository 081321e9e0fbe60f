//! Proof-of-work arithmetic: whether a hash meets a difficulty, and the compact job
//! targets miners are sent.
//!
//! CryptoNote coins (Monero) compare the hash, read as a little-endian 256-bit number,
//! against a difficulty: `hash × difficulty` must fit in 256 bits. Miners are not sent
//! that difficulty but a truncated target in xmrig's format, so both directions of that
//! conversion live here too. Bitcoin-family proof of work (sha256d, scrypt, compact
//! `nBits`, 256-bit targets) has its own rules and lives in [`bitcoin`].

pub mod bitcoin;

/// Why a job target could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PowError {
    #[error("job target {0:?} is not hex")]
    NotHex(String),
    #[error("job target must be 4 or 8 bytes, got {0} bytes")]
    TargetLength(usize),
    #[error("job target is zero, which no hash can meet")]
    ZeroTarget,
}

// ---------------------------------------------------------------------------------------
// CryptoNote (Monero)
// ---------------------------------------------------------------------------------------

/// Whether `hash` meets `difficulty` by Monero's rule: the hash, read as a little-endian
/// 256-bit number, times the difficulty must not overflow 256 bits.
///
/// This is what monerod's `check_hash` decides (its `check_hash_64` below 2^64, its
/// `check_hash_128` above), computed exactly with 64-bit limbs. A difficulty of 0 is met
/// by every hash, as in monerod.
pub fn check_hash(hash: &[u8; 32], difficulty: u128) -> bool {
    let h = hash_limbs(hash);
    // A hash with its top limb set cannot carry a difficulty of 2^64 or more: the
    // product would be at least 2^256. This skips the multiplication for most shares
    // checked against a network difficulty.
    if h[3] != 0 && difficulty >> 64 != 0 {
        return false;
    }
    let d = [difficulty as u64, (difficulty >> 64) as u64];
    let mut product = [0u64; 6];
    for (i, &hi) in h.iter().enumerate() {
        let mut carry: u128 = 0;
        for (j, &dj) in d.iter().enumerate() {
            // (2^64-1)^2 + 2 × (2^64-1) = 2^128 - 1: never overflows.
            let t = u128::from(hi) * u128::from(dj) + u128::from(product[i + j]) + carry;
            product[i + j] = t as u64;
            carry = t >> 64;
        }
        // Row i-1 wrote up to limb i+1, so limb i+2 is still zero here.
        product[i + 2] = carry as u64;
    }
    product[4] == 0 && product[5] == 0
}

/// The largest difficulty `hash` meets: `floor((2^256 - 1) / hash)`, saturating at
/// `u128::MAX` (a zero hash, or any hash below 2^128, meets every `u128` difficulty).
///
/// `check_hash(hash, d)` holds exactly when `d <= hash_difficulty(hash)`.
pub fn hash_difficulty(hash: &[u8; 32]) -> u128 {
    let h = hash_limbs(hash);
    if h[2] == 0 && h[3] == 0 {
        // hash < 2^128, so (2^256 - 1) / hash >= 2^128.
        return u128::MAX;
    }
    // hash >= 2^128, so the quotient is below 2^128. Long division of the all-ones
    // numerator: its top 128 bits are smaller than the hash, so start the remainder
    // there and produce the 128 quotient bits one at a time.
    let mut rem: [u64; 4] = [u64::MAX, u64::MAX, 0, 0];
    let mut quotient: u128 = 0;
    for _ in 0..128 {
        // rem = rem * 2 + 1 (the next numerator bit is always 1); keep the bit shifted out.
        let overflow = rem[3] >> 63;
        rem[3] = (rem[3] << 1) | (rem[2] >> 63);
        rem[2] = (rem[2] << 1) | (rem[1] >> 63);
        rem[1] = (rem[1] << 1) | (rem[0] >> 63);
        rem[0] = (rem[0] << 1) | 1;
        quotient <<= 1;
        if overflow != 0 || !limbs_less(&rem, &h) {
            limbs_sub_assign(&mut rem, &h);
            quotient |= 1;
        }
    }
    quotient
}

/// The job target xmrig expects for a share difficulty, as hex.
///
/// Up to `0xffffffff` it is 4 bytes: `0xffffffff / difficulty` as a little-endian
/// `u32` (1 → `"ffffffff"`, 256 → `"ffffff00"`). Above, 8 bytes: `u64::MAX /
/// difficulty`, little-endian. xmrig compares the last 8 bytes of its hash, as a
/// little-endian `u64`, against this target.
///
/// The division rounds the target down, so the miner works at a difficulty of at least
/// the one asked ([`difficulty_from_job_target`] gives the exact one). A difficulty of 0
/// means nothing to a miner and is sent as 1.
pub fn job_target_hex(difficulty: u64) -> String {
    let difficulty = difficulty.max(1);
    match u32::try_from(difficulty) {
        Ok(d) => hex::encode((u32::MAX / d).to_le_bytes()),
        Err(_) => hex::encode((u64::MAX / difficulty).to_le_bytes()),
    }
}

/// The share difficulty a miner derives from a job target, as xmrig computes it:
/// 4 bytes → `0xffffffff / le32`, 8 bytes → `u64::MAX / le64`.
///
/// (xmrig widens a 4-byte target to `u64::MAX / (0xffffffff / le32)` and then divides
/// `u64::MAX` by that; for any 32-bit value the result is exactly `0xffffffff / le32`.)
pub fn difficulty_from_job_target(target_hex: &str) -> Result<u64, PowError> {
    let bytes = hex::decode(target_hex).map_err(|_| PowError::NotHex(target_hex.to_string()))?;
    match *bytes.as_slice() {
        [a, b, c, d] => match u32::from_le_bytes([a, b, c, d]) {
            0 => Err(PowError::ZeroTarget),
            t => Ok(u64::from(u32::MAX / t)),
        },
        [a, b, c, d, e, f, g, h] => match u64::from_le_bytes([a, b, c, d, e, f, g, h]) {
            0 => Err(PowError::ZeroTarget),
            t => Ok(u64::MAX / t),
        },
        _ => Err(PowError::TargetLength(bytes.len())),
    }
}

/// The hash as four little-endian 64-bit limbs, least significant first.
fn hash_limbs(hash: &[u8; 32]) -> [u64; 4] {
    let mut limbs = [0u64; 4];
    for (limb, chunk) in limbs.iter_mut().zip(hash.chunks_exact(8)) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        *limb = u64::from_le_bytes(word);
    }
    limbs
}

fn limbs_less(a: &[u64; 4], b: &[u64; 4]) -> bool {
    for i in (0..4).rev() {
        if a[i] != b[i] {
            return a[i] < b[i];
        }
    }
    false
}

/// `a -= b` modulo 2^256 (the caller makes the true result fit).
fn limbs_sub_assign(a: &mut [u64; 4], b: &[u64; 4]) {
    let mut borrow = false;
    for i in 0..4 {
        let (d1, b1) = a[i].overflowing_sub(b[i]);
        let (d2, b2) = d1.overflowing_sub(u64::from(borrow));
        a[i] = d2;
        borrow = b1 || b2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A deliberately simple reference: numbers as little-endian base-2^16 digits in
    /// `u64`s, schoolbook multiplication, no shared code with the limb implementation.
    fn reference_product(hash: &[u8; 32], difficulty: u128) -> Vec<u64> {
        let a: Vec<u64> = hash
            .chunks_exact(2)
            .map(|c| u64::from(u16::from_le_bytes([c[0], c[1]])))
            .collect();
        let b: Vec<u64> = (0..8)
            .map(|i| ((difficulty >> (16 * i)) & 0xffff) as u64)
            .collect();
        let mut out = vec![0u64; a.len() + b.len() + 1];
        for (i, &x) in a.iter().enumerate() {
            for (j, &y) in b.iter().enumerate() {
                out[i + j] += x * y;
            }
            // Normalise after each row so no digit sum can overflow.
            let mut carry = 0;
            for digit in out.iter_mut() {
                *digit += carry;
                carry = *digit >> 16;
                *digit &= 0xffff;
            }
        }
        out
    }

    /// The reference rule: the product fits in 256 bits (16 base-2^16 digits).
    fn reference_check(hash: &[u8; 32], difficulty: u128) -> bool {
        reference_product(hash, difficulty)[16..]
            .iter()
            .all(|&d| d == 0)
    }

    fn hash_from_hex(s: &str) -> [u8; 32] {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    /// Hashes spread over every magnitude: random bytes with the top `zeros` bytes
    /// cleared, so small hashes (the interesting ones for high difficulties) show up.
    fn any_hash() -> impl Strategy<Value = [u8; 32]> {
        (any::<[u8; 32]>(), 0usize..=32).prop_map(|(mut h, zeros)| {
            for b in h.iter_mut().rev().take(zeros) {
                *b = 0;
            }
            h
        })
    }

    fn any_difficulty() -> impl Strategy<Value = u128> {
        (any::<u128>(), 0u32..128).prop_map(|(d, shift)| d >> shift)
    }

    #[test]
    fn check_hash_edges() {
        let zero = [0u8; 32];
        let max = [0xffu8; 32];
        assert!(check_hash(&zero, u128::MAX));
        assert!(check_hash(&max, 1));
        assert!(!check_hash(&max, 2));
        assert!(check_hash(&max, 0));
        // 2^255 × 2 is exactly 2^256: one past the limit. 2^255 - 1 still meets 2.
        let mut top_bit = [0u8; 32];
        top_bit[31] = 0x80;
        assert!(!check_hash(&top_bit, 2));
        let mut below = [0xffu8; 32];
        below[31] = 0x7f;
        assert!(check_hash(&below, 2));
        assert!(!check_hash(&below, 3));
    }

    #[test]
    fn xmrig_diff256_results_meet_their_target() {
        // `result` of shares from samples/xmrig_session_diff256.jsonl (target ffffff00).
        for result in [
            "cc7c9a4e1140b8c1f9a558e1db069ddb535f9c283e31d3eefde2a8535c6e7c00",
            "62472a73fca0947137a7593a0f3166bd4e2e13154c6950659f8c7482e5e95700",
            "24ecd9c8953949735de989b4c42268f2e795c291fb80b1c871838d1cce009600",
        ] {
            let h = hash_from_hex(result);
            assert!(check_hash(&h, 256), "{result}");
            assert!(hash_difficulty(&h) >= 256);
        }
    }

    #[test]
    fn hash_difficulty_edges() {
        assert_eq!(hash_difficulty(&[0u8; 32]), u128::MAX);
        assert_eq!(hash_difficulty(&[0xffu8; 32]), 1);
        let mut h = [0u8; 32];
        h[16] = 1; // 2^128: (2^256 - 1) / 2^128 = 2^128 - 1
        assert_eq!(hash_difficulty(&h), u128::MAX);
        h[16] = 2; // 2^129
        assert_eq!(hash_difficulty(&h), u128::MAX >> 1);
        let mut below = [0xffu8; 32];
        below[31] = 0x7f; // 2^255 - 1 → 2
        assert_eq!(hash_difficulty(&below), 2);
    }

    #[test]
    fn job_targets_from_captured_xmrig_sessions() {
        // samples/xmrig_session.jsonl and xmr_stub_login_response.json: "ffffffff",
        // xmrig_session_diff256.jsonl: "ffffff00", xmrig_keepalive_session.jsonl: "01000000".
        assert_eq!(job_target_hex(1), "ffffffff");
        assert_eq!(difficulty_from_job_target("ffffffff"), Ok(1));
        assert_eq!(job_target_hex(256), "ffffff00");
        assert_eq!(difficulty_from_job_target("ffffff00"), Ok(256));
        assert_eq!(job_target_hex(0xffff_ffff), "01000000");
        assert_eq!(difficulty_from_job_target("01000000"), Ok(0xffff_ffff));
    }

    #[test]
    fn rounded_job_target_can_ask_a_little_more() {
        // 0xffffffff / 65_536 = 0xffff, and 0xffffffff / 0xffff = 65_537: the miner works
        // (and should be credited) at the difficulty the target it got implies.
        assert_eq!(job_target_hex(65_536), "ffff0000");
        assert_eq!(difficulty_from_job_target("ffff0000"), Ok(65_537));
    }

    #[test]
    fn job_targets_above_32_bits_use_8_bytes() {
        let t = job_target_hex(0x1_0000_0000);
        assert_eq!(t.len(), 16);
        assert_eq!(t, hex::encode((u64::MAX / 0x1_0000_0000).to_le_bytes()));
        assert_eq!(difficulty_from_job_target(&t), Ok(0x1_0000_0001));
        assert_eq!(job_target_hex(u64::MAX), "0100000000000000");
        assert_eq!(difficulty_from_job_target("0100000000000000"), Ok(u64::MAX));
        assert_eq!(job_target_hex(0), "ffffffff");
    }

    #[test]
    fn bad_job_targets_are_refused() {
        assert_eq!(
            difficulty_from_job_target("00000000"),
            Err(PowError::ZeroTarget)
        );
        assert_eq!(
            difficulty_from_job_target("0000000000000000"),
            Err(PowError::ZeroTarget)
        );
        assert_eq!(
            difficulty_from_job_target("ffffff"),
            Err(PowError::TargetLength(3))
        );
        assert_eq!(
            difficulty_from_job_target(""),
            Err(PowError::TargetLength(0))
        );
        assert!(matches!(
            difficulty_from_job_target("fffffffg"),
            Err(PowError::NotHex(_))
        ));
        assert!(matches!(
            difficulty_from_job_target("fffffff"),
            Err(PowError::NotHex(_))
        ));
        assert_eq!(difficulty_from_job_target("FFFFFF00"), Ok(256));
    }

    proptest! {
        #[test]
        fn check_hash_matches_big_integer_reference(hash in any_hash(), difficulty in any_difficulty()) {
            prop_assert_eq!(check_hash(&hash, difficulty), reference_check(&hash, difficulty));
        }

        #[test]
        fn hash_difficulty_is_the_largest_difficulty_met(hash in any_hash()) {
            let d = hash_difficulty(&hash);
            prop_assert!(reference_check(&hash, d));
            if d < u128::MAX {
                prop_assert!(!reference_check(&hash, d + 1));
            }
        }

        #[test]
        fn check_hash_agrees_with_hash_difficulty(hash in any_hash(), difficulty in any_difficulty()) {
            prop_assert_eq!(check_hash(&hash, difficulty), difficulty <= hash_difficulty(&hash));
        }

        #[test]
        fn job_target_never_asks_less_than_the_difficulty(difficulty in 1u64..=u64::MAX) {
            let target = job_target_hex(difficulty);
            prop_assert_eq!(target.len(), if difficulty <= 0xffff_ffff { 8 } else { 16 });
            let back = difficulty_from_job_target(&target).unwrap();
            prop_assert!(back >= difficulty);
            // The target is the largest that still asks at least `difficulty`.
            if difficulty <= 0xffff_ffff {
                let t = u32::MAX / difficulty as u32;
                prop_assert!(t == u32::MAX || u32::MAX / (t + 1) < difficulty as u32);
            }
        }

        #[test]
        fn small_job_targets_round_trip_exactly(difficulty in 1u64..=65_535) {
            // While d² < 2^32 the rounding of 0xffffffff / d never lands on another
            // difficulty (65_536 comes back as 65_537).
            prop_assert_eq!(difficulty_from_job_target(&job_target_hex(difficulty)), Ok(difficulty));
        }
    }
}
