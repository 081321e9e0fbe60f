//! Profit switching on an `auto` port, with real components: two upstream DefPool
//! nodes in pool mode on a regtest monerod (one mines XMR, the other ZEPH, a coin
//! declared on Monero's rules), a proxy node whose `auto` port may send miners to
//! either, and a local price feed whose prices the test changes. A test miner (real
//! RandomX, xmrig's protocol) mines through the proxy.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::monero::Monerod;
use support::node::Node;
use support::pool::{walletless_stratum_config, MINER_B, TOKEN};
use support::price_feed::PriceFeed;
use support::xmr_miner::{error_message, XmrMiner};
use support::{free_port, have_program, wait_until};

const MINER: &str = "42ey1afDFnn4886T7196doS9GPMzexD9gXpsZJDwVjeRVdFCSoHnv7KPbBeGpzJBzHRCAs9UxqeoyFQMYbqSWYTfJJQAWDm";
/// Network figures the feed reports for both coins: the same, so the price decides.
const NETWORK_DIFFICULTY: f64 = 1_000_000.0;
const REWARD: u64 = 600_000_000_000;

/// An upstream node in pool mode on `monerod` for `coin` (`XMR`, or `ZEPH` declared
/// on Monero's rules), its port at `difficulty`.
async fn upstream(
    dir: &std::path::Path,
    monerod: &Monerod,
    coin: &str,
    difficulty: u64,
) -> (Node, u16) {
    let (api, port) = (free_port(), free_port());
    let mut config = walletless_stratum_config(dir, api, port, &[&monerod.url], "", "")
        .replace("difficulty = 1\n", &format!("difficulty = {difficulty}\n"));
    if coin != "XMR" {
        config = config
            .replace(
                "symbol = \"XMR\"",
                &format!("symbol = \"{coin}\"\nbase = \"XMR\""),
            )
            .replace("coin = \"XMR\"", &format!("coin = \"{coin}\""));
    }
    std::fs::create_dir_all(dir).unwrap();
    (Node::start(dir, &config, TOKEN, &[]).await, port)
}

fn proxy_config(
    dir: &std::path::Path,
    api: u16,
    port: u16,
    xmr: u16,
    zeph: u16,
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
pool_address = "{MINER_B}"
  [[coins.upstreams]]
  url = "stratum+tcp://127.0.0.1:{upstream}"
  login = "{MINER_B}"
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
verify_threads = 1
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
coin = "XMR"
provider = "binance"
base_url = "{feed}"
[[profit.prices]]
coin = "ZEPH"
provider = "binance"
base_url = "{feed}"
{xmr_net}{zeph_net}
{xmr_coin}
{zeph_coin}
[[ports]]
listen = "127.0.0.1:{port}"
protocol = "sv1"
coin = "auto"
coins = ["XMR", "ZEPH"]
difficulty = 1
"#,
        data = dir.join("data").display(),
        xmr_net = network("XMR"),
        zeph_net = network("ZEPH"),
        xmr_coin = coin("XMR", "", xmr),
        zeph_coin = coin("ZEPH", "base = \"XMR\"", zeph),
    )
}

/// Mines on the current job until the proxy accepts one share.
async fn mine_one(miner: &mut XmrMiner) -> Value {
    loop {
        if let Some(share) = miner.find_share(None, 200) {
            return miner.submit(&share).await;
        }
        let _ = tokio::time::timeout(Duration::from_millis(10), miner.read()).await;
    }
}

/// The difficulty a job asks for (its compact target).
fn job_difficulty(job: &Value) -> u64 {
    defpool_core::pow::difficulty_from_job_target(job["target"].as_str().unwrap()).unwrap()
}

/// Waits up to `within` for a job notification whose difficulty is `difficulty`;
/// `None` when none came.
async fn job_at(miner: &mut XmrMiner, difficulty: u64, within: Duration) -> Option<Value> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(Some(v)) = tokio::time::timeout(Duration::from_millis(200), miner.read()).await {
            if v["method"] == "job" && job_difficulty(&v["params"]) == difficulty {
                return Some(v["params"].clone());
            }
        }
    }
    None
}

async fn upstream_shares(node: &Node) -> u64 {
    let (status, body) = node
        .request("GET", &format!("/api/v1/miners/{MINER_B}"), None, None)
        .await;
    if status != 200 {
        return 0;
    }
    let view = if body.is_array() {
        body[0].clone()
    } else {
        body
    };
    view["valid_shares"].as_u64().unwrap_or(0)
}

fn accepted_upstream(report: &Value, coin: &str) -> u64 {
    report["coins"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["coin"] == coin))
        .map_or(0, |c| c["accepted"].as_u64().unwrap_or(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn miners_follow_the_better_coin_past_the_margin_and_minimum_time_and_every_share_counts_once(
) {
    if !have_program("monerod") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // No blocks: every share stays a share.
    let monerod = Monerod::start(dir.path(), 1_000_000_000).await;
    let (xmr_up, xmr_port) = upstream(&dir.path().join("xmr"), &monerod, "XMR", 1).await;
    let (zeph_up, zeph_port) = upstream(&dir.path().join("zeph"), &monerod, "ZEPH", 2).await;

    let feed = PriceFeed::start().await;
    feed.set_binance("XMRBTC", "0.003");
    feed.set_binance("ZEPHBTC", "0.001");
    feed.set_network("XMR", NETWORK_DIFFICULTY, REWARD);
    feed.set_network("ZEPH", NETWORK_DIFFICULTY, REWARD);

    let (api, port) = (free_port(), free_port());
    let pdir = dir.path().join("proxy");
    std::fs::create_dir_all(&pdir).unwrap();
    let px = Node::start(
        &pdir,
        &proxy_config(&pdir, api, port, xmr_port, zeph_port, &feed.url),
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

    // XMR pays three times ZEPH: the miner starts on XMR, at its upstream's difficulty.
    let mut miner = XmrMiner::connect(&format!("127.0.0.1:{port}")).await;
    let login = miner.login(&format!("{MINER}.rig1"), "x").await;
    assert_eq!(error_message(&login), "", "{login}");
    assert_eq!(job_difficulty(miner.job.as_ref().unwrap()), 1, "{login}");
    let mut on_xmr = 0u64;
    for _ in 0..3 {
        let r = mine_one(&mut miner).await;
        assert_eq!(error_message(&r), "", "{r}");
        on_xmr += 1;
    }

    // ZEPH 6.7 % better: inside the 10 % margin, the miner stays.
    feed.set_binance("ZEPHBTC", "0.0032");
    feed.set_binance("XMRBTC", "0.003");
    assert!(
        job_at(&mut miner, 2, Duration::from_secs(5))
            .await
            .is_none(),
        "switched inside the margin"
    );
    let r = mine_one(&mut miner).await;
    assert_eq!(error_message(&r), "", "{r}");
    on_xmr += 1;

    // ZEPH twice XMR (and the 3 s minimum time has passed): the miner gets a clean
    // job from the ZEPH upstream at that upstream's difficulty, without reconnecting.
    let xmr_job = miner.job.clone().unwrap();
    feed.set_binance("ZEPHBTC", "0.006");
    let zeph_job = job_at(&mut miner, 2, Duration::from_secs(15))
        .await
        .expect("no ZEPH job after the price doubled");
    assert_ne!(zeph_job["job_id"], xmr_job["job_id"]);
    assert_ne!(zeph_job["blob"], xmr_job["blob"]);

    // A share found on the last XMR job after the switch still counts, for XMR.
    miner.job = Some(xmr_job);
    let late = loop {
        if let Some(s) = miner.find_share(None, 200) {
            break s;
        }
    };
    miner.job = Some(zeph_job);
    let r = miner.submit(&late).await;
    assert_eq!(error_message(&r), "", "late XMR share: {r}");
    on_xmr += 1;
    let mut on_zeph = 0u64;
    for _ in 0..3 {
        let r = mine_one(&mut miner).await;
        assert_eq!(error_message(&r), "", "{r}");
        on_zeph += 1;
    }

    // The decision is recorded with its reason.
    let report = px.get("/api/v1/profitability").await;
    let decisions = report["decisions"].as_array().unwrap();
    let switch = decisions
        .iter()
        .find(|d| d["switched"] == true && d["from"] == "XMR" && d["to"] == "ZEPH")
        .unwrap_or_else(|| panic!("no XMR to ZEPH decision: {report}"));
    assert!(
        switch["reason"]
            .as_str()
            .unwrap()
            .contains("better than XMR"),
        "{switch}"
    );
    assert!(
        switch["scope"].as_str().unwrap().contains("rig1"),
        "{switch}"
    );
    // The port's miners per coin: the one miner is on ZEPH now.
    let port_view = &report["ports"][0];
    assert_eq!(port_view["port"], format!("127.0.0.1:{port}"), "{report}");
    assert_eq!(
        port_view["coins"],
        serde_json::json!([{"coin": "XMR", "miners": 0}, {"coin": "ZEPH", "miners": 1}])
    );

    // Every share is accounted once, on the coin of its job: the upstreams accepted
    // exactly what the proxy forwarded to each.
    wait_until(
        "upstream verdicts recorded",
        Duration::from_secs(30),
        || async {
            let r = px.get("/api/v1/proxy").await;
            accepted_upstream(&r, "XMR") == on_xmr && accepted_upstream(&r, "ZEPH") == on_zeph
        },
    )
    .await;
    assert_eq!(upstream_shares(&xmr_up).await, on_xmr);
    assert_eq!(upstream_shares(&zeph_up).await, on_zeph);
    let r = px.get("/api/v1/proxy").await;
    for coin in r["coins"].as_array().unwrap() {
        assert_eq!(
            (coin["rejected"].as_u64(), coin["lost"].as_u64()),
            (Some(0), Some(0)),
            "{coin}"
        );
    }

    // ZEPH falls back below XMR: after the minimum time the miner returns to XMR.
    feed.set_binance("ZEPHBTC", "0.001");
    let back = job_at(&mut miner, 1, Duration::from_secs(15))
        .await
        .expect("no XMR job after ZEPH fell");
    miner.job = Some(back);
    let r = mine_one(&mut miner).await;
    assert_eq!(error_message(&r), "", "{r}");
    on_xmr += 1;
    wait_until(
        "the share after switching back",
        Duration::from_secs(30),
        || async { upstream_shares(&xmr_up).await == on_xmr },
    )
    .await;
    assert_eq!(upstream_shares(&zeph_up).await, on_zeph);
}
