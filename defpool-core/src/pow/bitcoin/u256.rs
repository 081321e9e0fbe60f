//! A 256-bit unsigned integer with just the operations Bitcoin-family targets need.
//!
//! Targets and hashes are 256-bit numbers; comparing a hash with a target must be exact,
//! so it is done on four 64-bit limbs rather than floats. This is not a general big-int:
//! no multiplication, and the one division ([`U256::from_ratio`]) is the one that turns
//! a difficulty into a target.

use std::cmp::Ordering;

/// Four little-endian 64-bit limbs, least significant first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct U256(pub(crate) [u64; 4]);

impl U256 {
    pub(crate) const ZERO: U256 = U256([0; 4]);
    pub(crate) const MAX: U256 = U256([u64::MAX; 4]);

    pub(crate) fn from_u64(value: u64) -> U256 {
        U256([value, 0, 0, 0])
    }

    /// The 32 bytes read as a little-endian number (how Bitcoin hashes compare).
    pub(crate) fn from_le_bytes(bytes: &[u8; 32]) -> U256 {
        let mut limbs = [0u64; 4];
        for (limb, chunk) in limbs.iter_mut().zip(bytes.chunks_exact(8)) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            *limb = u64::from_le_bytes(word);
        }
        U256(limbs)
    }

    pub(crate) fn to_le_bytes(self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (chunk, limb) in out.chunks_exact_mut(8).zip(self.0) {
            chunk.copy_from_slice(&limb.to_le_bytes());
        }
        out
    }

    pub(crate) fn from_be_bytes(bytes: &[u8; 32]) -> U256 {
        let mut le = *bytes;
        le.reverse();
        U256::from_le_bytes(&le)
    }

    pub(crate) fn to_be_bytes(self) -> [u8; 32] {
        let mut out = self.to_le_bytes();
        out.reverse();
        out
    }

    /// Number of significant bits (0 for zero).
    pub(crate) fn bits(self) -> u32 {
        for i in (0..4).rev() {
            if self.0[i] != 0 {
                return 64 * i as u32 + (64 - self.0[i].leading_zeros());
            }
        }
        0
    }

    pub(crate) fn low_u64(self) -> u64 {
        self.0[0]
    }

    /// `self << n`, bits shifted past 2^256 dropped; 0 for `n >= 256`.
    pub(crate) fn shl(self, n: u32) -> U256 {
        if n >= 256 {
            return U256::ZERO;
        }
        let limbs = (n / 64) as usize;
        let bits = n % 64;
        let mut out = [0u64; 4];
        for i in (limbs..4).rev() {
            let src = i - limbs;
            out[i] = self.0[src] << bits;
            if bits != 0 && src > 0 {
                out[i] |= self.0[src - 1] >> (64 - bits);
            }
        }
        U256(out)
    }

    /// `self >> n`; 0 for `n >= 256`.
    pub(crate) fn shr(self, n: u32) -> U256 {
        if n >= 256 {
            return U256::ZERO;
        }
        let limbs = (n / 64) as usize;
        let bits = n % 64;
        let mut out = [0u64; 4];
        for (i, slot) in out.iter_mut().enumerate().take(4 - limbs) {
            let src = i + limbs;
            *slot = self.0[src] >> bits;
            if bits != 0 && src + 1 < 4 {
                *slot |= self.0[src + 1] << (64 - bits);
            }
        }
        U256(out)
    }

    /// The value as the nearest-ish `f64` (for display and statistics, never for a
    /// comparison that decides a share).
    pub(crate) fn to_f64(self) -> f64 {
        const TWO_64: f64 = 18_446_744_073_709_551_616.0;
        self.0
            .iter()
            .rev()
            .fold(0.0, |acc, &limb| acc * TWO_64 + limb as f64)
    }

    /// `floor(numerator × 2^shift / denominator)`, or `None` when it does not fit in 256
    /// bits. Exact for every input: schoolbook long division in base 2^64 (the
    /// numerator is `numerator << shift`, its limbs below the top two all zero), each
    /// step a `u128 / u64` with the remainder kept below `denominator`. A session runs
    /// it for every share, so it must not walk the quotient one bit at a time.
    pub(crate) fn from_ratio(numerator: u64, shift: i32, denominator: u64) -> Option<U256> {
        if denominator == 0 {
            return None;
        }
        if shift < 0 {
            // floor(floor(n / d) / 2^k) == floor(n / (d × 2^k)).
            let q = U256::from_u64(numerator / denominator);
            return Some(q.shr(shift.unsigned_abs().min(256)));
        }
        let shift = shift.unsigned_abs();
        // n × 2^shift = (n << r) × 2^(64·q): two significant limbs, then q zero limbs.
        let (zero_limbs, r) = ((shift / 64) as usize, shift % 64);
        let top = u128::from(numerator) << r;
        let limbs = 2 + zero_limbs;
        let d = u128::from(denominator);
        let mut out = [0u64; 4];
        let mut rem: u128 = 0;
        for i in 0..limbs {
            let limb = match i {
                0 => (top >> 64) as u64,
                1 => top as u64,
                _ => 0,
            };
            // rem < d < 2^64, so this fits and the digit is below 2^64.
            let current = (rem << 64) | u128::from(limb);
            let digit = (current / d) as u64;
            rem = current % d;
            let place = limbs - 1 - i;
            if place >= 4 {
                if digit != 0 {
                    return None;
                }
            } else {
                out[place] = digit;
            }
            if i >= 1 && rem == 0 {
                // Only zero limbs are left, so every digit still to come is zero.
                break;
            }
        }
        Some(U256(out))
    }
}

impl Ord for U256 {
    fn cmp(&self, other: &Self) -> Ordering {
        for i in (0..4).rev() {
            match self.0[i].cmp(&other.0[i]) {
                Ordering::Equal => continue,
                unequal => return unequal,
            }
        }
        Ordering::Equal
    }
}

impl PartialOrd for U256 {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn u128_of(v: U256) -> Option<u128> {
        (v.0[2] == 0 && v.0[3] == 0).then(|| u128::from(v.0[0]) | (u128::from(v.0[1]) << 64))
    }

    fn of_u128(v: u128) -> U256 {
        U256([v as u64, (v >> 64) as u64, 0, 0])
    }

    #[test]
    fn byte_orders_are_mirror_images() {
        let mut le = [0u8; 32];
        le[0] = 1;
        le[31] = 0x80;
        let v = U256::from_le_bytes(&le);
        assert_eq!(v.0, [1, 0, 0, 0x8000_0000_0000_0000]);
        assert_eq!(v.to_le_bytes(), le);
        let mut be = le;
        be.reverse();
        assert_eq!(U256::from_be_bytes(&be), v);
        assert_eq!(v.to_be_bytes(), be);
        assert_eq!(v.bits(), 256);
        assert_eq!(U256::ZERO.bits(), 0);
    }

    #[test]
    fn shifts_move_bits_across_limbs() {
        let one = U256::from_u64(1);
        assert_eq!(one.shl(64).0, [0, 1, 0, 0]);
        assert_eq!(one.shl(255).0, [0, 0, 0, 1 << 63]);
        assert_eq!(one.shl(256), U256::ZERO);
        assert_eq!(one.shl(255).shr(255), one);
        assert_eq!(U256::MAX.shr(192).0, [u64::MAX, 0, 0, 0]);
        assert_eq!(U256::MAX.shr(256), U256::ZERO);
    }

    #[test]
    fn ratio_saturates_and_handles_negative_shifts() {
        assert_eq!(U256::from_ratio(1, 256, 1), None);
        assert_eq!(
            U256::from_ratio(1, 255, 1),
            Some(U256::from_u64(1).shl(255))
        );
        assert_eq!(U256::from_ratio(3, 256, 2), None);
        assert_eq!(
            U256::from_ratio(3, 255, 2),
            Some(U256::from_u64(3).shl(254))
        );
        assert_eq!(U256::from_ratio(100, -2, 3), Some(U256::from_u64(8)));
        assert_eq!(U256::from_ratio(100, -2000, 3), Some(U256::ZERO));
        assert_eq!(U256::from_ratio(1, 0, 0), None);
    }

    /// The bit-at-a-time long division `from_ratio` replaced: slow, obviously right.
    fn from_ratio_bitwise(numerator: u64, shift: i32, denominator: u64) -> Option<U256> {
        if denominator == 0 {
            return None;
        }
        if shift < 0 {
            let q = U256::from_u64(numerator / denominator);
            return Some(q.shr(shift.unsigned_abs().min(256)));
        }
        let d = u128::from(denominator);
        let mut quotient = U256::ZERO;
        let mut rem: u128 = 0;
        for i in 0..64 + shift.unsigned_abs() {
            let bit = if i < 64 {
                u128::from((numerator >> (63 - i)) & 1)
            } else {
                0
            };
            if quotient.0[3] >> 63 != 0 {
                return None;
            }
            rem = (rem << 1) | bit;
            quotient = quotient.shl(1);
            if rem >= d {
                rem -= d;
                quotient.0[0] |= 1;
            }
        }
        Some(quotient)
    }

    #[test]
    fn ratio_edges_match_the_bitwise_division() {
        for n in [0, 1, 0xffff, u64::MAX] {
            for d in [1, 2, 3, 0xffff, 1 << 52, (1 << 53) - 1, u64::MAX] {
                for shift in [
                    0, 1, 63, 64, 65, 127, 128, 191, 192, 193, 255, 256, 300, 400,
                ] {
                    assert_eq!(
                        U256::from_ratio(n, shift, d),
                        from_ratio_bitwise(n, shift, d),
                        "{n} << {shift} / {d}"
                    );
                }
            }
        }
        assert_eq!(U256::from_ratio(0, 5000, 3), Some(U256::ZERO));
        assert_eq!(U256::from_ratio(1, 5000, u64::MAX), None);
    }

    proptest! {
        #[test]
        fn ratio_matches_the_bitwise_division(n in any::<u64>(), shift in -300i32..400, d in 1u64..) {
            prop_assert_eq!(U256::from_ratio(n, shift, d), from_ratio_bitwise(n, shift, d));
        }

        #[test]
        fn ratio_matches_for_difficulty_mantissas(shift in 150i32..320, d in (1u64 << 52)..(1u64 << 53)) {
            prop_assert_eq!(U256::from_ratio(0xffff, shift, d), from_ratio_bitwise(0xffff, shift, d));
        }

        #[test]
        fn ratio_matches_u128_arithmetic(n in any::<u64>(), shift in 0i32..60, d in 1u64..) {
            let exact = (u128::from(n) << shift) / u128::from(d);
            prop_assert_eq!(U256::from_ratio(n, shift, d).and_then(u128_of), Some(exact));
        }

        #[test]
        fn shifts_match_u128(v in any::<u128>(), n in 0u32..128) {
            prop_assert_eq!(u128_of(of_u128(v).shr(n)), Some(v >> n));
            let wide = of_u128(v).shl(n);
            prop_assert_eq!(wide.shr(n), of_u128(v));
        }

        #[test]
        fn order_matches_u128(a in any::<u128>(), b in any::<u128>()) {
            prop_assert_eq!(of_u128(a).cmp(&of_u128(b)), a.cmp(&b));
        }
    }
}
