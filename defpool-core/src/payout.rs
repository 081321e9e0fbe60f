//! Reward schemes: how a block reward is split over the shares of its round.
//!
//! Everything is integer arithmetic on atomic units and [`Work`], so the credits of a
//! block always sum exactly to its reward (fee included), and the same shares always
//! give the same split: the audit recomputes it and must find the same numbers.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::units::{Amount, Difficulty, FeeRate, Work};

/// How a coin's block rewards are shared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// Pay per last N shares: the last `factor × network difficulty` of work before the
    /// block, the oldest (boundary) share prorated.
    #[default]
    Pplns,
    /// Proportional: every share since the previous block of the coin.
    Prop,
    /// The finder takes the whole reward (less the fee).
    Solo,
    /// Pay per share by expected value (proxy mode); not a block split.
    Pps,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Pplns => "pplns",
            Scheme::Prop => "prop",
            Scheme::Solo => "solo",
            Scheme::Pps => "pps",
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scheme {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Scheme::Pplns, Scheme::Prop, Scheme::Solo, Scheme::Pps]
            .into_iter()
            .find(|x| x.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown scheme {s:?} (pplns, prop, solo, pps)"))
    }
}

/// How much each account's shares weigh in a round, keyed by account.
pub type RoundWeights = BTreeMap<String, Work>;

/// A block reward split into the pool fee and per-account credits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RewardSplit {
    pub fee: Amount,
    /// Sorted by account; no zero credits.
    pub credits: Vec<(String, Amount)>,
}

impl RewardSplit {
    /// Fee plus every credit, in `u128` so the check itself cannot overflow.
    pub fn total(&self) -> u128 {
        self.credits
            .iter()
            .map(|(_, a)| u128::from(a.atomic()))
            .sum::<u128>()
            + u128::from(self.fee.atomic())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    /// A round without shares cannot be split; the caller decides (e.g. credit the
    /// finder, or keep the block pending until shares arrive).
    #[error("the round has no shares")]
    NoShares,
}

/// The PPLNS window for a block: `factor × network difficulty` as work (at least 1).
pub fn pplns_window(factor: f64, network_difficulty: Difficulty) -> Work {
    let d = Difficulty::new(factor * network_difficulty.value()).unwrap_or(network_difficulty);
    d.work()
}

/// PPLNS weights: walks shares newest first until `window` work is filled; the share
/// that crosses the boundary counts only with the part that fits.
pub fn pplns_weights<'a, I>(shares_newest_first: I, window: Work) -> RoundWeights
where
    I: IntoIterator<Item = (&'a str, Work)>,
{
    let mut acc = WeightAccumulator::default();
    let mut remaining = window.0;
    for (account, work) in shares_newest_first {
        if remaining == 0 {
            break;
        }
        let counted = work.0.min(remaining);
        remaining -= counted;
        acc.add(account, counted);
    }
    acc.finish()
}

/// PROP weights: every share of the round counts fully.
pub fn prop_weights<'a, I>(round_shares: I) -> RoundWeights
where
    I: IntoIterator<Item = (&'a str, Work)>,
{
    let mut acc = WeightAccumulator::default();
    for (account, work) in round_shares {
        acc.add(account, work.0);
    }
    acc.finish()
}

/// Sums work per account in a hash map (a million shares over thousands of
/// accounts), then hands out the ordered map the split needs.
#[derive(Default)]
struct WeightAccumulator<'a> {
    sums: std::collections::HashMap<&'a str, u128>,
}

impl<'a> WeightAccumulator<'a> {
    fn add(&mut self, account: &'a str, work: u128) {
        if work == 0 {
            return;
        }
        let w = self.sums.entry(account).or_insert(0);
        *w = w.saturating_add(work);
    }

    fn finish(self) -> RoundWeights {
        self.sums
            .into_iter()
            .map(|(account, w)| (account.to_string(), Work(w)))
            .collect()
    }
}

/// Splits `reward` by `weights` after taking the pool fee.
///
/// Each account gets `floor(distributable × weight / total)`; the atomic units left by
/// rounding (fewer than the number of accounts) go one each to the accounts with the
/// largest rounding remainders, ties broken by account, so the split is deterministic
/// and sums exactly to `reward`.
pub fn split_reward(
    reward: Amount,
    fee: FeeRate,
    weights: &RoundWeights,
) -> Result<RewardSplit, SplitError> {
    let total: u128 = weights
        .values()
        .map(|w| w.0)
        .fold(0u128, u128::saturating_add);
    if total == 0 {
        return Err(SplitError::NoShares);
    }
    let fee_amount = fee.fee_on(reward);
    let distributable = u128::from(reward.atomic() - fee_amount.atomic());

    let mut shares: Vec<(&String, u128, u128)> = weights
        .iter()
        .map(|(account, w)| {
            let (q, r) = mul_div_rem(distributable, w.0, total);
            (account, q, r)
        })
        .collect();
    let assigned: u128 = shares.iter().map(|(_, q, _)| *q).sum();
    let mut leftover = distributable - assigned;

    // Largest remainder first; BTreeMap order already sorts accounts for ties.
    let mut order: Vec<usize> = (0..shares.len()).collect();
    order.sort_by(|&a, &b| shares[b].2.cmp(&shares[a].2).then(a.cmp(&b)));
    for i in order {
        if leftover == 0 {
            break;
        }
        shares[i].1 += 1;
        leftover -= 1;
    }

    let credits = shares
        .into_iter()
        .filter(|(_, q, _)| *q > 0)
        // q <= distributable <= u64::MAX
        .map(|(account, q, _)| (account.clone(), Amount::from_atomic(q as u64)))
        .collect();
    Ok(RewardSplit {
        fee: fee_amount,
        credits,
    })
}

/// A PPS share's value (proxy mode): the share's expected part of a block,
/// `share_difficulty / network_difficulty × reward`, and the pool's fee on it.
///
/// A share at or above the network difficulty is a whole block, never more. The
/// value is the exact floor of the ratio of the two difficulties (taken as the
/// binary fractions they are) times the reward; the fee is [`FeeRate::fee_on`] of
/// that value, so `credit + fee` is the share's value exactly.
pub fn pps_value(
    share_difficulty: f64,
    network_difficulty: f64,
    reward: Amount,
    fee: FeeRate,
) -> Option<PpsValue> {
    let value =
        crate::profit::share_of_reward(share_difficulty, network_difficulty, reward.atomic())?;
    let value = Amount::from_atomic(value);
    let fee_amount = fee.fee_on(value);
    Some(PpsValue {
        credit: Amount::from_atomic(value.atomic() - fee_amount.atomic()),
        fee: fee_amount,
    })
}

/// What one PPS share pays: the miner's credit and the pool's fee.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PpsValue {
    pub credit: Amount,
    pub fee: Amount,
}

/// SOLO: the finder takes the reward less the fee.
pub fn solo_split(reward: Amount, fee: FeeRate, finder: &str) -> RewardSplit {
    let fee_amount = fee.fee_on(reward);
    let credit = reward.saturating_sub(fee_amount);
    RewardSplit {
        fee: fee_amount,
        credits: if credit.is_zero() {
            Vec::new()
        } else {
            vec![(finder.to_string(), credit)]
        },
    }
}

/// `(a × b) / c` and its remainder without overflowing: `a` fits in u64 and
/// `b <= c`, so the quotient fits in u64 even when `a × b` exceeds u128.
fn mul_div_rem(a: u128, b: u128, c: u128) -> (u128, u128) {
    if let Some(p) = a.checked_mul(b) {
        return (p / c, p % c);
    }
    // Long multiplication in base 2^64 on b's halves keeps every intermediate < 2^128:
    // a·b = a·bh·2^64 + a·bl; reduce each part modulo c as we go.
    let bh = b >> 64;
    let bl = b & u128::from(u64::MAX);
    let (q1, r1) = (a * bh / c, a * bh % c); // a < 2^64, bh < 2^64
                                             // (q1·c + r1)·2^64 + a·bl, divided by c
    let (q2, r2) = shl64_div(r1, c);
    let (q3, r3) = (a * bl / c, a * bl % c);
    // r2 + r3 < 2c may exceed u128: an overflow means the true sum is above c.
    let (r, overflowed) = r2.overflowing_add(r3);
    let (q4, r4) = if overflowed || r >= c {
        (1, r.wrapping_sub(c))
    } else {
        (0, r)
    };
    ((q1 << 64) + q2 + q3 + q4, r4)
}

/// `(r × 2^64) / c` and remainder, for `r < c`, by 64 single-bit steps.
fn shl64_div(mut r: u128, c: u128) -> (u128, u128) {
    let mut q: u128 = 0;
    for _ in 0..64 {
        let carry = r >> 127;
        r <<= 1;
        q <<= 1;
        if carry == 1 || r >= c {
            r = r.wrapping_sub(c);
            q |= 1;
        }
    }
    (q, r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn w(d: f64) -> Work {
        Difficulty::new(d).unwrap().work()
    }

    #[test]
    fn pplns_prorates_the_boundary_share() {
        // Window of 250: newest 100 (b), 100 (a), then 50 of the 200-share (c).
        let shares = vec![
            ("b", w(100.0)),
            ("a", w(100.0)),
            ("c", w(200.0)),
            ("d", w(100.0)),
        ];
        let weights = pplns_weights(shares, w(250.0));
        assert_eq!(weights["a"], w(100.0));
        assert_eq!(weights["b"], w(100.0));
        assert_eq!(weights["c"], w(50.0));
        assert!(!weights.contains_key("d"));
    }

    #[test]
    fn pplns_window_is_factor_times_network_difficulty() {
        assert_eq!(
            pplns_window(2.0, Difficulty::new(1000.0).unwrap()),
            w(2000.0)
        );
    }

    #[test]
    fn split_gives_leftover_units_to_largest_remainders() {
        let mut weights = RoundWeights::new();
        weights.insert("a".into(), Work(1));
        weights.insert("b".into(), Work(1));
        weights.insert("c".into(), Work(1));
        let split = split_reward(Amount::from_atomic(100), FeeRate::ZERO, &weights).unwrap();
        // 33 each and one unit left: equal remainders, so the first account takes it.
        assert_eq!(
            split.credits,
            vec![
                ("a".to_string(), Amount::from_atomic(34)),
                ("b".to_string(), Amount::from_atomic(33)),
                ("c".to_string(), Amount::from_atomic(33)),
            ]
        );
    }

    #[test]
    fn split_takes_fee_first() {
        let mut weights = RoundWeights::new();
        weights.insert("a".into(), w(3.0));
        weights.insert("b".into(), w(1.0));
        let fee = FeeRate::from_percent(1.0).unwrap();
        let split = split_reward(Amount::from_atomic(1_000_000), fee, &weights).unwrap();
        assert_eq!(split.fee, Amount::from_atomic(10_000));
        assert_eq!(
            split.credits[0],
            ("a".to_string(), Amount::from_atomic(742_500))
        );
        assert_eq!(
            split.credits[1],
            ("b".to_string(), Amount::from_atomic(247_500))
        );
    }

    #[test]
    fn empty_round_is_an_error() {
        let weights = RoundWeights::new();
        assert_eq!(
            split_reward(Amount::from_atomic(5), FeeRate::ZERO, &weights),
            Err(SplitError::NoShares)
        );
    }

    #[test]
    fn solo_pays_the_finder() {
        let fee = FeeRate::from_percent(0.5).unwrap();
        let split = solo_split(Amount::from_atomic(1000), fee, "finder");
        assert_eq!(split.fee, Amount::from_atomic(5));
        assert_eq!(
            split.credits,
            vec![("finder".to_string(), Amount::from_atomic(995))]
        );
    }

    #[test]
    fn mul_div_handles_products_beyond_u128() {
        let a = u128::from(u64::MAX);
        let b = u128::MAX / 3;
        let c = u128::MAX / 2;
        let (q, r) = mul_div_rem(a, b, c);
        // a·b/c ≈ a·2/3
        assert_eq!(q, (a * 2) / 3);
        assert!(r < c);
    }

    proptest! {
        #[test]
        fn credits_sum_exactly_to_reward(
            reward in any::<u64>(),
            ppm in 0u32..=1_000_000,
            works in proptest::collection::vec((0usize..20, 1u128..=u128::MAX / 1_000_000), 1..200),
        ) {
            let names: Vec<String> = (0..20).map(|i| format!("m{i}")).collect();
            let weights = prop_weights(works.iter().map(|(i, wk)| (names[*i].as_str(), Work(*wk))));
            let split = split_reward(Amount::from_atomic(reward), FeeRate::from_ppm(ppm).unwrap(), &weights).unwrap();
            prop_assert_eq!(split.total(), u128::from(reward));
        }

        #[test]
        fn pplns_credits_sum_exactly_and_follow_weights(
            reward in 1u64..=u64::MAX,
            ppm in 0u32..=100_000,
            diffs in proptest::collection::vec((0usize..8, 1u32..1_000_000), 1..300),
            window in 1u32..10_000_000,
        ) {
            let names: Vec<String> = (0..8).map(|i| format!("m{i}")).collect();
            let shares = diffs.iter().map(|(i, d)| (names[*i].as_str(), w(f64::from(*d))));
            let weights = pplns_weights(shares, w(f64::from(window)));
            let counted: u128 = weights.values().map(|x| x.0).sum();
            prop_assert!(counted <= w(f64::from(window)).0);
            let split = split_reward(Amount::from_atomic(reward), FeeRate::from_ppm(ppm).unwrap(), &weights).unwrap();
            prop_assert_eq!(split.total(), u128::from(reward));
            // No account gets more than one unit beyond its exact proportional share.
            let distributable = u128::from(reward - split.fee.atomic());
            for (acct, amt) in &split.credits {
                let exact = mul_div_rem(distributable, weights[acct].0, counted).0;
                prop_assert!(u128::from(amt.atomic()) >= exact && u128::from(amt.atomic()) <= exact + 1);
            }
        }

        #[test]
        fn mul_div_matches_wide_arithmetic(a in any::<u64>(), b in any::<u128>(), extra in any::<u128>()) {
            let c = b.saturating_add(extra).max(1);
            let (q, r) = mul_div_rem(u128::from(a), b, c);
            // Check q·c + r == a·b using 256-bit arithmetic on u64 limbs.
            prop_assert!(r < c);
            prop_assert_eq!(wide_mul(q, c, r), wide_mul(u128::from(a), b, 0));
        }
    }

    /// x·y + z as (high, low) u128 halves.
    fn wide_mul(x: u128, y: u128, z: u128) -> (u128, u128) {
        let mask = u128::from(u64::MAX);
        let (x0, x1) = (x & mask, x >> 64);
        let (y0, y1) = (y & mask, y >> 64);
        let p00 = x0 * y0;
        let p01 = x0 * y1;
        let p10 = x1 * y0;
        let p11 = x1 * y1;
        let mid = (p00 >> 64) + (p01 & mask) + (p10 & mask);
        let low = (p00 & mask) | (mid << 64);
        let high = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
        let (low, carry) = low.overflowing_add(z);
        (high + u128::from(carry), low)
    }

    #[test]
    fn pps_value_is_the_expected_part_of_a_block() {
        let reward = Amount::from_atomic(600_000_000_000);
        let fee = FeeRate::from_percent(1.0).unwrap();
        let v = pps_value(1_000.0, 300_000_000_000.0, reward, fee).unwrap();
        // 1000 / 3e11 x 6e11 = 2000 atomic; 1 % fee = 20.
        assert_eq!((v.credit.atomic(), v.fee.atomic()), (1_980, 20));
        // A share harder than the network is one block, not more.
        let v = pps_value(500.0, 100.0, reward, fee).unwrap();
        assert_eq!(v.credit.atomic() + v.fee.atomic(), reward.atomic());
        assert_eq!(pps_value(0.0, 1.0, reward, fee), None);
        assert_eq!(pps_value(1.0, f64::NAN, reward, fee), None);
    }

    proptest::proptest! {
        #[test]
        fn pps_credit_plus_fee_never_exceeds_the_reward(
            d in 1e-6f64..1e12, n in 1e-6f64..1e15, r in 0u64..u64::MAX / 2, ppm in 0u32..=1_000_000
        ) {
            let v = pps_value(d, n, Amount::from_atomic(r), FeeRate::from_ppm(ppm).unwrap()).unwrap();
            proptest::prop_assert!(v.credit.atomic().checked_add(v.fee.atomic()).unwrap() <= r);
        }
    }
}
