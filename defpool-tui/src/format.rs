//! How numbers, addresses and times read on a terminal cell budget.
//!
//! Everything here is pure: times are formatted against a `now` the caller passes, so a
//! rendering test from a recorded stream always prints the same ages.

use defpool_core::api::CoinAmount;
use defpool_core::CoinSpec;

/// Hashes per second with an SI prefix: `0 H/s`, `950 H/s`, `1.23 kH/s`, `4.5 TH/s`.
pub fn hashrate(hps: f64) -> String {
    if !hps.is_finite() || hps <= 0.0 {
        return "0 H/s".to_string();
    }
    let (value, unit) = si(hps);
    if unit.is_empty() && value < 10.0 {
        // A regtest miner or a sliver of a share: keep it from reading as zero.
        format!("{value:.2} H/s")
    } else if unit.is_empty() {
        format!("{value:.0} H/s")
    } else {
        format!("{value:.2} {unit}H/s")
    }
}

/// A plain number with an SI prefix and three significant digits (`1.20k`, `350`).
pub fn compact(n: f64) -> String {
    if !n.is_finite() {
        return "-".to_string();
    }
    let (value, unit) = si(n.abs());
    let sign = if n < 0.0 { "-" } else { "" };
    if unit.is_empty() {
        if value.fract() == 0.0 {
            format!("{sign}{value:.0}")
        } else if value < 0.001 {
            // Litecoin's regtest network difficulty is 3e-5 share units.
            format!("{sign}{value:.2e}")
        } else if value < 1.0 {
            format!("{sign}{value:.4}")
        } else {
            format!("{sign}{value:.1}")
        }
    } else {
        format!("{sign}{value:.2}{unit}")
    }
}

fn si(n: f64) -> (f64, &'static str) {
    const UNITS: [&str; 7] = ["", "k", "M", "G", "T", "P", "E"];
    let mut value = n;
    let mut i = 0;
    while value >= 1000.0 && i + 1 < UNITS.len() {
        value /= 1000.0;
        i += 1;
    }
    (value, UNITS[i])
}

/// An address cut to `width` characters as `head…tail`, so two miners stay
/// distinguishable by both ends (payout addresses share their prefix per network).
pub fn short_address(address: &str, width: usize) -> String {
    let chars: Vec<char> = address.chars().collect();
    if chars.len() <= width {
        return address.to_string();
    }
    if width < 3 {
        return chars.iter().take(width).collect();
    }
    let keep = width - 1;
    let head = keep.div_ceil(2);
    let tail = keep - head;
    let mut out: String = chars[..head].iter().collect();
    out.push('…');
    out.extend(&chars[chars.len() - tail..]);
    out
}

/// Text cut to `width` characters with a trailing `…` when it does not fit.
pub fn ellipsize(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out: String = text.chars().take(width - 1).collect();
    out.push('…');
    out
}

/// How long ago `at` was, coarsely: `5s`, `3m`, `2h`, `4d`; `-` for never.
pub fn age(now_ms: i64, at: Option<i64>) -> String {
    let Some(at) = at else {
        return "-".to_string();
    };
    let secs = (now_ms - at).max(0) / 1000;
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// Wall-clock time of day in UTC, `HH:MM:SS` (the log's time column).
pub fn clock(at_ms: i64) -> String {
    let secs = at_ms.div_euclid(1000).rem_euclid(86_400);
    format!(
        "{:02}:{:02}:{:02}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

/// An amount in decimal coins with its ticker (`1.25 XMR`).
pub fn amount(a: &CoinAmount) -> String {
    format!("{} {}", a.to_decimal(), a.coin)
}

/// Expected hashes per unit of share difficulty of a coin's algorithm; 1 for a coin
/// this build does not know (its difficulty is then shown as if it counted hashes).
pub fn hashes_per_difficulty(coin: &str) -> f64 {
    CoinSpec::lookup(coin)
        .map(|spec| spec.algorithm.hashes_per_difficulty())
        .unwrap_or(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashrates_carry_si_prefixes() {
        assert_eq!(hashrate(0.0), "0 H/s");
        assert_eq!(hashrate(950.0), "950 H/s");
        assert_eq!(hashrate(0.33), "0.33 H/s");
        assert_eq!(hashrate(1234.0), "1.23 kH/s");
        assert_eq!(hashrate(4.5e12), "4.50 TH/s");
        assert_eq!(compact(0.0039), "0.0039");
        assert_eq!(compact(0.0000305), "3.05e-5");
        assert_eq!(compact(121_500.0), "121.50k");
    }

    #[test]
    fn addresses_keep_both_ends() {
        let a = "4AdUndXHHZ6cfufTMvppY6JwXNouMBzSkbLYfpAV5Usx3skxNgYeYTRj5UzqtReoS44qo9mtmXCqY45DJ852K5Jv2684Rge";
        assert_eq!(short_address(a, 13), "4AdUnd…684Rge");
        assert_eq!(short_address(a, 13).chars().count(), 13);
        assert_eq!(short_address("short", 13), "short");
    }

    #[test]
    fn ages_and_clock_read_against_the_given_now() {
        assert_eq!(age(100_000, Some(95_000)), "5s");
        assert_eq!(age(4_000_000, Some(0)), "1h");
        assert_eq!(age(1, None), "-");
        assert_eq!(clock(3_723_000), "01:02:03");
    }
}
