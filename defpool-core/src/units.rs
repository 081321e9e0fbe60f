//! Exact units: money as integer atomic units, difficulty, share work and fee rates.
//!
//! Floats never hold money. Decimal strings are parsed and printed digit by digit so
//! `"0.1"` XMR is exactly 100_000_000_000 piconero, and sums are done in `u128`/`i128`
//! where a `u64` could overflow.

use std::fmt;

/// An amount of one coin in its atomic unit (piconero, litoshi, satoshi).
///
/// The coin is not carried here: callers keep amounts of different coins apart by
/// keying them with a [`crate::CoinSpec`]. On the wire an amount is always paired with
/// its coin (see [`crate::api::CoinAmount`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(u64);

/// Why a decimal amount could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("amount is empty")]
    Empty,
    #[error("amount {0:?} is not a decimal number")]
    NotDecimal(String),
    #[error("amount {input:?} has more than {decimals} decimal places")]
    TooPrecise { input: String, decimals: u8 },
    #[error("amount {0:?} is too large")]
    Overflow(String),
    #[error("amount must not be negative")]
    Negative,
}

impl Amount {
    pub const ZERO: Amount = Amount(0);

    pub const fn from_atomic(atomic: u64) -> Self {
        Amount(atomic)
    }

    pub const fn atomic(self) -> u64 {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        self.0.checked_add(other.0).map(Amount)
    }

    pub fn checked_sub(self, other: Amount) -> Option<Amount> {
        self.0.checked_sub(other.0).map(Amount)
    }

    pub fn saturating_sub(self, other: Amount) -> Amount {
        Amount(self.0.saturating_sub(other.0))
    }

    /// The amount as a signed 64-bit value, as databases store it. Fails above
    /// `i64::MAX` atomic units (9.2 million XMR in one entry), which no real entry reaches.
    pub fn to_i64(self) -> Option<i64> {
        i64::try_from(self.0).ok()
    }

    pub fn from_i64(value: i64) -> Option<Amount> {
        u64::try_from(value).ok().map(Amount)
    }

    /// Parses a decimal coin string (`"1.25"`, `"0.000000000001"`, `"3"`) exactly.
    pub fn from_decimal(input: &str, decimals: u8) -> Result<Amount, AmountError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(AmountError::Empty);
        }
        if s.starts_with('-') {
            return Err(AmountError::Negative);
        }
        let s = s.strip_prefix('+').unwrap_or(s);
        let (whole, frac) = match s.split_once('.') {
            Some((w, f)) => (w, f),
            None => (s, ""),
        };
        let all_digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
        if (whole.is_empty() && frac.is_empty()) || !all_digits(whole) || !all_digits(frac) {
            return Err(AmountError::NotDecimal(input.to_string()));
        }
        let frac = frac.trim_end_matches('0');
        if frac.len() > decimals as usize {
            return Err(AmountError::TooPrecise {
                input: input.to_string(),
                decimals,
            });
        }
        let overflow = || AmountError::Overflow(input.to_string());
        let mut atomic: u64 = 0;
        for b in whole.bytes() {
            atomic = atomic
                .checked_mul(10)
                .and_then(|a| a.checked_add(u64::from(b - b'0')))
                .ok_or_else(overflow)?;
        }
        let scale = 10u64
            .checked_pow(u32::from(decimals))
            .ok_or_else(overflow)?;
        atomic = atomic.checked_mul(scale).ok_or_else(overflow)?;
        let mut frac_value: u64 = 0;
        for b in frac.bytes() {
            frac_value = frac_value * 10 + u64::from(b - b'0');
        }
        frac_value *= 10u64.pow(u32::from(decimals) - frac.len() as u32);
        atomic
            .checked_add(frac_value)
            .map(Amount)
            .ok_or_else(overflow)
    }

    /// Prints the amount as a decimal coin string without trailing zeros
    /// (`1250000000000` piconero → `"1.25"`).
    pub fn to_decimal(self, decimals: u8) -> String {
        let scale = 10u128.pow(u32::from(decimals));
        let whole = u128::from(self.0) / scale;
        let frac = u128::from(self.0) % scale;
        if frac == 0 {
            return whole.to_string();
        }
        let frac = format!("{:0width$}", frac, width = decimals as usize);
        format!("{whole}.{}", frac.trim_end_matches('0'))
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Difficulty of a share or of the network, in the coin's own difficulty-1 units.
///
/// A float because Bitcoin-family stratum difficulties are fractional (regtest
/// network difficulty is ~5e-10). Difficulty is never money: reward splitting turns it
/// into integer [`Work`] first.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub struct Difficulty(f64);

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("difficulty must be a finite number above zero, got {0}")]
pub struct DifficultyError(pub f64);

impl Difficulty {
    pub fn new(value: f64) -> Result<Difficulty, DifficultyError> {
        if value.is_finite() && value > 0.0 {
            Ok(Difficulty(value))
        } else {
            Err(DifficultyError(value))
        }
    }

    pub fn value(self) -> f64 {
        self.0
    }

    /// The difficulty as integer work (32 fractional bits), the unit reward schemes
    /// weigh shares in. Never zero for a valid difficulty, so a tiny share still counts.
    pub fn work(self) -> Work {
        let scaled = (self.0 * Work::SCALE as f64).round();
        let w = if scaled >= u128::MAX as f64 {
            u128::MAX
        } else {
            scaled as u128
        };
        Work(w.max(1))
    }
}

impl fmt::Display for Difficulty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Share work as a fixed-point integer: difficulty × 2^32.
///
/// Integer so that the weights a reward is split by are exact and reproducible; 32
/// fractional bits keep regtest-sized difficulties (1e-10) distinct from zero while a
/// million shares of difficulty 1e12 still sum far below `u128::MAX`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Work(pub u128);

impl Work {
    pub const SCALE: u128 = 1 << 32;

    pub fn as_difficulty(self) -> f64 {
        self.0 as f64 / Work::SCALE as f64
    }
}

/// A fee as parts per million of an amount (1 % = 10_000 ppm).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct FeeRate(u32);

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("fee percent must be between 0 and 100 with at most 4 decimal places, got {0}")]
pub struct FeeRateError(pub f64);

impl FeeRate {
    pub const ZERO: FeeRate = FeeRate(0);
    const PPM_PER_PERCENT: f64 = 10_000.0;

    pub fn from_ppm(ppm: u32) -> Option<FeeRate> {
        (ppm <= 1_000_000).then_some(FeeRate(ppm))
    }

    /// From a config percent such as `1.0` or `0.25`; rejects values that are not a
    /// whole number of ppm so the operator's number is taken exactly.
    pub fn from_percent(percent: f64) -> Result<FeeRate, FeeRateError> {
        if !percent.is_finite() || !(0.0..=100.0).contains(&percent) {
            return Err(FeeRateError(percent));
        }
        let ppm = percent * Self::PPM_PER_PERCENT;
        let rounded = ppm.round();
        if (ppm - rounded).abs() > 1e-6 {
            return Err(FeeRateError(percent));
        }
        Ok(FeeRate(rounded as u32))
    }

    pub fn ppm(self) -> u32 {
        self.0
    }

    pub fn percent(self) -> f64 {
        f64::from(self.0) / Self::PPM_PER_PERCENT
    }

    /// The fee on `amount`, rounded down: the pool never takes more than its rate.
    pub fn fee_on(self, amount: Amount) -> Amount {
        let fee = u128::from(amount.atomic()) * u128::from(self.0) / 1_000_000;
        // fee <= amount because ppm <= 1e6, so it fits in u64.
        Amount::from_atomic(fee as u64)
    }
}

/// Hashes per second, estimated from accepted share work over a window.
#[derive(Clone, Copy, Debug, Default, PartialEq, PartialOrd)]
pub struct Hashrate(pub f64);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_decimal_amounts_exactly() {
        assert_eq!(
            Amount::from_decimal("0.1", 12).unwrap().atomic(),
            100_000_000_000
        );
        assert_eq!(
            Amount::from_decimal("1.25", 12).unwrap().atomic(),
            1_250_000_000_000
        );
        assert_eq!(Amount::from_decimal("3", 8).unwrap().atomic(), 300_000_000);
        assert_eq!(Amount::from_decimal(".5", 8).unwrap().atomic(), 50_000_000);
        assert_eq!(Amount::from_decimal("0.00000001", 8).unwrap().atomic(), 1);
        assert_eq!(
            Amount::from_decimal("1.50000000000", 8).unwrap().atomic(),
            150_000_000
        );
    }

    #[test]
    fn rejects_bad_decimal_amounts() {
        assert_eq!(Amount::from_decimal("", 8), Err(AmountError::Empty));
        assert_eq!(Amount::from_decimal("-1", 8), Err(AmountError::Negative));
        assert!(matches!(
            Amount::from_decimal("1e5", 8),
            Err(AmountError::NotDecimal(_))
        ));
        assert!(matches!(
            Amount::from_decimal(".", 8),
            Err(AmountError::NotDecimal(_))
        ));
        assert!(matches!(
            Amount::from_decimal("1.2.3", 8),
            Err(AmountError::NotDecimal(_))
        ));
        assert!(matches!(
            Amount::from_decimal("0.000000001", 8),
            Err(AmountError::TooPrecise { .. })
        ));
        assert!(matches!(
            Amount::from_decimal("18446744073709551616", 0),
            Err(AmountError::Overflow(_))
        ));
        assert!(matches!(
            Amount::from_decimal("20000000", 12),
            Err(AmountError::Overflow(_))
        ));
    }

    #[test]
    fn prints_decimal_amounts_without_trailing_zeros() {
        assert_eq!(
            Amount::from_atomic(1_250_000_000_000).to_decimal(12),
            "1.25"
        );
        assert_eq!(Amount::from_atomic(1).to_decimal(12), "0.000000000001");
        assert_eq!(Amount::from_atomic(300_000_000).to_decimal(8), "3");
        assert_eq!(Amount::ZERO.to_decimal(8), "0");
    }

    #[test]
    fn fee_rate_from_percent_is_exact() {
        assert_eq!(FeeRate::from_percent(1.0).unwrap().ppm(), 10_000);
        assert_eq!(FeeRate::from_percent(0.25).unwrap().ppm(), 2_500);
        assert_eq!(FeeRate::from_percent(0.0).unwrap().ppm(), 0);
        assert!(FeeRate::from_percent(-1.0).is_err());
        assert!(FeeRate::from_percent(101.0).is_err());
        assert!(FeeRate::from_percent(0.000_01).is_err());
        assert!(FeeRate::from_percent(f64::NAN).is_err());
    }

    #[test]
    fn fee_rounds_down() {
        let rate = FeeRate::from_percent(1.0).unwrap();
        assert_eq!(rate.fee_on(Amount::from_atomic(199)).atomic(), 1);
        assert_eq!(rate.fee_on(Amount::from_atomic(99)).atomic(), 0);
    }

    #[test]
    fn tiny_difficulty_still_has_work() {
        let d = Difficulty::new(4.6e-10).unwrap();
        assert!(d.work().0 >= 1);
        assert!(Difficulty::new(0.0).is_err());
        assert!(Difficulty::new(f64::INFINITY).is_err());
    }

    proptest! {
        #[test]
        fn decimal_round_trip(atomic in any::<u64>(), decimals in 0u8..=12) {
            let a = Amount::from_atomic(atomic);
            let s = a.to_decimal(decimals);
            prop_assert_eq!(Amount::from_decimal(&s, decimals), Ok(a));
        }

        #[test]
        fn fee_never_exceeds_amount(atomic in any::<u64>(), ppm in 0u32..=1_000_000) {
            let fee = FeeRate::from_ppm(ppm).unwrap().fee_on(Amount::from_atomic(atomic));
            prop_assert!(fee.atomic() <= atomic);
        }
    }
}
