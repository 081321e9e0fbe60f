//! Profitability: what a unit of hashrate earns on each coin, what a proxy share is
//! worth, and which coin a miner should mine now.
//!
//! Everything here is pure: prices, network figures and the current time are passed
//! in by the node's monitor (`defpool-node::profit`), so the arithmetic and the
//! switching rules are tested with vectors and properties rather than live feeds.
//!
//! Units, once:
//! - a coin's [`Price`] is in BTC per whole coin, held as an exact decimal;
//! - [`NetworkStats::difficulty`] is in the coin's *share-difficulty* units, the ones
//!   its stratum sessions and [`Algorithm::hashes_per_difficulty`] use (hashes for
//!   Monero; 2^32 hashes for sha256d; 2^16 hashes for scrypt, whose stratum
//!   difficulty-1 target is 2^16 times sha256d's);
//! - revenue is BTC per (hash/s) per day, an `f64` because it is a rate derived from
//!   a float difficulty, never a balance;
//! - a PPS credit is money and is exact integer atomic units of the mined coin.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::coin::{Algorithm, CoinSpec};
use crate::units::{Amount, FeeRate};

/// Seconds in the day revenue is quoted per.
pub const SECONDS_PER_DAY: f64 = 86_400.0;

// ---------------------------------------------------------------------------------------
// Price
// ---------------------------------------------------------------------------------------

/// A coin's price in BTC per whole coin, as an exact decimal with 18 places.
///
/// Exact rather than `f64` because prices arrive as decimal strings (`"0.00291000"`):
/// kept as integers they are echoed by the API digit for digit, compared without
/// rounding surprises, and inverted (`BTCXMR` → `XMRBTC`) deterministically. 18
/// places (1e-18 BTC, far below a satoshi) keep six significant digits even for coins
/// worth a millionth of a satoshi. A price only becomes `f64` where it meets a float
/// difficulty in [`revenue_per_hash_day`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Price(u128);

/// Why a price could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PriceError {
    #[error("price is empty")]
    Empty,
    #[error("price {0:?} is not a number")]
    NotANumber(String),
    #[error("price {0:?} is negative")]
    Negative(String),
    #[error("price {0:?} is zero (no coin is free; the feed is wrong)")]
    Zero(String),
    #[error("price {0:?} is too large")]
    TooLarge(String),
}

impl Price {
    /// Decimal places kept.
    pub const DECIMALS: u32 = 18;
    const SCALE: u128 = 1_000_000_000_000_000_000;
    /// The price of BTC in BTC.
    pub const ONE: Price = Price(Self::SCALE);

    /// The price in units of 1e-18 BTC.
    pub const fn from_atto(atto: u128) -> Price {
        Price(atto)
    }

    pub const fn atto(self) -> u128 {
        self.0
    }

    /// Parses a decimal string exactly (`"0.00291000"`, `"1"`, `" 12.5 "`). Places past
    /// the 18th are dropped (rounded down). Exponent forms (`"2.9e-3"`), which some
    /// JSON APIs produce, are read through `f64` and so are exact to 17 digits.
    pub fn from_decimal(input: &str) -> Result<Price, PriceError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(PriceError::Empty);
        }
        if s.starts_with('-') {
            return Err(PriceError::Negative(input.to_string()));
        }
        let s = s.strip_prefix('+').unwrap_or(s);
        let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
        let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
        if (whole.is_empty() && frac.is_empty()) || !digits(whole) || !digits(frac) {
            if s.contains(['e', 'E']) {
                if let Ok(f) = s.parse::<f64>() {
                    return Price::from_f64(f).map_err(|e| match e {
                        PriceError::Zero(_) => PriceError::Zero(input.to_string()),
                        _ => PriceError::NotANumber(input.to_string()),
                    });
                }
            }
            return Err(PriceError::NotANumber(input.to_string()));
        }
        let too_large = || PriceError::TooLarge(input.to_string());
        let mut value: u128 = 0;
        for b in whole.bytes() {
            value = value
                .checked_mul(10)
                .and_then(|v| v.checked_add(u128::from(b - b'0')))
                .ok_or_else(too_large)?;
        }
        value = value.checked_mul(Self::SCALE).ok_or_else(too_large)?;
        let mut place = Self::SCALE;
        for b in frac.bytes().take(Self::DECIMALS as usize) {
            place /= 10;
            value += u128::from(b - b'0') * place;
        }
        if value == 0 {
            return Err(PriceError::Zero(input.to_string()));
        }
        Ok(Price(value))
    }

    /// From a float, through its shortest round-trip decimal form (Rust prints floats
    /// without an exponent), so `0.00291` becomes exactly `0.00291`.
    pub fn from_f64(value: f64) -> Result<Price, PriceError> {
        if !value.is_finite() {
            return Err(PriceError::NotANumber(value.to_string()));
        }
        if value < 0.0 {
            return Err(PriceError::Negative(value.to_string()));
        }
        Price::from_decimal(&format!("{value}"))
    }

    /// `1 / self`, rounded down to 18 places: a `BTCXMR` quote (coins per BTC) read as
    /// the coin's price in BTC. Zero when the inverse is below 1e-18.
    pub fn inverse(self) -> Result<Price, PriceError> {
        if self.0 == 0 {
            return Err(PriceError::Zero(self.to_string()));
        }
        // 10^36 < 2^120: fits u128.
        let inv = Self::SCALE * Self::SCALE / self.0;
        if inv == 0 {
            return Err(PriceError::Zero(format!("1/{self}")));
        }
        Ok(Price(inv))
    }

    /// The price as a float, for revenue estimates.
    pub fn to_f64(self) -> f64 {
        (self.0 / Self::SCALE) as f64 + (self.0 % Self::SCALE) as f64 / Self::SCALE as f64
    }
}

impl fmt::Display for Price {
    /// Decimal without trailing zeros: `0.00291`, `1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.0 / Self::SCALE;
        let frac = self.0 % Self::SCALE;
        if frac == 0 {
            return write!(f, "{whole}");
        }
        let frac = format!("{frac:018}");
        write!(f, "{whole}.{}", frac.trim_end_matches('0'))
    }
}

impl std::str::FromStr for Price {
    type Err = PriceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Price::from_decimal(s)
    }
}

/// On the wire a price is its decimal string, like amounts: no float rounding.
impl Serialize for Price {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Price {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Price::from_decimal(&text).map_err(serde::de::Error::custom)
    }
}

// ---------------------------------------------------------------------------------------
// Observations and staleness
// ---------------------------------------------------------------------------------------

/// A coin's network as last read from its daemon (or an upstream's stats API).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct NetworkStats {
    /// Network difficulty in the coin's share-difficulty units.
    pub difficulty: f64,
    /// Reward of the next block (subsidy, plus fees where the daemon includes them),
    /// in the coin's atomic units.
    pub block_reward_atomic: u64,
    /// When it was read, unix seconds.
    pub at: i64,
}

/// A coin's price from one source.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quote {
    /// Where it came from (`binance`, `kraken`, `json:<url>`, `fixed` for BTC).
    pub source: String,
    pub price_btc: Price,
    /// When it was fetched, unix seconds.
    pub at: i64,
}

/// Whether something observed at `at` is too old to act on at `now`: older than
/// `max_age`. Stale data is shown (marked) but never used for a decision or a credit.
/// A time in the future (clock skew between sources) counts as fresh.
pub fn is_stale(at: i64, now: i64, max_age: Duration) -> bool {
    let max = i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX);
    now.saturating_sub(at) > max
}

impl NetworkStats {
    pub fn is_stale(&self, now: i64, max_age: Duration) -> bool {
        is_stale(self.at, now, max_age)
    }
}

impl Quote {
    pub fn is_stale(&self, now: i64, max_age: Duration) -> bool {
        is_stale(self.at, now, max_age)
    }
}

// ---------------------------------------------------------------------------------------
// Calculator
// ---------------------------------------------------------------------------------------

/// Expected revenue of one hash per second mined on `coin` for a day, in BTC:
/// `86400 / (difficulty × hashes_per_difficulty) × reward_coins × price_btc`.
///
/// `None` when the difficulty is not a positive finite number (a daemon still
/// syncing may report 0).
pub fn revenue_per_hash_day(coin: &CoinSpec, stats: &NetworkStats, price: Price) -> Option<f64> {
    if !(stats.difficulty.is_finite() && stats.difficulty > 0.0) {
        return None;
    }
    let hashes_per_block = stats.difficulty * coin.algorithm.hashes_per_difficulty();
    let reward_coins = stats.block_reward_atomic as f64 / 10f64.powi(i32::from(coin.decimals));
    let revenue = SECONDS_PER_DAY / hashes_per_block * reward_coins * price.to_f64();
    revenue.is_finite().then_some(revenue)
}

/// A coin's profitability from fresh data: what the monitor hands the router and the
/// proxy's share crediting.
#[derive(Clone, Debug, PartialEq)]
pub struct CoinProfit {
    pub coin: String,
    pub algorithm: Algorithm,
    pub quote: Quote,
    pub stats: NetworkStats,
    /// BTC per (hash/s) per day.
    pub revenue_per_hash_day: f64,
}

impl CoinProfit {
    /// Builds it from a quote and network stats; `None` when the revenue is undefined.
    pub fn compute(coin: &CoinSpec, quote: Quote, stats: NetworkStats) -> Option<CoinProfit> {
        let revenue = revenue_per_hash_day(coin, &stats, quote.price_btc)?;
        Some(CoinProfit {
            coin: coin.symbol.to_string(),
            algorithm: coin.algorithm,
            quote,
            stats,
            revenue_per_hash_day: revenue,
        })
    }

    /// The older of the two observations it rests on.
    pub fn at(&self) -> i64 {
        self.quote.at.min(self.stats.at)
    }
}

// ---------------------------------------------------------------------------------------
// PPS
// ---------------------------------------------------------------------------------------

/// What one PPS share of `share_difficulty` is worth to its miner, in atomic units:
/// `share_difficulty / network_difficulty × reward`, rounded down, less the pool's
/// `fee` (rounded down, as [`FeeRate::fee_on`]: the pool never takes more than its
/// rate). A share at or above the network difficulty is worth one block, never more.
///
/// Exact: both difficulties are taken as the binary fractions `m × 2^e` they are and
/// the ratio is applied to the reward in `u128`, so the result is the true floor, not
/// a float product's. `None` when a difficulty is not a positive finite number.
pub fn pps_credit(
    share_difficulty: f64,
    network_difficulty: f64,
    reward: Amount,
    fee: FeeRate,
) -> Option<Amount> {
    crate::payout::pps_value(share_difficulty, network_difficulty, reward, fee).map(|v| v.credit)
}

/// `floor(share / network × reward)`, capped at `reward`, exactly.
pub(crate) fn share_of_reward(share: f64, network: f64, reward: u64) -> Option<u64> {
    let valid = |d: f64| d.is_finite() && d > 0.0;
    if !valid(share) || !valid(network) {
        return None;
    }
    if share >= network {
        return Some(reward);
    }
    let (ms, es) = normalized(share);
    let (mn, en) = normalized(network);
    // Both mantissas are in [2^52, 2^53), so their ratio is in (1/2, 2); share <
    // network then means es <= en, and the ratio is ms / (mn × 2^k) with k >= 0.
    let k = en - es;
    debug_assert!(k >= 0);
    // reward × ms < 2^117; once mn × 2^k >= 2^117 the quotient is below 1.
    if k > 64 {
        return Some(0);
    }
    let numerator = u128::from(reward) * u128::from(ms);
    let denominator = u128::from(mn) << k;
    Some((numerator / denominator) as u64)
}

/// A positive finite `f64` as `mantissa × 2^exponent` with the mantissa in
/// `[2^52, 2^53)` (subnormals are shifted up), exact.
fn normalized(x: f64) -> (u64, i32) {
    let bits = x.to_bits();
    let raw_exp = ((bits >> 52) & 0x7ff) as i32;
    let frac = bits & ((1u64 << 52) - 1);
    let (mut m, mut e) = if raw_exp == 0 {
        (frac, -1074)
    } else {
        (frac | (1u64 << 52), raw_exp - 1075)
    };
    while m < (1u64 << 52) {
        m <<= 1;
        e -= 1;
    }
    (m, e)
}

// ---------------------------------------------------------------------------------------
// Switching
// ---------------------------------------------------------------------------------------

/// An algorithm from xmrig's name for it (`rx/0`), as miners send in `algo` and
/// `algo-perf`; `None` for algorithms no coin of this node uses.
pub fn algorithm_from_xmrig(name: &str) -> Option<Algorithm> {
    match name.to_ascii_lowercase().as_str() {
        "rx/0" | "rx" | "randomx" => Some(Algorithm::RandomX),
        "sha256d" | "sha256" => Some(Algorithm::Sha256d),
        "scrypt" => Some(Algorithm::Scrypt),
        _ => None,
    }
}

/// The algorithms a miner can mine and, when it measured them (xmrig's `algo-perf`),
/// its hashrate on each.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MinerAlgorithms {
    algorithms: Vec<(Algorithm, Option<f64>)>,
}

impl MinerAlgorithms {
    /// A miner of exactly these algorithms, hashrates unknown (a Bitcoin-dialect miner
    /// on a port of one algorithm).
    pub fn of(algorithms: impl IntoIterator<Item = Algorithm>) -> MinerAlgorithms {
        let mut m = MinerAlgorithms::default();
        for a in algorithms {
            m.insert(a, None);
        }
        m
    }

    /// From xmrig's login: `algo` lists what it can mine, `algo-perf` its hashrate per
    /// algorithm (an algorithm listed only there is mineable too). Unknown names are
    /// skipped; a measured hashrate of zero, negative or not finite means the miner
    /// cannot mine that algorithm.
    pub fn from_xmrig(algo: &[String], algo_perf: Option<&BTreeMap<String, f64>>) -> Self {
        let mut m = MinerAlgorithms::default();
        for name in algo {
            if let Some(a) = algorithm_from_xmrig(name) {
                m.insert(a, None);
            }
        }
        for (name, hashrate) in algo_perf.into_iter().flatten() {
            let Some(a) = algorithm_from_xmrig(name) else {
                continue;
            };
            if hashrate.is_finite() && *hashrate > 0.0 {
                m.insert(a, Some(*hashrate));
            } else {
                m.algorithms.retain(|(x, _)| *x != a);
            }
        }
        m
    }

    /// Adds an algorithm (replacing what was known about it).
    pub fn insert(&mut self, algorithm: Algorithm, hashrate: Option<f64>) {
        match self.algorithms.iter_mut().find(|(a, _)| *a == algorithm) {
            Some(entry) => entry.1 = hashrate,
            None => self.algorithms.push((algorithm, hashrate)),
        }
    }

    pub fn can_mine(&self, algorithm: Algorithm) -> bool {
        self.algorithms.iter().any(|(a, _)| *a == algorithm)
    }

    /// The miner's measured hashrate on `algorithm`, when known.
    pub fn hashrate(&self, algorithm: Algorithm) -> Option<f64> {
        self.algorithms
            .iter()
            .find(|(a, _)| *a == algorithm)
            .and_then(|(_, h)| *h)
    }
}

/// A coin the switcher may choose, with its current (fresh) revenue.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Candidate<'a> {
    pub coin: &'a str,
    pub algorithm: Algorithm,
    /// BTC per (hash/s) per day, from fresh data only: a coin whose data is stale is
    /// left out of the candidates (and so counts as unavailable).
    pub revenue_per_hash_day: f64,
}

/// Hysteresis of the switcher.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SwitchPolicy {
    /// A coin must be better than the current one by more than this percentage.
    pub margin_percent: f64,
    /// Least time on a coin before switching away (unless it becomes unavailable).
    pub min_time: Duration,
}

/// What the switcher decided and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// The coin to mine; `None` only when there was no current coin and no candidate
    /// the miner can mine.
    pub choice: Option<String>,
    /// One human sentence, for logs, the API and the TUI.
    pub reason: String,
    /// Whether `choice` differs from the current coin.
    pub switched: bool,
}

/// Picks the coin a miner should mine.
///
/// The score of a candidate is its revenue per hash times the miner's hashrate on the
/// coin's algorithm when the miner measured it (xmrig `algo-perf`), else its revenue
/// per hash alone (comparable only within one algorithm: miners of several should send
/// their hashrates). Candidates of algorithms the miner cannot mine, or with a revenue
/// that is not a positive finite number, are ignored.
///
/// `current` is the coin mined now and since when (unix seconds). The best candidate
/// replaces it only when its score is more than `margin_percent` above the current
/// coin's and the miner has been on the current coin for at least `min_time`; when the
/// current coin is not among the usable candidates (stale or missing data, or an
/// algorithm the miner cannot mine) the best candidate is taken at once. With no usable
/// candidate the miner stays where it is.
pub fn decide(
    current: Option<(&str, i64)>,
    candidates: &[Candidate<'_>],
    miner: &MinerAlgorithms,
    policy: &SwitchPolicy,
    now: i64,
) -> Decision {
    let score = |c: &Candidate<'_>| -> Option<f64> {
        let usable = miner.can_mine(c.algorithm)
            && c.revenue_per_hash_day.is_finite()
            && c.revenue_per_hash_day > 0.0;
        if !usable {
            return None;
        }
        let s = c.revenue_per_hash_day * miner.hashrate(c.algorithm).unwrap_or(1.0);
        (s.is_finite() && s > 0.0).then_some(s)
    };
    // Highest score; ties go to the alphabetically first coin so a decision is
    // reproducible whatever order the candidates come in.
    let best = candidates
        .iter()
        .filter_map(|c| score(c).map(|s| (c.coin, s)))
        .max_by(|a, b| a.1.total_cmp(&b.1).then_with(|| b.0.cmp(a.0)));
    let stay = |coin: &str, reason: String| Decision {
        choice: Some(coin.to_string()),
        reason,
        switched: false,
    };
    let switch = |coin: &str, reason: String| Decision {
        choice: Some(coin.to_string()),
        reason,
        switched: true,
    };

    let Some((cur, since)) = current else {
        return match best {
            Some((coin, _)) => switch(coin, format!("{coin} is the most profitable coin")),
            None => Decision {
                choice: None,
                reason: "no coin this miner can mine has fresh profitability data".into(),
                switched: false,
            },
        };
    };
    // The current coin's best entry, as for every other coin (the first entry of a
    // coin listed twice could be a worse one, and make a switch for less than the
    // margin).
    let current_score = candidates
        .iter()
        .filter(|c| c.coin == cur)
        .filter_map(score)
        .max_by(f64::total_cmp);
    let Some((best_coin, best_score)) = best else {
        return stay(
            cur,
            format!("staying on {cur}: no coin this miner can mine has fresh profitability data"),
        );
    };
    let Some(current_score) = current_score else {
        if best_coin == cur {
            // Unreachable (the best has a score), kept for clarity.
            return stay(cur, format!("{cur} is the most profitable coin"));
        }
        return switch(
            best_coin,
            format!("{cur} has no fresh profitability data for this miner; {best_coin} is the best available"),
        );
    };
    if best_coin == cur {
        return stay(cur, format!("{cur} is the most profitable coin"));
    }
    let better_percent = (best_score / current_score - 1.0) * 100.0;
    let on_current = now.saturating_sub(since).max(0);
    let min_secs = i64::try_from(policy.min_time.as_secs()).unwrap_or(i64::MAX);
    let comparison = format!(
        "{best_coin} {better_percent:.1}% better than {cur} (margin {}%), {on_current} s on {cur}",
        policy.margin_percent
    );
    if on_current < min_secs {
        return stay(
            cur,
            format!("staying on {cur}: {comparison}, less than the minimum {min_secs} s"),
        );
    }
    // Strictly more than the margin, compared on scores so rounding of the printed
    // percentage cannot decide.
    if best_score <= current_score * (1.0 + policy.margin_percent / 100.0) {
        return stay(
            cur,
            format!("staying on {cur}: {comparison}, within the margin"),
        );
    }
    switch(best_coin, comparison)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coin::{BTC, LTC, XMR};
    use proptest::prelude::*;

    fn price(s: &str) -> Price {
        Price::from_decimal(s).unwrap()
    }

    #[test]
    fn prices_parse_and_print_exactly() {
        assert_eq!(price("0.00291000").to_string(), "0.00291");
        assert_eq!(price("0.00291000").atto(), 2_910_000_000_000_000);
        assert_eq!(price("1").to_string(), "1");
        assert_eq!(Price::ONE, price("1.000"));
        assert_eq!(price(" 12.5 ").to_string(), "12.5");
        assert_eq!(price(".5").to_string(), "0.5");
        assert_eq!(price("2.9e-3").to_string(), "0.0029");
        // Past 18 places the digits are dropped.
        assert_eq!(
            price("0.0000000000000000019").to_string(),
            "0.000000000000000001"
        );
        assert_eq!(Price::from_f64(0.00291).unwrap(), price("0.00291"));
        assert!(matches!(Price::from_decimal(""), Err(PriceError::Empty)));
        assert!(matches!(
            Price::from_decimal("abc"),
            Err(PriceError::NotANumber(_))
        ));
        assert!(matches!(
            Price::from_decimal("-1"),
            Err(PriceError::Negative(_))
        ));
        assert!(matches!(
            Price::from_decimal("0.000"),
            Err(PriceError::Zero(_))
        ));
        assert!(Price::from_f64(f64::NAN).is_err());
        assert!(Price::from_decimal("1e400").is_err());
    }

    #[test]
    fn inverse_reads_a_coins_per_btc_quote() {
        // 1 BTC = 400 XMR → 1 XMR = 0.0025 BTC.
        assert_eq!(price("400").inverse().unwrap(), price("0.0025"));
        assert_eq!(Price::ONE.inverse().unwrap(), Price::ONE);
        assert!(Price::from_atto(0).inverse().is_err());
    }

    #[test]
    fn prices_are_strings_on_the_wire() {
        let q = Quote {
            source: "binance".into(),
            price_btc: price("0.00291"),
            at: 5,
        };
        let text = serde_json::to_string(&q).unwrap();
        assert_eq!(text, r#"{"source":"binance","price_btc":"0.00291","at":5}"#);
        assert_eq!(serde_json::from_str::<Quote>(&text).unwrap(), q);
    }

    #[test]
    fn staleness_is_past_max_age() {
        let max = Duration::from_secs(300);
        assert!(
            !is_stale(1_000, 1_300, max),
            "exactly max_age is still fresh"
        );
        assert!(is_stale(1_000, 1_301, max));
        assert!(!is_stale(2_000, 1_000, max), "future times are fresh");
        assert!(!is_stale(0, 10, Duration::MAX));
    }

    #[test]
    fn monero_revenue_counts_difficulty_in_hashes() {
        // 86400 / 3e11 H × 0.6 XMR × 0.00291 BTC = 5.02848e-10 BTC per H/s per day.
        let stats = NetworkStats {
            difficulty: 300e9,
            block_reward_atomic: 600_000_000_000,
            at: 0,
        };
        let r = revenue_per_hash_day(&XMR, &stats, price("0.00291")).unwrap();
        assert!((r - 5.02848e-10).abs() < 1e-22, "{r}");
    }

    #[test]
    fn bitcoin_family_revenue_uses_the_stratum_difficulty_unit() {
        // sha256d: share difficulty 1 is 2^32 hashes; 3.125 BTC at price 1.
        let stats = NetworkStats {
            difficulty: 1e14,
            block_reward_atomic: 312_500_000,
            at: 0,
        };
        let r = revenue_per_hash_day(&BTC, &stats, Price::ONE).unwrap();
        let expected = 86_400.0 / (1e14 * 4_294_967_296.0) * 3.125;
        assert!((r / expected - 1.0).abs() < 1e-12);
        // scrypt: litecoind difficulty D is D × 2^16 share-difficulty units of 2^16
        // hashes each, D × 2^32 hashes in all, like sha256d at the daemon's D.
        let daemon_difficulty = 50e6;
        let stats = NetworkStats {
            difficulty: daemon_difficulty * 65_536.0,
            block_reward_atomic: 625_000_000,
            at: 0,
        };
        let r = revenue_per_hash_day(&LTC, &stats, price("0.0012")).unwrap();
        let expected = 86_400.0 / (daemon_difficulty * 4_294_967_296.0) * 6.25 * 0.0012;
        assert!((r / expected - 1.0).abs() < 1e-12);
        let zero = NetworkStats {
            difficulty: 0.0,
            ..stats
        };
        assert_eq!(revenue_per_hash_day(&LTC, &zero, Price::ONE), None);
    }

    #[test]
    fn pps_credit_is_exact() {
        let reward = Amount::from_atomic(600_000_000_000);
        let fee = FeeRate::from_percent(1.0).unwrap();
        // 1000 / 3e11 × 6e11 = 2000; 1 % fee = 20.
        assert_eq!(
            pps_credit(1_000.0, 300e9, reward, fee),
            Some(Amount::from_atomic(1_980))
        );
        // A third of 10: floor 3 (a float product could give 3.3333 → 3 or 2.9999 → 2).
        assert_eq!(
            pps_credit(1.0, 3.0, Amount::from_atomic(10), FeeRate::ZERO),
            Some(Amount::from_atomic(3))
        );
        // 0.1 is the binary fraction just above 1/10: 0.1 / 1 × 10 floors to 1.
        assert_eq!(
            pps_credit(0.1, 1.0, Amount::from_atomic(10), FeeRate::ZERO),
            Some(Amount::from_atomic(1))
        );
        // At or above the network difficulty: one block, never more.
        assert_eq!(pps_credit(5.0, 5.0, reward, FeeRate::ZERO), Some(reward));
        assert_eq!(pps_credit(9e9, 5.0, reward, FeeRate::ZERO), Some(reward));
        // Regtest-small and mainnet-large difficulties.
        assert_eq!(
            pps_credit(1e-10, 1e30, reward, FeeRate::ZERO),
            Some(Amount::ZERO)
        );
        assert_eq!(
            pps_credit(
                f64::MIN_POSITIVE / 4.0,
                1.0,
                Amount::from_atomic(u64::MAX),
                fee
            ),
            Some(Amount::ZERO)
        );
        assert_eq!(pps_credit(0.0, 1.0, reward, fee), None);
        assert_eq!(pps_credit(1.0, f64::NAN, reward, fee), None);
        assert_eq!(pps_credit(1.0, f64::INFINITY, reward, fee), None);
    }

    fn cand(coin: &str, algorithm: Algorithm, revenue: f64) -> Candidate<'_> {
        Candidate {
            coin,
            algorithm,
            revenue_per_hash_day: revenue,
        }
    }

    const POLICY: SwitchPolicy = SwitchPolicy {
        margin_percent: 5.0,
        min_time: Duration::from_secs(300),
    };

    #[test]
    fn switches_past_margin_and_min_time_and_says_why() {
        let miner = MinerAlgorithms::of([Algorithm::RandomX, Algorithm::Scrypt]);
        let c = [
            cand("XMR", Algorithm::RandomX, 1.0),
            cand("LTC", Algorithm::Scrypt, 1.12),
        ];
        let d = decide(Some(("XMR", 0)), &c, &miner, &POLICY, 310);
        assert_eq!(d.choice.as_deref(), Some("LTC"));
        assert!(d.switched);
        assert_eq!(
            d.reason,
            "LTC 12.0% better than XMR (margin 5%), 310 s on XMR"
        );

        let d = decide(Some(("XMR", 0)), &c, &miner, &POLICY, 100);
        assert_eq!(d.choice.as_deref(), Some("XMR"));
        assert!(!d.switched);
        assert!(
            d.reason.contains("less than the minimum 300 s"),
            "{}",
            d.reason
        );

        let close = [
            cand("XMR", Algorithm::RandomX, 1.0),
            cand("LTC", Algorithm::Scrypt, 1.04),
        ];
        let d = decide(Some(("XMR", 0)), &close, &miner, &POLICY, 1_000);
        assert!(!d.switched);
        assert!(d.reason.contains("within the margin"), "{}", d.reason);
    }

    #[test]
    fn an_unavailable_current_coin_is_left_at_once() {
        let miner = MinerAlgorithms::of([Algorithm::RandomX, Algorithm::Scrypt]);
        let c = [cand("LTC", Algorithm::Scrypt, 0.5)];
        let d = decide(Some(("XMR", 100)), &c, &miner, &POLICY, 101);
        assert_eq!(d.choice.as_deref(), Some("LTC"));
        assert!(d.switched);
        assert!(d.reason.contains("XMR has no fresh"), "{}", d.reason);
        // Nothing usable: stay.
        let d = decide(Some(("XMR", 100)), &[], &miner, &POLICY, 101);
        assert_eq!(d.choice.as_deref(), Some("XMR"));
        assert!(!d.switched);
        // No current coin and nothing usable: no choice.
        let d = decide(None, &[], &miner, &POLICY, 101);
        assert_eq!(d.choice, None);
    }

    #[test]
    fn measured_hashrates_weigh_the_algorithms() {
        // Per hash LTC pays 100× XMR, but this miner does 1000× more RandomX hashes.
        let perf: BTreeMap<String, f64> =
            [("rx/0".to_string(), 1_000.0), ("scrypt".to_string(), 1.0)].into();
        let miner = MinerAlgorithms::from_xmrig(&["rx/0".into(), "scrypt".into()], Some(&perf));
        let c = [
            cand("XMR", Algorithm::RandomX, 1.0),
            cand("LTC", Algorithm::Scrypt, 100.0),
        ];
        let d = decide(None, &c, &miner, &POLICY, 0);
        assert_eq!(d.choice.as_deref(), Some("XMR"));
        // A miner that cannot mine scrypt never gets LTC.
        let rx_only = MinerAlgorithms::from_xmrig(&["rx/0".into(), "cn/r".into()], None);
        assert!(!rx_only.can_mine(Algorithm::Scrypt));
        let d = decide(None, &c, &rx_only, &POLICY, 0);
        assert_eq!(d.choice.as_deref(), Some("XMR"));
        // A measured zero means it cannot.
        let perf: BTreeMap<String, f64> = [("rx/0".to_string(), 0.0)].into();
        let none = MinerAlgorithms::from_xmrig(&["rx/0".into()], Some(&perf));
        assert!(!none.can_mine(Algorithm::RandomX));
    }

    fn arb_candidates() -> impl Strategy<Value = Vec<(usize, f64)>> {
        proptest::collection::vec((0usize..4, prop_oneof![Just(0.0), 1e-12f64..1e-6]), 0..6)
    }

    const COINS: [(&str, Algorithm); 4] = [
        ("XMR", Algorithm::RandomX),
        ("LTC", Algorithm::Scrypt),
        ("BTC", Algorithm::Sha256d),
        ("ZZZ", Algorithm::RandomX),
    ];

    fn arb_miner() -> impl Strategy<Value = MinerAlgorithms> {
        proptest::collection::vec((0usize..3, proptest::option::of(1.0f64..1e6)), 0..4).prop_map(
            |v| {
                let algs = [Algorithm::RandomX, Algorithm::Scrypt, Algorithm::Sha256d];
                let mut m = MinerAlgorithms::default();
                for (i, h) in v {
                    m.insert(algs[i], h);
                }
                m
            },
        )
    }

    proptest! {
        #[test]
        fn decisions_respect_min_time_margin_and_capability(
            raw in arb_candidates(),
            miner in arb_miner(),
            current in proptest::option::of(0usize..4),
            since in 0i64..1_000,
            elapsed in 0i64..1_000,
            margin in 0.0f64..50.0,
            min_time in 0u64..600,
        ) {
            let cands: Vec<Candidate> = raw
                .iter()
                .map(|(i, r)| cand(COINS[*i].0, COINS[*i].1, *r))
                .collect();
            let policy = SwitchPolicy { margin_percent: margin, min_time: Duration::from_secs(min_time) };
            let now = since + elapsed;
            let cur = current.map(|i| (COINS[i].0, since));
            let d = decide(cur, &cands, &miner, &policy, now);
            let usable = |coin: &str| cands.iter().any(|c| {
                c.coin == coin && miner.can_mine(c.algorithm) && c.revenue_per_hash_day > 0.0
            });
            // Always a coin the miner can mine (or the current one, kept).
            if let Some(choice) = &d.choice {
                prop_assert!(usable(choice) || cur.map(|c| c.0) == Some(choice.as_str()));
            }
            prop_assert_eq!(d.switched, d.choice.as_deref() != cur.map(|c| c.0));
            if let Some((cur_coin, _)) = cur {
                if usable(cur_coin) {
                    // Never within min_time while the current coin is usable.
                    if elapsed < min_time as i64 {
                        prop_assert!(!d.switched, "{}", d.reason);
                    }
                    // Never for less than the margin.
                    if d.switched {
                        let score = |coin: &str| cands.iter()
                            .filter(|c| c.coin == coin && miner.can_mine(c.algorithm) && c.revenue_per_hash_day > 0.0)
                            .map(|c| c.revenue_per_hash_day * miner.hashrate(c.algorithm).unwrap_or(1.0))
                            .fold(0.0f64, f64::max);
                        let to = d.choice.as_deref().unwrap();
                        prop_assert!(score(to) > score(cur_coin) * (1.0 + margin / 100.0), "{}", d.reason);
                    }
                }
            }
        }

        #[test]
        fn pps_credit_matches_exact_rational_arithmetic(
            share_m in 1u64..1 << 40, share_e in -30i32..10,
            net_m in 1u64..1 << 40, net_e in -30i32..40,
            reward in 0u64..u64::MAX, ppm in 0u32..=1_000_000,
        ) {
            let share = share_m as f64 * 2f64.powi(share_e);
            let net = net_m as f64 * 2f64.powi(net_e);
            let fee = FeeRate::from_ppm(ppm).unwrap();
            let credit = pps_credit(share, net, Amount::from_atomic(reward), fee).unwrap();
            // Reference: floor(share_m × 2^share_e / (net_m × 2^net_e) × reward) with a
            // common power of two, in 256-bit-free arithmetic by keeping shifts small.
            let value = if share >= net {
                reward
            } else {
                let shift = share_e - net_e; // share/net = share_m / net_m × 2^shift
                let num = u128::from(reward) * u128::from(share_m);
                if shift >= 0 {
                    ((num << shift) / u128::from(net_m)) as u64
                } else if -shift >= 128 - 40 {
                    ((num / (u128::from(net_m) << 40)) >> (-shift - 40).min(127)) as u64
                } else {
                    (num / (u128::from(net_m) << -shift)) as u64
                }
            };
            let expected = value - fee.fee_on(Amount::from_atomic(value)).atomic();
            prop_assert_eq!(credit.atomic(), expected);
            prop_assert!(credit.atomic() <= reward);
        }
    }
}
