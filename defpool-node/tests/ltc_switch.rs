//! Profit switching on an `auto` port in the Bitcoin dialect, with real components:
//! two upstream DefPool nodes in pool mode on regtest litecoind (one mines LTC, the
//! other LTCB, a coin declared on Litecoin's rules), a proxy node whose `auto` port
//! may send miners to either, and a local price feed whose prices the test changes.
//! A test miner (real scrypt, cpuminer's protocol, no `mining.set_extranonce`) mines
//! through the proxy and keeps its extranonce1 across switches.

mod support;

use std::time::{Duration, Instant};

use defpool_core::pow::bitcoin::PowAlgorithm;
use serde_json::Value;
use support::btc_miner::BtcMiner;
use support::litecoin::{LitecoinPair, Litecoind, RPC_PASSWORD, RPC_USER};
use support::node::Node;
use support::pool::TOKEN;
use support::price_feed::PriceFeed;
use support::{free_port, wait_until};

/// The LTC upstream's port difficulty; regtest's network difficulty (about 2^-15 in
/// scrypt stratum units) caps what its sessions get.
const LTC_DIFFICULTY: f64 = 0.0015;
/// The LTCB upstream's port difficulty, below the cap.
const LTCB_DIFFICULTY: f64 = 0.00001;

async fn upstream(
    dir: &std::path::Path,
    ltc: &Litecoind,
    coin: &str,
    pool_address: &str,
    difficulty: f64,
) -> (Node, u16) {
    let (api, port) = (free_port(), free_port());
    std::fs::create_dir_all(dir).unwrap();
    let base = if coin == "LTC" { "" } else { "base = \"LTC\"" };
    let config = format!(
        r#"data_dir = "{data}"
[api]
listen = "127.0.0.1:{api}"
admin_token = "{TOKEN}"
[stratum]
block_poll_interval = "100ms"
ban_after_invalid_shares = 1000
[[coins]]
symbol = "{coin}"
{base}
network = "regtest"
mode = "pool"
pool_address = "{pool_address}"
  [[coins.daemons]]
  url = "{url}"
  user = "{RPC_USER}"
  password = "{RPC_PASSWORD}"
[[ports]]
listen = "127.0.0.1:{port}"
protocol = "sv1"
coin = "{coin}"
difficulty = {difficulty}
"#,
        data = dir.join("data").display(),
        url = ltc.url,
    );
    (Node::start(dir, &config, TOKEN, &[]).await, port)
}

fn proxy_config(
    dir: &std::path::Path,
    api: u16,
    port: u16,
    (ltc, ltcb): (u16, u16),
    login: &str,
    feed: &str,
) -> String {
    let coin = |symbol: &str, extra: &str, upstream: u16| {
        format!(
            r#"[[coins]]
symbol = "{symbol}"
{extra}
network = "regtest"
mode = "proxy"
scheme = "pps"
pool_address = "{login}"
  [[coins.upstreams]]
  url = "stratum+tcp://127.0.0.1:{upstream}"
  login = "{login}.proxy"
"#
        )
    };
    let network = |symbol: &str| {
        format!(
            "[[profit.network]]\ncoin = \"{symbol}\"\nprovider = \"json\"\nurl = \"{feed}/stats/{symbol}\"\ndifficulty_pointer = \"/network/difficulty\"\nreward_pointer = \"/network/reward\"\n"
        )
    };
    format!(
        r#"data_dir = "{data}"
[api]
listen = "127.0.0.1:{api}"
admin_token = "{TOKEN}"
[stratum]
ban_after_invalid_shares = 1000
[proxy]
credit_interval = "500ms"
[intervals]
profit_monitor = "500ms"
[profit]
max_age = "1m"
request_timeout = "2s"
margin_percent = 10.0
min_time = "3s"
[[profit.prices]]
coin = "LTC"
provider = "binance"
base_url = "{feed}"
[[profit.prices]]
coin = "LTCB"
provider = "binance"
base_url = "{feed}"
{ltc_net}{ltcb_net}
{ltc_coin}
{ltcb_coin}
[[ports]]
listen = "127.0.0.1:{port}"
protocol = "sv1"
coin = "auto"
coins = ["LTC", "LTCB"]
difficulty = 1
"#,
        data = dir.join("data").display(),
        ltc_net = network("LTC"),
        ltcb_net = network("LTCB"),
        ltc_coin = coin("LTC", "", ltc),
        ltcb_coin = coin("LTCB", "base = \"LTC\"", ltcb),
    )
}

fn error_code(r: &Value) -> i64 {
    r["error"][0].as_i64().unwrap_or(0)
}

/// Mines on the newest job until the proxy accepts a share; returns its answer.
async fn mine_one(miner: &mut BtcMiner, worker: &str) -> Value {
    loop {
        while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(20), miner.read()).await
        {
        }
        let difficulty = miner.difficulty;
        if let Some(share) = miner.find_share(difficulty, 20_000) {
            let r = miner.submit(worker, &share).await;
            // A share on a job a block just replaced is stale (21): mine on.
            if error_code(&r) != 21 {
                return r;
            }
        }
    }
}

/// Reads until the pool sets `difficulty` (and sends a job after it), for at most
/// `within`; false when it did not.
async fn difficulty_becomes(miner: &mut BtcMiner, difficulty: f64, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(Some(v)) = tokio::time::timeout(Duration::from_millis(200), miner.read()).await {
            if v["method"] == "mining.notify" && miner.difficulty == difficulty {
                return true;
            }
        }
    }
    false
}

/// Shares the proxy forwarded on `coin` that the upstream answered (accepted or, on
/// regtest where every share is a block, stale after another block).
fn answered(report: &Value, coin: &str) -> (u64, u64) {
    report["coins"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["coin"] == coin))
        .map_or((0, 0), |c| {
            (
                c["accepted"].as_u64().unwrap_or(0) + c["rejected"].as_u64().unwrap_or(0),
                c["lost"].as_u64().unwrap_or(0),
            )
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bitcoin_dialect_miners_switch_coins_keeping_their_extranonce_and_every_share_counts_once()
{
    let Some(pair) = LitecoinPair::start().await else {
        return;
    };
    let ltc = &pair.main;
    let pool_address = ltc.wallet_with_address("pool").await;
    let proxy_address = ltc.wallet_with_address("proxy").await;
    let miner_address = ltc.wallet_with_address("miners").await;
    ltc.generate(101, &pool_address).await;
    let dir = tempfile::tempdir().unwrap();
    let (_ltc_up, ltc_port) = upstream(
        &dir.path().join("ltc"),
        ltc,
        "LTC",
        &pool_address,
        LTC_DIFFICULTY,
    )
    .await;
    let (_ltcb_up, ltcb_port) = upstream(
        &dir.path().join("ltcb"),
        ltc,
        "LTCB",
        &pool_address,
        LTCB_DIFFICULTY,
    )
    .await;

    let feed = PriceFeed::start().await;
    feed.set_binance("LTCBTC", "0.001");
    feed.set_binance("LTCBBTC", "0.0003");
    feed.set_network("LTC", 1_000_000.0, 625_000_000);
    feed.set_network("LTCB", 1_000_000.0, 625_000_000);

    let (api, port) = (free_port(), free_port());
    let pdir = dir.path().join("proxy");
    std::fs::create_dir_all(&pdir).unwrap();
    let px = Node::start(
        &pdir,
        &proxy_config(
            &pdir,
            api,
            port,
            (ltc_port, ltcb_port),
            &proxy_address,
            &feed.url,
        ),
        TOKEN,
        &[],
    )
    .await;
    wait_until(
        "fresh profitability for both coins",
        Duration::from_secs(30),
        || async {
            let r = px.get("/api/v1/profitability").await;
            r["coins"]
                .as_array()
                .is_some_and(|c| c.len() == 2 && c.iter().all(|c| c["stale"] == false))
        },
    )
    .await;

    // LTC pays more: the miner starts there, at the LTC upstream's difficulty.
    let worker = format!("{miner_address}.rig1");
    let mut miner = BtcMiner::connect(&format!("127.0.0.1:{port}"), PowAlgorithm::Scrypt).await;
    miner.subscribe().await;
    let extranonce1 = miner.extranonce1.clone();
    assert_eq!(miner.authorize(&worker, "x").await["result"], true);
    miner.wait_for_job().await;
    let ltc_difficulty = miner.difficulty;
    assert!(
        ltc_difficulty > 3.0 * LTCB_DIFFICULTY && ltc_difficulty <= LTC_DIFFICULTY,
        "the LTC upstream's (capped) difficulty: {ltc_difficulty}"
    );
    let mut on_ltc = 0u64;
    for _ in 0..3 {
        let r = mine_one(&mut miner, &worker).await;
        assert_eq!(r["result"], true, "{r}");
        on_ltc += 1;
    }

    // LTCB 6.7 % better: inside the 10 % margin, the miner stays.
    feed.set_binance("LTCBBTC", "0.0010667");
    assert!(
        !difficulty_becomes(&mut miner, LTCB_DIFFICULTY, Duration::from_secs(5)).await,
        "switched inside the margin"
    );

    // LTCB twice LTC: a new difficulty and a clean job from the LTCB upstream, on
    // the same connection and with the same extranonce1.
    let ltc_job = miner.job.clone().unwrap();
    feed.set_binance("LTCBBTC", "0.002");
    assert!(
        difficulty_becomes(&mut miner, LTCB_DIFFICULTY, Duration::from_secs(15)).await,
        "no LTCB job after the price doubled (difficulty {}):\n{}",
        miner.difficulty,
        px.log()
    );
    let ltcb_job = miner.job.clone().unwrap();
    assert!(ltcb_job.clean_jobs, "a switch sends a clean job");
    assert_ne!(ltcb_job.coinb1, ltc_job.coinb1);
    assert_eq!(miner.extranonce1, extranonce1, "no set_extranonce needed");

    // A share on the last LTC job after the switch is still taken, for LTC.
    miner.job = Some(ltc_job);
    let late = miner
        .find_share(ltc_difficulty, 200_000)
        .expect("a share on the LTC job");
    miner.job = Some(ltcb_job);
    let r = miner.submit(&worker, &late).await;
    assert_eq!(r["result"], true, "late LTC share: {r}");
    on_ltc += 1;
    miner.difficulty = LTCB_DIFFICULTY;
    let mut on_ltcb = 0u64;
    for _ in 0..3 {
        let r = mine_one(&mut miner, &worker).await;
        assert_eq!(r["result"], true, "{r}");
        on_ltcb += 1;
    }

    let report = px.get("/api/v1/profitability").await;
    let switch = report["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["switched"] == true && d["from"] == "LTC" && d["to"] == "LTCB")
        .cloned()
        .unwrap_or_else(|| panic!("no LTC to LTCB decision: {report}"));
    assert!(
        switch["scope"].as_str().unwrap().contains("rig1"),
        "{switch}"
    );

    // Every share the proxy took was forwarded on the coin of its job and answered
    // there; none was lost.
    wait_until("upstream verdicts", Duration::from_secs(30), || async {
        let r = px.get("/api/v1/proxy").await;
        answered(&r, "LTC") == (on_ltc, 0) && answered(&r, "LTCB") == (on_ltcb, 0)
    })
    .await;
}
