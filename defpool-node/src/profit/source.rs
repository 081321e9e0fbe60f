//! Price and network-figure sources: Binance's and Kraken's public tickers, any JSON
//! API through an RFC 6901 pointer, and the coin daemons.
//!
//! Each source turns one HTTP or RPC answer into a [`Price`] or a [`NetworkStats`]
//! input, or into a [`SourceError`] that says what was wrong with it (unreachable,
//! HTTP status, not JSON, a missing field, an unusable value), so the monitor can log
//! and show it. Replies are parsed by pure functions, tested on the exchanges'
//! documented JSON.

use defpool_core::coin::Family;
use defpool_core::pow::bitcoin::{PowAlgorithm, Target};
use defpool_core::profit::{Price, PriceError};
use defpool_core::CoinSpec;
use serde_json::Value;

use super::config::{
    NetworkProviderKind, NetworkSourceConfig, PriceProviderKind, PriceSourceConfig, BINANCE_URL,
    KRAKEN_URL,
};
use crate::config::CoinConfig;
use crate::daemon::{BitcoinDaemon, MoneroDaemon, RpcError};

/// Largest reply read from a source: tickers are a few hundred bytes.
const MAX_BODY: usize = 1 << 20;

/// Why a source gave no usable value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SourceError {
    #[error("cannot reach {url}: {message}")]
    Unreachable { url: String, message: String },
    #[error("{url} answered HTTP {status}{}", detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Http {
        url: String,
        status: u16,
        detail: Option<String>,
    },
    #[error("{url} answered with something that is not JSON: {message}")]
    NotJson { url: String, message: String },
    #[error("{url} reported an error: {message}")]
    Remote { url: String, message: String },
    #[error("{url}: missing field {field}")]
    Missing { url: String, field: String },
    #[error("{url}: field {field} is unusable: {message}")]
    BadValue {
        url: String,
        field: String,
        message: String,
    },
    #[error("{0}")]
    Daemon(String),
}

impl From<RpcError> for SourceError {
    fn from(e: RpcError) -> Self {
        SourceError::Daemon(e.to_string())
    }
}

/// Where a coin's price comes from.
#[derive(Clone, Debug)]
pub enum PriceSource {
    /// `GET {base}/api/v3/ticker/price?symbol=XMRBTC` → `{"symbol":…,"price":"0.00291000"}`.
    Binance { base_url: String, symbol: String },
    /// `GET {base}/0/public/Ticker?pair=XMRXBT` → `{"error":[],"result":{"XXMRXXBT":{"c":["0.0029","1.0"],…}}}`.
    Kraken { base_url: String, pair: String },
    /// `GET url`, the value at `pointer` (a number or a numeric string).
    Json {
        url: String,
        pointer: String,
        invert: bool,
    },
}

impl PriceSource {
    pub fn from_config(c: &PriceSourceConfig) -> PriceSource {
        let coin = c.coin.to_ascii_uppercase();
        let base = |default: &str| {
            c.base_url
                .as_deref()
                .unwrap_or(default)
                .trim_end_matches('/')
                .to_string()
        };
        match c.provider {
            PriceProviderKind::Binance => PriceSource::Binance {
                base_url: base(BINANCE_URL),
                symbol: c.symbol.clone().unwrap_or_else(|| format!("{coin}BTC")),
            },
            PriceProviderKind::Kraken => PriceSource::Kraken {
                base_url: base(KRAKEN_URL),
                pair: c.pair.clone().unwrap_or_else(|| format!("{coin}XBT")),
            },
            PriceProviderKind::Json => PriceSource::Json {
                url: c.url.clone().unwrap_or_default(),
                pointer: c.pointer.clone().unwrap_or_default(),
                invert: c.invert,
            },
        }
    }

    /// Its name in the API, logs and quotes.
    pub fn name(&self) -> String {
        match self {
            PriceSource::Binance { .. } => "binance".into(),
            PriceSource::Kraken { .. } => "kraken".into(),
            PriceSource::Json { url, .. } => format!("json:{url}"),
        }
    }

    pub fn url(&self) -> String {
        match self {
            PriceSource::Binance { base_url, symbol } => {
                format!("{base_url}/api/v3/ticker/price?symbol={symbol}")
            }
            PriceSource::Kraken { base_url, pair } => {
                format!("{base_url}/0/public/Ticker?pair={pair}")
            }
            PriceSource::Json { url, .. } => url.clone(),
        }
    }

    /// Asks the source for the price in BTC.
    pub async fn fetch(&self, http: &reqwest::Client) -> Result<Price, SourceError> {
        let url = self.url();
        let body = get_json(http, &url).await?;
        match self {
            PriceSource::Binance { .. } => parse_binance(&url, &body),
            PriceSource::Kraken { .. } => parse_kraken(&url, &body),
            PriceSource::Json {
                pointer, invert, ..
            } => parse_pointer_price(&url, &body, pointer, *invert),
        }
    }
}

/// Binance `ticker/price`: the `price` string.
pub fn parse_binance(url: &str, body: &Value) -> Result<Price, SourceError> {
    if let Some(msg) = body.get("msg").and_then(Value::as_str) {
        return Err(SourceError::Remote {
            url: url.into(),
            message: msg.into(),
        });
    }
    let price = body.get("price").ok_or_else(|| SourceError::Missing {
        url: url.into(),
        field: "price".into(),
    })?;
    price_value(url, "price", price)
}

/// Kraken `Ticker`: the last trade price `c[0]` of the only entry of `result` (Kraken
/// answers under its own name for the pair, `XXMRXXBT` for `XMRXBT`).
pub fn parse_kraken(url: &str, body: &Value) -> Result<Price, SourceError> {
    let errors: Vec<String> = body
        .get("error")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|e| e.as_str().unwrap_or("?").to_string())
                .collect()
        })
        .unwrap_or_default();
    if !errors.is_empty() {
        return Err(SourceError::Remote {
            url: url.into(),
            message: errors.join("; "),
        });
    }
    let result = body
        .get("result")
        .and_then(Value::as_object)
        .ok_or_else(|| SourceError::Missing {
            url: url.into(),
            field: "result".into(),
        })?;
    let mut entries = result.iter();
    let (key, ticker) = match (entries.next(), entries.next()) {
        (Some(only), None) => only,
        (None, _) => {
            return Err(SourceError::Missing {
                url: url.into(),
                field: "result.<pair>".into(),
            })
        }
        (Some(_), Some(_)) => {
            return Err(SourceError::BadValue {
                url: url.into(),
                field: "result".into(),
                message: format!("{} pairs where one was asked for", result.len()),
            })
        }
    };
    let field = format!("result.{key}.c[0]");
    let last = ticker
        .get("c")
        .and_then(|c| c.get(0))
        .ok_or_else(|| SourceError::Missing {
            url: url.into(),
            field: field.clone(),
        })?;
    price_value(url, &field, last)
}

/// The price at `pointer`, inverted when the source quotes coins per BTC.
pub fn parse_pointer_price(
    url: &str,
    body: &Value,
    pointer: &str,
    invert: bool,
) -> Result<Price, SourceError> {
    let v = body.pointer(pointer).ok_or_else(|| SourceError::Missing {
        url: url.into(),
        field: pointer.into(),
    })?;
    let p = price_value(url, pointer, v)?;
    if invert {
        p.inverse().map_err(|e| bad(url, pointer, e))
    } else {
        Ok(p)
    }
}

fn bad(url: &str, field: &str, e: impl ToString) -> SourceError {
    SourceError::BadValue {
        url: url.into(),
        field: field.into(),
        message: e.to_string(),
    }
}

/// A price from a JSON string (exact) or number.
fn price_value(url: &str, field: &str, v: &Value) -> Result<Price, SourceError> {
    let r = match v {
        Value::String(s) => Price::from_decimal(s),
        // A JSON number's own text, so "0.00291" stays exact.
        Value::Number(n) => Price::from_decimal(&n.to_string()),
        other => Err(PriceError::NotANumber(other.to_string())),
    };
    r.map_err(|e| bad(url, field, e))
}

/// A float from a JSON number or numeric string.
fn number_value(url: &str, field: &str, v: &Value) -> Result<f64, SourceError> {
    let f = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match f {
        Some(f) if f.is_finite() && f > 0.0 => Ok(f),
        _ => Err(bad(url, field, format!("{v} is not a positive number"))),
    }
}

/// An atomic amount from a JSON integer, integral float or numeric string.
fn atomic_value(url: &str, field: &str, v: &Value) -> Result<u64, SourceError> {
    let n = match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < u64::MAX as f64)
                .map(|f| f as u64)
        }),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    n.ok_or_else(|| {
        bad(
            url,
            field,
            format!("{v} is not a whole number of atomic units"),
        )
    })
}

/// GETs `url` and parses its body as JSON, mapping every failure to what it was.
async fn get_json(http: &reqwest::Client, url: &str) -> Result<Value, SourceError> {
    let unreachable = |e: reqwest::Error| SourceError::Unreachable {
        url: url.into(),
        // The URL is in the message already.
        message: describe(&e.without_url()),
    };
    let resp = http.get(url).send().await.map_err(unreachable)?;
    let status = resp.status();
    let body = resp.bytes().await.map_err(unreachable)?;
    let body = &body[..body.len().min(MAX_BODY)];
    if !status.is_success() {
        // Exchanges explain refusals in JSON (`{"code":-1121,"msg":"Invalid symbol."}`).
        let detail = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| {
                v.get("msg")
                    .or_else(|| v.get("error"))
                    .or_else(|| v.get("message"))
                    .map(|m| m.to_string())
            })
            .or_else(|| snippet(body));
        return Err(SourceError::Http {
            url: url.into(),
            status: status.as_u16(),
            detail,
        });
    }
    serde_json::from_slice(body).map_err(|e| SourceError::NotJson {
        url: url.into(),
        message: match snippet(body) {
            Some(s) => format!("{e} (starts {s:?})"),
            None => e.to_string(),
        },
    })
}

/// The start of a body, printable, for error messages.
fn snippet(body: &[u8]) -> Option<String> {
    let text: String = String::from_utf8_lossy(&body[..body.len().min(80)])
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let text = text.trim().to_string();
    (!text.is_empty()).then_some(text)
}

/// reqwest's error with its causes ("error sending request: … connection refused").
fn describe(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "timed out".to_string()
    } else {
        e.to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Where a coin's network difficulty and block reward come from.
pub enum NetworkSource {
    /// monerod: `get_info` (difficulty) and `get_last_block_header` (reward); the
    /// first daemon that answers.
    Monero(Vec<MoneroDaemon>),
    /// bitcoind / litecoind: `getblocktemplate`'s `target` and `coinbasevalue` (the
    /// next block's reward with its fees), as the pool's jobs use them.
    Bitcoin(&'static CoinSpec, Vec<BitcoinDaemon>),
    Json {
        url: String,
        difficulty_pointer: String,
        reward_pointer: String,
    },
}

impl NetworkSource {
    /// The source for `coin`: its `[[profit.network]]` entry, else its daemons.
    pub fn for_coin(
        spec: &'static CoinSpec,
        coin: Option<&CoinConfig>,
        entry: Option<&NetworkSourceConfig>,
    ) -> Result<Option<NetworkSource>, RpcError> {
        if let Some(n) = entry {
            if n.provider == NetworkProviderKind::Json {
                return Ok(Some(NetworkSource::Json {
                    url: n.url.clone().unwrap_or_default(),
                    difficulty_pointer: n.difficulty_pointer.clone().unwrap_or_default(),
                    reward_pointer: n.reward_pointer.clone().unwrap_or_default(),
                }));
            }
        }
        let Some(coin) = coin.filter(|c| !c.daemons.is_empty()) else {
            return Ok(None);
        };
        Ok(Some(match spec.family {
            Family::Monero => NetworkSource::Monero(
                coin.daemons
                    .iter()
                    .map(|d| MoneroDaemon::new(&d.url))
                    .collect::<Result<_, _>>()?,
            ),
            Family::Bitcoin => NetworkSource::Bitcoin(
                spec,
                coin.daemons
                    .iter()
                    .map(|d| match &d.cookie_file {
                        Some(cookie) => BitcoinDaemon::with_cookie_file(&d.url, cookie),
                        None => BitcoinDaemon::new(&d.url, &d.user, &d.password),
                    })
                    .collect::<Result<_, _>>()?,
            ),
        }))
    }

    pub fn name(&self) -> String {
        match self {
            NetworkSource::Monero(_) | NetworkSource::Bitcoin(..) => "daemon".into(),
            NetworkSource::Json { url, .. } => format!("json:{url}"),
        }
    }

    /// The network difficulty (share-difficulty units) and the block reward (atomic).
    pub async fn fetch(&self, http: &reqwest::Client) -> Result<(f64, u64), SourceError> {
        match self {
            NetworkSource::Monero(daemons) => {
                let mut last = SourceError::Daemon("no daemon configured".into());
                for d in daemons {
                    let attempt = async {
                        let info = d.get_info().await?;
                        let header = d.last_block_header().await?;
                        Ok::<_, RpcError>((info.difficulty, header.reward))
                    };
                    match attempt.await {
                        Ok((difficulty, reward)) if difficulty > 0 => {
                            return Ok((difficulty as f64, reward))
                        }
                        Ok(_) => {
                            last = SourceError::Daemon(format!(
                                "{} reports difficulty 0 (still syncing?)",
                                d.url()
                            ))
                        }
                        Err(e) => last = e.into(),
                    }
                }
                Err(last)
            }
            NetworkSource::Bitcoin(spec, daemons) => {
                let mut last = SourceError::Daemon("no daemon configured".into());
                for d in daemons {
                    match d.block_template(spec).await {
                        Ok(t) => return parse_template(spec, d.url(), &t),
                        Err(e) => last = e.into(),
                    }
                }
                Err(last)
            }
            NetworkSource::Json {
                url,
                difficulty_pointer,
                reward_pointer,
            } => {
                let body = get_json(http, url).await?;
                parse_pointer_network(url, &body, difficulty_pointer, reward_pointer)
            }
        }
    }
}

/// Difficulty and reward from a `getblocktemplate` answer.
pub fn parse_template(spec: &CoinSpec, url: &str, t: &Value) -> Result<(f64, u64), SourceError> {
    let algorithm = PowAlgorithm::try_from(spec.algorithm)
        .map_err(|e| bad(url, "getblocktemplate", format!("{e:?}")))?;
    let target = t
        .get("target")
        .and_then(Value::as_str)
        .ok_or_else(|| SourceError::Missing {
            url: url.into(),
            field: "getblocktemplate.target".into(),
        })?;
    let target = Target::from_hex(target).map_err(|e| bad(url, "getblocktemplate.target", e))?;
    let difficulty = algorithm.difficulty_of_target(&target);
    if !(difficulty.is_finite() && difficulty > 0.0) {
        return Err(bad(
            url,
            "getblocktemplate.target",
            "target gives no difficulty",
        ));
    }
    let reward = t
        .get("coinbasevalue")
        .ok_or_else(|| SourceError::Missing {
            url: url.into(),
            field: "getblocktemplate.coinbasevalue".into(),
        })
        .and_then(|v| atomic_value(url, "getblocktemplate.coinbasevalue", v))?;
    Ok((difficulty, reward))
}

/// Difficulty and reward from a JSON document at two pointers.
pub fn parse_pointer_network(
    url: &str,
    body: &Value,
    difficulty_pointer: &str,
    reward_pointer: &str,
) -> Result<(f64, u64), SourceError> {
    let get = |p: &str| {
        body.pointer(p).ok_or_else(|| SourceError::Missing {
            url: url.into(),
            field: p.into(),
        })
    };
    let difficulty = number_value(url, difficulty_pointer, get(difficulty_pointer)?)?;
    let reward = atomic_value(url, reward_pointer, get(reward_pointer)?)?;
    Ok((difficulty, reward))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const URL: &str = "http://feed";

    fn p(s: &str) -> Price {
        Price::from_decimal(s).unwrap()
    }

    #[test]
    fn binance_ticker_price_is_read_exactly() {
        let body = json!({"symbol":"XMRBTC","price":"0.00291000"});
        assert_eq!(parse_binance(URL, &body).unwrap(), p("0.00291"));
        let refused = json!({"code":-1121,"msg":"Invalid symbol."});
        assert!(matches!(
            parse_binance(URL, &refused),
            Err(SourceError::Remote { message, .. }) if message == "Invalid symbol."
        ));
        let missing = json!({"symbol":"XMRBTC"});
        let e = parse_binance(URL, &missing).unwrap_err();
        assert_eq!(e.to_string(), "http://feed: missing field price");
        let garbage = json!({"symbol":"XMRBTC","price":"n/a"});
        assert!(matches!(
            parse_binance(URL, &garbage),
            Err(SourceError::BadValue { .. })
        ));
    }

    #[test]
    fn kraken_last_trade_is_read_from_the_only_result() {
        let body = json!({"error":[],"result":{"XXMRXXBT":{
            "a":["0.00291000","12","12.000"],"b":["0.00289000","3","3.000"],
            "c":["0.00290000","1.0"],"v":["100","200"]}}});
        assert_eq!(parse_kraken(URL, &body).unwrap(), p("0.0029"));
        let err = json!({"error":["EQuery:Unknown asset pair"]});
        assert_eq!(
            parse_kraken(URL, &err).unwrap_err().to_string(),
            "http://feed reported an error: EQuery:Unknown asset pair"
        );
        let no_c = json!({"error":[],"result":{"XXMRXXBT":{"a":["1","1","1"]}}});
        assert_eq!(
            parse_kraken(URL, &no_c).unwrap_err().to_string(),
            "http://feed: missing field result.XXMRXXBT.c[0]"
        );
        let two = json!({"error":[],"result":{"A":{"c":["1"]},"B":{"c":["2"]}}});
        assert!(parse_kraken(URL, &two).is_err());
    }

    #[test]
    fn json_pointer_reads_numbers_strings_and_inverts() {
        let body = json!({"data":{"price": 0.00291, "per_btc": "400"}});
        assert_eq!(
            parse_pointer_price(URL, &body, "/data/price", false).unwrap(),
            p("0.00291")
        );
        assert_eq!(
            parse_pointer_price(URL, &body, "/data/per_btc", true).unwrap(),
            p("0.0025")
        );
        assert!(matches!(
            parse_pointer_price(URL, &body, "/data/nope", false),
            Err(SourceError::Missing { .. })
        ));
        assert!(parse_pointer_price(URL, &json!({"p": null}), "/p", false).is_err());
        assert!(parse_pointer_price(URL, &json!({"p": 0}), "/p", false).is_err());
    }

    #[test]
    fn network_figures_from_pointers_and_templates() {
        let body = json!({"network":{"difficulty":"350000000000","reward":600000000000u64}});
        assert_eq!(
            parse_pointer_network(URL, &body, "/network/difficulty", "/network/reward").unwrap(),
            (350e9, 600_000_000_000)
        );
        assert!(parse_pointer_network(URL, &body, "/network/difficulty", "/x").is_err());
        let bad_reward = json!({"d": 1.0, "r": 1.5});
        assert!(parse_pointer_network(URL, &bad_reward, "/d", "/r").is_err());
        // Regtest's highest target: scrypt share difficulty 2^16 × sha256d's.
        let t = json!({
            "target": "7fffff0000000000000000000000000000000000000000000000000000000000",
            "coinbasevalue": 5_000_000_000u64
        });
        let (d, r) = parse_template(&defpool_core::coin::LTC, URL, &t).unwrap();
        assert_eq!(r, 5_000_000_000);
        let sha = parse_template(&defpool_core::coin::BTC, URL, &t).unwrap().0;
        assert!((d / sha - 65_536.0).abs() < 1e-6, "{d} {sha}");
    }
}
