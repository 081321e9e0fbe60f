//! The `[profit]` section: where prices and network figures come from, how old they
//! may get, and the switcher's hysteresis. Absent, the node runs no monitor.

use std::collections::BTreeSet;
use std::time::Duration;

use defpool_core::CoinSpec;
use serde::{Deserialize, Serialize};

use crate::config::humantime_serde_compat;
use crate::config::{CoinConfig, ConfigProblem};

/// Binance's public REST API.
pub const BINANCE_URL: &str = "https://api.binance.com";
/// Kraken's public REST API.
pub const KRAKEN_URL: &str = "https://api.kraken.com";

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ProfitConfig {
    /// Prices and network figures older than this are stale: shown, never used for a
    /// decision or a credit.
    #[serde(with = "humantime_serde_compat")]
    pub max_age: Duration,
    /// A coin must pay more than this percentage above the current one to switch.
    pub margin_percent: f64,
    /// Least time on a coin before switching away (unless its data goes stale).
    #[serde(with = "humantime_serde_compat")]
    pub min_time: Duration,
    /// Longest one query to a price or network source may take.
    #[serde(with = "humantime_serde_compat")]
    pub request_timeout: Duration,
    /// Price sources, in order of preference per coin.
    pub prices: Vec<PriceSourceConfig>,
    /// Network-figure sources replacing a coin's daemons (one per coin).
    pub network: Vec<NetworkSourceConfig>,
}

impl Default for ProfitConfig {
    fn default() -> Self {
        ProfitConfig {
            max_age: Duration::from_secs(300),
            margin_percent: 5.0,
            min_time: Duration::from_secs(600),
            request_timeout: Duration::from_secs(10),
            prices: Vec::new(),
            network: Vec::new(),
        }
    }
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PriceProviderKind {
    Binance,
    Kraken,
    Json,
}

/// One price source of one coin.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PriceSourceConfig {
    pub coin: String,
    pub provider: PriceProviderKind,
    /// binance / kraken: the API's base URL (default: the public endpoint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// binance: the market symbol (default `<COIN>BTC`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    /// kraken: the pair (default `<COIN>XBT`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pair: Option<String>,
    /// json: the URL to GET.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// json: RFC 6901 pointer to a number or numeric string (`/data/price`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// json: the value is coins per BTC; use its inverse.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub invert: bool,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum NetworkProviderKind {
    /// The coin's `[[coins.daemons]]` (the default for a configured coin).
    Daemon,
    /// A JSON API, e.g. an upstream pool's network stats.
    Json,
}

/// Where one coin's network difficulty and block reward come from.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NetworkSourceConfig {
    pub coin: String,
    pub provider: NetworkProviderKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Pointer to the network difficulty, in the coin's share-difficulty units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub difficulty_pointer: Option<String>,
    /// Pointer to the block reward, in atomic units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reward_pointer: Option<String>,
}

fn is_http_url(u: &str) -> bool {
    u.starts_with("http://") || u.starts_with("https://")
}

fn is_pointer(p: &str) -> bool {
    p.is_empty() || p.starts_with('/')
}

impl ProfitConfig {
    /// The coins the monitor covers: every configured coin, and every coin a price or
    /// network source names.
    pub fn coins(&self, coins: &[CoinConfig]) -> Vec<&'static CoinSpec> {
        let mut out: Vec<&'static CoinSpec> = Vec::new();
        let named = coins
            .iter()
            .map(|c| c.symbol.as_str())
            .chain(self.prices.iter().map(|p| p.coin.as_str()))
            .chain(self.network.iter().map(|n| n.coin.as_str()));
        for symbol in named {
            if let Some(spec) = CoinSpec::lookup(symbol) {
                if !out.iter().any(|s| s.symbol == spec.symbol) {
                    out.push(spec);
                }
            }
        }
        out
    }

    /// Every problem of the section, each naming its key (`profit.prices[1].url`).
    pub fn problems(&self, coins: &[CoinConfig]) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        let mut push = |key: String, problem: &str| {
            problems.push(ConfigProblem {
                key,
                problem: problem.to_string(),
            })
        };
        if self.max_age.is_zero() {
            push("profit.max_age".into(), "must be longer than zero");
        }
        if self.request_timeout.is_zero() {
            push("profit.request_timeout".into(), "must be longer than zero");
        }
        if !(self.margin_percent.is_finite() && (0.0..=1000.0).contains(&self.margin_percent)) {
            push("profit.margin_percent".into(), "must be between 0 and 1000");
        }
        let unknown = |c: &str| format!("unknown coin {c:?} (known: XMR, LTC, BTC)");
        for (i, p) in self.prices.iter().enumerate() {
            let k = |f: &str| format!("profit.prices[{i}].{f}");
            match CoinSpec::lookup(&p.coin) {
                None => push(k("coin"), &unknown(&p.coin)),
                Some(spec) if spec.symbol == "BTC" => {
                    push(k("coin"), "BTC needs no price source: its price is 1 BTC")
                }
                Some(_) => {}
            }
            let json = p.provider == PriceProviderKind::Json;
            if json {
                match &p.url {
                    None => push(k("url"), "the json provider needs a url"),
                    Some(u) if !is_http_url(u) => {
                        push(k("url"), "must be an http:// or https:// URL")
                    }
                    Some(_) => {}
                }
                match &p.pointer {
                    None => push(
                        k("pointer"),
                        "the json provider needs a pointer (RFC 6901, e.g. \"/price\")",
                    ),
                    Some(ptr) if !is_pointer(ptr) => {
                        push(k("pointer"), "must be empty or start with '/' (RFC 6901)")
                    }
                    Some(_) => {}
                }
                for (f, set) in [
                    ("base_url", p.base_url.is_some()),
                    ("symbol", p.symbol.is_some()),
                    ("pair", p.pair.is_some()),
                ] {
                    if set {
                        push(
                            k(f),
                            "is for binance or kraken; the json provider takes url",
                        );
                    }
                }
            } else {
                for (f, set) in [
                    ("url", p.url.is_some()),
                    ("pointer", p.pointer.is_some()),
                    ("invert", p.invert),
                ] {
                    if set {
                        push(k(f), "is for provider \"json\" only");
                    }
                }
                if let Some(u) = &p.base_url {
                    if !is_http_url(u) {
                        push(k("base_url"), "must be an http:// or https:// URL");
                    }
                }
                if p.provider == PriceProviderKind::Binance && p.pair.is_some() {
                    push(k("pair"), "is for kraken; binance takes symbol");
                }
                if p.provider == PriceProviderKind::Kraken && p.symbol.is_some() {
                    push(k("symbol"), "is for binance; kraken takes pair");
                }
            }
        }
        let mut network_coins = BTreeSet::new();
        for (i, n) in self.network.iter().enumerate() {
            let k = |f: &str| format!("profit.network[{i}].{f}");
            let Some(spec) = CoinSpec::lookup(&n.coin) else {
                push(k("coin"), &unknown(&n.coin));
                continue;
            };
            if !network_coins.insert(spec.symbol) {
                push(k("coin"), "has a network source already (one per coin)");
            }
            match n.provider {
                NetworkProviderKind::Daemon => {
                    let has_daemons = coins
                        .iter()
                        .any(|c| c.spec().symbol == spec.symbol && !c.daemons.is_empty());
                    if !has_daemons {
                        push(
                            k("provider"),
                            "daemon needs the coin's [[coins.daemons]]; use json for a coin without",
                        );
                    }
                    for (f, set) in [
                        ("url", n.url.is_some()),
                        ("difficulty_pointer", n.difficulty_pointer.is_some()),
                        ("reward_pointer", n.reward_pointer.is_some()),
                    ] {
                        if set {
                            push(k(f), "is for provider \"json\" only");
                        }
                    }
                }
                NetworkProviderKind::Json => {
                    match &n.url {
                        None => push(k("url"), "the json provider needs a url"),
                        Some(u) if !is_http_url(u) => {
                            push(k("url"), "must be an http:// or https:// URL")
                        }
                        Some(_) => {}
                    }
                    for (f, ptr) in [
                        ("difficulty_pointer", &n.difficulty_pointer),
                        ("reward_pointer", &n.reward_pointer),
                    ] {
                        match ptr {
                            None => push(k(f), "the json provider needs it (RFC 6901 pointer)"),
                            Some(p) if !is_pointer(p) => {
                                push(k(f), "must be empty or start with '/' (RFC 6901)")
                            }
                            Some(_) => {}
                        }
                    }
                }
            }
        }
        // Every covered coin needs a price (BTC's is 1) and network figures.
        for spec in self.coins(coins) {
            let priced = spec.symbol == "BTC"
                || self
                    .prices
                    .iter()
                    .any(|p| p.coin.eq_ignore_ascii_case(spec.symbol));
            if !priced {
                push(
                    "profit.prices".into(),
                    &format!(
                        "no price source for {0} (add [[profit.prices]] with coin = \"{0}\")",
                        spec.symbol
                    ),
                );
            }
            let has_network = network_coins.contains(spec.symbol)
                || coins
                    .iter()
                    .any(|c| c.spec().symbol == spec.symbol && !c.daemons.is_empty());
            if !has_network {
                push(
                    "profit.network".into(),
                    &format!(
                        "no network source for {0}: it has no [[coins.daemons]] (add [[profit.network]] with coin = \"{0}\", provider = \"json\")",
                        spec.symbol
                    ),
                );
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, ConfigError};

    const XMR_ADDR: &str = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A";

    fn xmr_coin() -> String {
        format!("[[coins]]\nsymbol = \"XMR\"\npool_address = \"{XMR_ADDR}\"\n[[coins.daemons]]\nurl = \"http://127.0.0.1:18081\"\n")
    }

    #[test]
    fn a_node_without_profit_has_no_monitor() {
        let c = Config::from_toml_str(&xmr_coin()).unwrap();
        assert_eq!(c.profit, None);
    }

    #[test]
    fn defaults_and_a_full_section_parse() {
        let c = Config::from_toml_str(&format!(
            "{}\n[profit]\n[[profit.prices]]\ncoin = \"XMR\"\nprovider = \"binance\"\n[[profit.prices]]\ncoin = \"XMR\"\nprovider = \"kraken\"\npair = \"XMRXBT\"\n[[profit.prices]]\ncoin = \"LTC\"\nprovider = \"json\"\nurl = \"http://127.0.0.1:1/p\"\npointer = \"/ltc/btc\"\ninvert = true\n[[profit.network]]\ncoin = \"LTC\"\nprovider = \"json\"\nurl = \"http://127.0.0.1:1/n\"\ndifficulty_pointer = \"/d\"\nreward_pointer = \"/r\"\n",
            xmr_coin()
        ))
        .unwrap();
        let p = c.profit.unwrap();
        assert_eq!(p.max_age.as_secs(), 300);
        assert_eq!(p.min_time.as_secs(), 600);
        assert_eq!(p.margin_percent, 5.0);
        assert_eq!(p.prices.len(), 3);
        let back = Config::from_toml_str(&Config::default().to_redacted_toml()).unwrap();
        assert_eq!(back.profit, None);
    }

    #[test]
    fn problems_name_their_keys() {
        let err = Config::from_toml_str(&format!(
            "{}\n[profit]\nmax_age = \"0s\"\nmargin_percent = -1.0\n[[profit.prices]]\ncoin = \"DOGE\"\nprovider = \"binance\"\n[[profit.prices]]\ncoin = \"XMR\"\nprovider = \"json\"\npointer = \"price\"\n[[profit.prices]]\ncoin = \"XMR\"\nprovider = \"kraken\"\nurl = \"http://x\"\n[[profit.prices]]\ncoin = \"BTC\"\nprovider = \"binance\"\n[[profit.network]]\ncoin = \"LTC\"\nprovider = \"daemon\"\n",
            xmr_coin()
        ))
        .unwrap_err();
        let ConfigError::Invalid(problems) = err else {
            panic!("{err}")
        };
        let keys: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        for want in [
            "profit.max_age: must be longer than zero",
            "profit.margin_percent: must be between 0 and 1000",
            "profit.prices[0].coin: unknown coin \"DOGE\"",
            "profit.prices[1].url: the json provider needs a url",
            "profit.prices[1].pointer: must be empty or start with '/'",
            "profit.prices[2].url: is for provider \"json\" only",
            "profit.prices[3].coin: BTC needs no price source",
            "profit.network[0].provider: daemon needs the coin's [[coins.daemons]]",
            "profit.prices: no price source for LTC",
        ] {
            assert!(
                keys.iter().any(|k| k.starts_with(want)),
                "{want} not in {keys:#?}"
            );
        }
    }

    #[test]
    fn a_coin_without_daemons_needs_a_network_source() {
        let err = Config::from_toml_str(
            "[profit]\n[[profit.prices]]\ncoin = \"LTC\"\nprovider = \"kraken\"\n",
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("profit.network: no network source for LTC"),
            "{err}"
        );
    }
}
