//! The profit monitor of the real node binary against a local price feed speaking
//! Binance's and Kraken's ticker JSON (prices changed by the test while the node
//! polls), a price source that is down, and a real regtest monerod for Monero's
//! network figures: `GET /api/v1/profitability` and the live stream follow the
//! prices; bad replies are logged once each with what was wrong; a coin whose sources
//! all fail turns stale after `max_age` and the node keeps running.

mod support;

use std::time::{Duration, Instant};

use defpool_core::stream::{Event, ProfitabilityView, StreamMessage};
use futures_util::StreamExt;
use serde_json::Value;
use support::free_port;
use support::monero::Monerod;
use support::node::Node;
use support::pool::{MINER_B, TOKEN};
use support::price_feed::{PriceFeed, Reply};
use support::wait_until;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Seconds after which the test's profitability data is stale.
const MAX_AGE_SECS: u64 = 3;
/// LTC's network as the feed's stats endpoint gives it (share-difficulty units).
const LTC_DIFFICULTY: f64 = 65_536.0e6;
const LTC_REWARD: u64 = 625_000_000;

fn config(dir: &std::path::Path, api: u16, monerod: &str, feed: &str, down: u16) -> String {
    format!(
        r#"data_dir = "{data}"
[api]
listen = "127.0.0.1:{api}"
admin_token = "{TOKEN}"
[intervals]
profit_monitor = "500ms"
[[coins]]
symbol = "XMR"
network = "regtest"
pool_address = "{MINER_B}"
  [[coins.daemons]]
  url = "{monerod}"
[profit]
max_age = "{MAX_AGE_SECS}s"
request_timeout = "2s"
margin_percent = 5.0
min_time = "10m"
# Preferred, but nothing listens there.
[[profit.prices]]
coin = "XMR"
provider = "kraken"
base_url = "http://127.0.0.1:{down}"
[[profit.prices]]
coin = "XMR"
provider = "binance"
base_url = "{feed}"
[[profit.prices]]
coin = "LTC"
provider = "kraken"
base_url = "{feed}"
[[profit.network]]
coin = "LTC"
provider = "json"
url = "{feed}/stats/LTC"
difficulty_pointer = "/network/difficulty"
reward_pointer = "/network/reward"
"#,
        data = dir.join("data").display(),
    )
}

async fn connect(api: u16) -> Ws {
    let mut request = format!("ws://127.0.0.1:{api}/api/v1/stream")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("Authorization", format!("Bearer {TOKEN}").parse().unwrap());
    tokio_tungstenite::connect_async(request)
        .await
        .expect("stream connects")
        .0
}

async fn next(ws: &mut Ws) -> StreamMessage {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("a stream message within 20 s")
            .expect("stream open")
            .expect("frame");
        if let tokio_tungstenite::tungstenite::Message::Text(t) = frame {
            return serde_json::from_str(&t).expect("stream message parses");
        }
    }
}

/// Reads the stream until a `profitability` event satisfies `pred`; returns its table.
async fn until_table(
    ws: &mut Ws,
    what: &str,
    mut pred: impl FnMut(&[ProfitabilityView]) -> bool,
) -> Vec<ProfitabilityView> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        assert!(
            Instant::now() < deadline,
            "no profitability event with {what}"
        );
        if let StreamMessage::Event(e) = next(ws).await {
            if let Event::Profitability { coins } = e.event {
                if pred(&coins) {
                    return coins;
                }
            }
        }
    }
}

fn row<'a>(report: &'a Value, coin: &str) -> &'a Value {
    report["coins"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["coin"] == coin))
        .unwrap_or_else(|| panic!("no {coin} row in {report}"))
}

fn view<'a>(table: &'a [ProfitabilityView], coin: &str) -> &'a ProfitabilityView {
    table
        .iter()
        .find(|v| v.coin == coin)
        .expect("coin in table")
}

fn errors_of(report: &Value, coin: &str) -> String {
    row(report, coin)["errors"].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profitability_follows_prices_and_survives_bad_and_dead_sources() {
    if !support::have_program("monerod") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let monerod = Monerod::start(dir.path(), 1).await;
    let feed = PriceFeed::start().await;
    feed.set_binance("XMRBTC", "0.00300000");
    feed.set_kraken("LTCXBT", "0.00120000");
    feed.set_network("LTC", LTC_DIFFICULTY, LTC_REWARD);
    let api = free_port();
    let down = free_port();
    let node = Node::start(
        dir.path(),
        &config(dir.path(), api, &monerod.url, &feed.url, down),
        TOKEN,
        &[],
    )
    .await;
    let mut ws = connect(api).await;
    match next(&mut ws).await {
        StreamMessage::Snapshot(_) => {}
        other => panic!("first message is not a snapshot: {other:?}"),
    }

    // Both coins priced: XMR by Binance (Kraken is down), LTC by Kraken; Monero's
    // network from monerod, Litecoin's from the JSON stats endpoint.
    wait_until("both coins fresh", Duration::from_secs(20), || async {
        let r = node.get("/api/v1/profitability").await;
        row(&r, "XMR")["stale"] == false && row(&r, "LTC")["stale"] == false
    })
    .await;
    let report = node.get("/api/v1/profitability").await;
    assert_eq!(report["enabled"], true);
    assert_eq!(report["max_age_secs"], MAX_AGE_SECS);
    assert_eq!(report["margin_percent"], 5.0);
    assert_eq!(report["min_time_secs"], 600);
    let xmr = row(&report, "XMR");
    assert_eq!(xmr["algorithm"], "randomx");
    assert_eq!(xmr["price"]["btc"], "0.003");
    assert_eq!(xmr["price"]["source"], "binance");
    assert_eq!(xmr["network"]["source"], "daemon");
    let info = monerod.rpc("get_info", serde_json::json!({})).await;
    let header = monerod
        .rpc("get_last_block_header", serde_json::json!({}))
        .await;
    let difficulty = info["difficulty"].as_f64().unwrap();
    let reward = header["block_header"]["reward"].as_u64().unwrap();
    assert_eq!(xmr["network"]["difficulty"].as_f64(), Some(difficulty));
    assert_eq!(xmr["network"]["reward"]["coin"], "XMR");
    assert_eq!(xmr["network"]["reward"]["atomic"], reward.to_string());
    let xmr_revenue = |price: f64| 86_400.0 / difficulty * (reward as f64 / 1e12) * price;
    let got = xmr["revenue_per_hash_day_btc"].as_f64().unwrap();
    assert!((got / xmr_revenue(0.003) - 1.0).abs() < 1e-9, "{got}");
    assert!(
        errors_of(&report, "XMR").contains("cannot reach"),
        "the down Kraken source is reported: {}",
        errors_of(&report, "XMR")
    );
    let ltc = row(&report, "LTC");
    assert_eq!(ltc["price"]["btc"], "0.0012");
    assert_eq!(ltc["price"]["source"], "kraken");
    assert_eq!(
        ltc["network"]["source"],
        format!("json:{}/stats/LTC", feed.url)
    );
    assert_eq!(ltc["network"]["difficulty"].as_f64(), Some(LTC_DIFFICULTY));
    assert_eq!(ltc["network"]["reward"]["atomic"], LTC_REWARD.to_string());
    // scrypt: one share-difficulty unit is 2^16 hashes.
    let ltc_expected = 86_400.0 / (LTC_DIFFICULTY * 65_536.0) * 6.25 * 0.0012;
    let got = ltc["revenue_per_hash_day_btc"].as_f64().unwrap();
    assert!((got / ltc_expected - 1.0).abs() < 1e-9, "{got}");
    assert_eq!(
        report["decisions"].as_array().map(Vec::len),
        Some(0),
        "no router has decided anything yet"
    );

    // A price change reaches the API and the stream.
    feed.set_binance("XMRBTC", "0.006");
    wait_until("the new XMR price", Duration::from_secs(10), || async {
        row(&node.get("/api/v1/profitability").await, "XMR")["price"]["btc"] == "0.006"
    })
    .await;
    let table = until_table(&mut ws, "XMR at 0.006", |t| {
        let v = view(t, "XMR").revenue_per_hash_day;
        (v / (xmr_revenue(0.006) * 1e8) - 1.0).abs() < 1e-9
    })
    .await;
    assert!(view(&table, "LTC").revenue_per_hash_day > 0.0);

    // Bad replies: each is kept on the source and logged once, saying what was wrong.
    for (reply, said) in [
        (Reply::ServerError, "answered HTTP 500"),
        (Reply::Garbage, "is not JSON"),
        (Reply::MissingField, "missing field price"),
    ] {
        feed.binance_replies(reply);
        wait_until(said, Duration::from_secs(10), || async {
            errors_of(&node.get("/api/v1/profitability").await, "XMR").contains(said)
        })
        .await;
        node.wait_for_log(said, Duration::from_secs(5)).await;
    }
    // With both its sources failing XMR turns stale after max_age: no revenue, never
    // used; the stream says so; LTC is untouched and the node keeps serving.
    wait_until("XMR stale", Duration::from_secs(15), || async {
        row(&node.get("/api/v1/profitability").await, "XMR")["stale"] == true
    })
    .await;
    let report = node.get("/api/v1/profitability").await;
    let xmr = row(&report, "XMR");
    assert!(xmr["revenue_per_hash_day_btc"].is_null());
    assert_eq!(
        xmr["price"]["btc"], "0.006",
        "the last good price is still shown"
    );
    assert!(xmr["price"]["age_secs"].as_u64().unwrap() > MAX_AGE_SECS);
    assert_eq!(row(&report, "LTC")["stale"], false);
    let table = until_table(&mut ws, "XMR stale", |t| {
        view(t, "XMR").revenue_per_hash_day == 0.0
    })
    .await;
    assert!(view(&table, "XMR")
        .reason
        .as_deref()
        .is_some_and(|r| r.contains("stale")));
    let log = node.log();
    assert!(log.contains("profitability data is stale"), "{log}");
    // Logged on change, not on every tick (the node polled many times meanwhile).
    for said in ["answered HTTP 500", "is not JSON", "missing field price"] {
        assert_eq!(log.matches(said).count(), 1, "{said} logged once:\n{log}");
    }
    assert_eq!(
        log.lines()
            .filter(|l| l.contains("profit source failed") && l.contains(&format!(":{down}")))
            .count(),
        1,
        "the down source is logged once:\n{log}"
    );
    let (status, _) = node.request("GET", "/api/v1/health", None, None).await;
    assert_eq!(status, 200);

    // Binance recovers: XMR is fresh again at its price.
    feed.binance_replies(Reply::Ok);
    wait_until("XMR fresh again", Duration::from_secs(10), || async {
        row(&node.get("/api/v1/profitability").await, "XMR")["stale"] == false
    })
    .await;
    node.wait_for_log("profit source answers again", Duration::from_secs(5))
        .await;

    // The whole feed goes away: LTC's price and network turn stale too, and the node
    // still runs and answers.
    let hits = feed.hits("kraken");
    assert!(
        hits > 3,
        "the feed was polled on the interval ({hits} Kraken calls)"
    );
    feed.shut_down();
    wait_until("everything stale", Duration::from_secs(15), || async {
        let r = node.get("/api/v1/profitability").await;
        row(&r, "XMR")["stale"] == true && row(&r, "LTC")["stale"] == true
    })
    .await;
    let report = node.get("/api/v1/profitability").await;
    assert!(
        errors_of(&report, "LTC").contains("cannot reach"),
        "{}",
        errors_of(&report, "LTC")
    );
    let (status, _) = node.request("GET", "/api/v1/health", None, None).await;
    assert_eq!(status, 200);
    // The endpoint is public and documented.
    let (status, _) = node
        .request("GET", "/api/v1/profitability", None, None)
        .await;
    assert_eq!(status, 200);
    let doc = node.get("/api/v1/openapi.json").await;
    assert!(doc["paths"]["/api/v1/profitability"]["get"].is_object());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_without_profit_section_reports_it_disabled() {
    let dir = tempfile::tempdir().unwrap();
    let api = free_port();
    let config = format!(
        "data_dir = \"{}\"\n[api]\nlisten = \"127.0.0.1:{api}\"\nadmin_token = \"{TOKEN}\"\n",
        dir.path().join("data").display()
    );
    let node = Node::start(dir.path(), &config, TOKEN, &[]).await;
    let report = node.get("/api/v1/profitability").await;
    assert_eq!(report["enabled"], false);
    assert_eq!(report["coins"], serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_profit_section_stops_the_start_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let api = free_port();
    let config = format!(
        "data_dir = \"{}\"\n[api]\nlisten = \"127.0.0.1:{api}\"\n[profit]\n[[profit.prices]]\ncoin = \"XMR\"\nprovider = \"json\"\nurl = \"ftp://x\"\npointer = \"/p\"\n",
        dir.path().join("data").display()
    );
    let path = dir.path().join("defpool.toml");
    std::fs::write(&path, config).unwrap();
    let out = std::process::Command::new(support::node::node_bin())
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("profit.prices[0].url: must be an http:// or https:// URL"),
        "{err}"
    );
    assert!(
        err.contains("profit.network: no network source for XMR"),
        "{err}"
    );
}
