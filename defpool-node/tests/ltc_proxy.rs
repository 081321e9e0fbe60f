//! Proxy mode for Litecoin (the Bitcoin stratum dialect), with real components: an
//! upstream DefPool node in pool mode on a pair of regtest litecoinds, and a proxy
//! node in front of it. Test miners (real scrypt, cpuminer's protocol) connect to the
//! proxy: each gets an extranonce prefix as its extranonce1 and the upstream's
//! extranonce1 inside coinb1.

mod support;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use defpool_core::pow::bitcoin::PowAlgorithm;
use serde_json::{json, Value};
use support::btc_miner::BtcMiner;
use support::litecoin::{LitecoinPair, Litecoind, RPC_PASSWORD, RPC_USER};
use support::node::Node;
use support::pool::TOKEN;
use support::{atomic, free_port, wait_until};

/// An upstream node: pool mode on `ltc`. Regtest's network difficulty (2^-15) caps
/// the share difficulty, so every share found through the proxy is a block.
async fn upstream(dir: &std::path::Path, ltc: &Litecoind, pool_address: &str) -> (Node, u16) {
    let (api, port) = (free_port(), free_port());
    std::fs::create_dir_all(dir).unwrap();
    let config = format!(
        r#"data_dir = "{data}"
[api]
listen = "127.0.0.1:{api}"
admin_token = "{TOKEN}"
[intervals]
balance_update = "500ms"
payout_process = "500ms"
[stratum]
block_poll_interval = "100ms"
ban_after_invalid_shares = 1000
[[coins]]
symbol = "LTC"
network = "regtest"
mode = "pool"
pool_address = "{pool_address}"
maturity = 3
min_payout = "0.001"
auto_payout = false
  [[coins.daemons]]
  url = "{url}"
  user = "{RPC_USER}"
  password = "{RPC_PASSWORD}"
  [coins.wallet]
  url = "{url}/wallet/pool"
  user = "{RPC_USER}"
  password = "{RPC_PASSWORD}"
[[ports]]
listen = "127.0.0.1:{port}"
protocol = "sv1"
coin = "LTC"
difficulty = 0.0015
"#,
        data = dir.join("data").display(),
        url = ltc.url,
    );
    (Node::start(dir, &config, TOKEN, &[]).await, port)
}

/// A proxy node mining on `upstreams` (in order) as `login`. 256 miners per
/// upstream connection (the CryptoNote figure) so 300 miners need two. It reads
/// network difficulty and block reward (for PPS) from `ltc`.
async fn proxy(
    dir: &std::path::Path,
    upstreams: &[u16],
    login: &str,
    pool_address: &str,
    ltc: &Litecoind,
) -> (Node, String) {
    let (api, port) = (free_port(), free_port());
    std::fs::create_dir_all(dir).unwrap();
    let upstreams: String = upstreams
        .iter()
        .map(|p| {
            format!("  [[coins.upstreams]]\n  url = \"stratum+tcp://127.0.0.1:{p}\"\n  login = \"{login}.proxy\"\n")
        })
        .collect();
    let config = format!(
        r#"data_dir = "{data}"
[api]
listen = "127.0.0.1:{api}"
admin_token = "{TOKEN}"
[stratum]
ban_after_invalid_shares = 1000
[intervals]
profit_monitor = "1s"
[proxy]
credit_interval = "500ms"
miners_per_connection = 256
[[coins]]
symbol = "LTC"
network = "regtest"
mode = "proxy"
scheme = "pps"
pool_address = "{pool_address}"
  [[coins.daemons]]
  url = "{url}"
  user = "{RPC_USER}"
  password = "{RPC_PASSWORD}"
  [coins.wallet]
  url = "{url}/wallet/proxy"
  user = "{RPC_USER}"
  password = "{RPC_PASSWORD}"
{upstreams}
[[ports]]
listen = "127.0.0.1:{port}"
protocol = "sv1"
coin = "LTC"
difficulty = 1
"#,
        data = dir.join("data").display(),
        url = ltc.url,
    );
    (
        Node::start(dir, &config, TOKEN, &[]).await,
        format!("127.0.0.1:{port}"),
    )
}

async fn report(node: &Node) -> Value {
    node.get("/api/v1/proxy").await
}

fn error_code(r: &Value) -> i64 {
    r["error"][0].as_i64().unwrap_or(0)
}

/// Mines on the newest job until the proxy accepts a share; returns its answer.
async fn mine_one(miner: &mut BtcMiner, worker: &str) -> Value {
    loop {
        // Pick up newer jobs first: on regtest every share is a block.
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

/// The tail of coinb1 that is the upstream connection's extranonce1 (4 bytes from
/// a DefPool upstream): with the miner's extranonce1, the miner's nonce space.
fn upstream_extranonce1(miner: &BtcMiner) -> String {
    let coinb1 = &miner.job.as_ref().unwrap().coinb1;
    coinb1[coinb1.len() - 8..].to_string()
}

async fn valid_shares(node: &Node, miner: &str) -> u64 {
    let (status, body) = node
        .request("GET", &format!("/api/v1/miners/{miner}"), None, None)
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shares_and_blocks_flow_through_the_proxy_and_miners_are_credited_pps() {
    let Some(pair) = LitecoinPair::start().await else {
        return;
    };
    let ltc = &pair.main;
    let pool_address = ltc.wallet_with_address("pool").await;
    let proxy_address = ltc.wallet_with_address("proxy").await;
    let miner_address = ltc.wallet_with_address("miners").await;
    ltc.generate(101, &pool_address).await;
    let start_height = ltc.height().await;
    let dir = tempfile::tempdir().unwrap();
    let (up, up_port) = upstream(&dir.path().join("up"), ltc, &pool_address).await;
    let (px, addr) = proxy(
        &dir.path().join("proxy"),
        &[up_port],
        &proxy_address,
        &proxy_address,
        ltc,
    )
    .await;

    let worker = format!("{miner_address}.rig1");
    let mut miner = BtcMiner::connect(&addr, PowAlgorithm::Scrypt).await;
    let sub = miner.subscribe().await;
    assert_eq!(miner.extranonce1.len(), 2, "a 2-byte prefix: {sub}");
    assert_eq!(
        miner.extranonce2_size, 2,
        "the rest of the upstream's 4: {sub}"
    );
    let r = miner.authorize("rltc1qnotanaddress.rig", "x").await;
    assert_eq!(error_code(&r), 24, "miner addresses are checked: {r}");
    let mut miner = BtcMiner::connect(&addr, PowAlgorithm::Scrypt).await;
    miner.subscribe().await;
    assert_eq!(miner.authorize(&worker, "x").await["result"], true);
    miner.wait_for_job().await;
    assert!(
        miner.difficulty > 0.0 && miner.difficulty < 0.001,
        "the upstream's difficulty: {}",
        miner.difficulty
    );

    // Bad shares are refused by the proxy itself and never reach the upstream.
    let share = miner
        .find_share(miner.difficulty, 200_000)
        .expect("a share");
    let mut unknown = share.clone();
    unknown.job_id = "ffffff".into();
    assert_eq!(error_code(&miner.submit(&worker, &unknown).await), 21);
    let mut bad_ntime = share.clone();
    bad_ntime.ntime = "00000001".into();
    assert_eq!(error_code(&miner.submit(&worker, &bad_ntime).await), 20);
    let mut long_en2 = share.clone();
    long_en2.extranonce2 = "00000000".into();
    assert_eq!(error_code(&miner.submit(&worker, &long_en2).await), 20);
    let r = miner.submit(&worker, &share).await;
    let mut accepted = u64::from(r["result"] == json!(true));
    if accepted == 1 {
        assert_eq!(
            error_code(&miner.submit(&worker, &share).await),
            22,
            "duplicate"
        );
    }

    // Good shares until the upstream records a block found through the proxy.
    let deadline = Instant::now() + Duration::from_secs(180);
    let block = loop {
        if let Some(b) = up.get("/api/v1/blocks").await["items"]
            .as_array()
            .and_then(|b| b.first())
            .cloned()
        {
            break b;
        }
        assert!(
            Instant::now() < deadline,
            "no block after {accepted} shares:\n{}",
            px.log()
        );
        let r = mine_one(&mut miner, &worker).await;
        assert_eq!(r["result"], true, "{r}");
        accepted += 1;
    };
    // The upstream credits the block to the proxy's login, and the chain has it.
    assert_eq!(block["finder"], proxy_address.as_str(), "{block}");
    let height = block["height"].as_u64().unwrap();
    assert!(height > start_height);
    let hash = ltc.call("", "getblockhash", json!([height])).await;
    assert_eq!(block["hash"], hash);

    // Every share the proxy accepted reached the upstream and was accepted there
    // (regtest: some may be stale after a block; none is lost).
    wait_until("upstream verdicts", Duration::from_secs(30), || async {
        let c = &report(&px).await["coins"][0];
        c["accepted"].as_u64().unwrap_or(0) + c["rejected"].as_u64().unwrap_or(0) == accepted
    })
    .await;
    let r = report(&px).await;
    let coin = &r["coins"][0];
    assert_eq!(coin["lost"], 0, "{r}");
    assert!(coin["accepted"].as_u64().unwrap() >= 1, "{r}");
    assert_eq!(coin["connections"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(coin["connections"][0]["miners"], 1, "{r}");
    let upstream_accepted = coin["accepted"].as_u64().unwrap();
    wait_until(
        "upstream share records",
        Duration::from_secs(30),
        || async { valid_shares(&up, &proxy_address).await >= upstream_accepted },
    )
    .await;
    // PPS: every accepted share credited by its expected value, less the fee.
    wait_until("PPS credits", Duration::from_secs(60), || async {
        report(&px).await["coins"][0]["uncredited"] == 0
    })
    .await;
    let r = report(&px).await;
    let coin = &r["coins"][0];
    let (credited, fees) = (atomic(&coin["credited"]), atomic(&coin["fees"]));
    // On regtest the upstream's share difficulty is the network's, so each accepted
    // share is worth exactly one block reward, less the 1 % fee.
    let reward = atomic(&block["reward"]);
    assert_eq!(credited + fees, upstream_accepted * reward, "{r}");
    assert_eq!(fees, (credited + fees) / 100, "{r}");
    let balance = px
        .get(&format!("/api/v1/miners/{miner_address}/balances"))
        .await;
    assert!(
        balance.to_string().contains(&credited.to_string()),
        "{balance}"
    );
    let audit = px.get("/api/v1/admin/audit").await;
    assert_eq!(audit["ok"], true, "{audit}");

    // Reconciliation against a real payout: the upstream's blocks mature, the
    // upstream pays the proxy's balance to the proxy's wallet, and the proxy reports
    // what arrived next to what it expected.
    assert_eq!(
        atomic(&r["coins"][0]["received"]),
        0,
        "nothing paid yet: {r}"
    );
    assert_eq!(atomic(&r["coins"][0]["expected"]), credited + fees, "{r}");
    let blocks_found = up.get("/api/v1/blocks").await["items"]
        .as_array()
        .map_or(0, |b| b.len());
    ltc.generate(4, &pool_address).await;
    wait_until(
        "upstream blocks confirmed",
        Duration::from_secs(60),
        || async {
            up.get("/api/v1/blocks?status=confirmed").await["items"]
                .as_array()
                .map_or(0, |b| b.len())
                >= blocks_found
        },
    )
    .await;
    let owed = || async {
        atomic(
            &up.get(&format!("/api/v1/miners/{proxy_address}/balance/LTC"))
                .await["balance"],
        )
    };
    wait_until(
        "the proxy's balance upstream",
        Duration::from_secs(30),
        || async { owed().await > 0 },
    )
    .await;
    let owed = owed().await;
    let (st, p) = up
        .request(
            "POST",
            &format!("/api/v1/miners/{proxy_address}/payout"),
            Some(TOKEN),
            Some(r#"{"coin":"LTC"}"#),
        )
        .await;
    assert_eq!(st, 201, "{p}");
    wait_until("upstream payout sent", Duration::from_secs(60), || async {
        up.get(&format!("/api/v1/miners/{proxy_address}/payouts"))
            .await["items"][0]["status"]
            == "completed"
    })
    .await;
    ltc.generate(1, &pool_address).await;
    wait_until(
        "the payout in the proxy's report",
        Duration::from_secs(30),
        || async { atomic(&report(&px).await["coins"][0]["received"]) == owed },
    )
    .await;
    let r = report(&px).await;
    assert_eq!(r["coins"][0]["received_error"], Value::Null, "{r}");
    assert_eq!(atomic(&r["coins"][0]["expected"]), credited + fees, "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_miners_share_two_upstream_connections_without_overlapping_nonce_space() {
    let Some(pair) = LitecoinPair::start().await else {
        return;
    };
    let ltc = &pair.main;
    let pool_address = ltc.wallet_with_address("pool").await;
    let proxy_address = ltc.wallet_with_address("proxy").await;
    ltc.generate(101, &pool_address).await;
    let dir = tempfile::tempdir().unwrap();
    let (_up, up_port) = upstream(&dir.path().join("up"), ltc, &pool_address).await;
    // 256 miners per connection (the default), so 300 miners need two.
    let (px, addr) = proxy(
        &dir.path().join("proxy"),
        &[up_port],
        &proxy_address,
        &proxy_address,
        ltc,
    )
    .await;

    let mut miners = Vec::new();
    let mut spaces = HashSet::new();
    for i in 0..300 {
        let mut m = BtcMiner::connect(&addr, PowAlgorithm::Scrypt).await;
        m.subscribe().await;
        let r = m.authorize(&format!("{proxy_address}.w{i}"), "x").await;
        assert_eq!(r["result"], true, "miner {i}: {r}");
        m.wait_for_job().await;
        // The upstream connection's extranonce1 (in coinb1) and the miner's prefix.
        assert!(
            spaces.insert((upstream_extranonce1(&m), hex::encode(&m.extranonce1))),
            "miner {i} shares its nonce space with another"
        );
        miners.push(m);
    }
    let r = report(&px).await;
    let connections = r["coins"][0]["connections"].as_array().unwrap().clone();
    assert!(connections.len() >= 2, "{r}");
    let held: u64 = connections
        .iter()
        .map(|c| c["miners"].as_u64().unwrap())
        .sum();
    assert_eq!(held, 300);

    // Shares from miners on both connections are accepted upstream.
    for i in [0usize, 255, 256, 299] {
        let worker = format!("{proxy_address}.w{i}");
        let r = mine_one(&mut miners[i], &worker).await;
        assert_eq!(r["result"], true, "miner {i}: {r}");
    }
    wait_until("four verdicts", Duration::from_secs(30), || async {
        let c = &report(&px).await["coins"][0];
        c["accepted"].as_u64().unwrap_or(0) + c["rejected"].as_u64().unwrap_or(0) == 4
    })
    .await;
    assert_eq!(report(&px).await["coins"][0]["lost"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_first_upstream_moves_miners_to_the_second_without_reconnecting_them() {
    let Some(pair) = LitecoinPair::start().await else {
        return;
    };
    let ltc = &pair.main;
    let pool_address = ltc.wallet_with_address("pool").await;
    let proxy_address = ltc.wallet_with_address("proxy").await;
    ltc.generate(101, &pool_address).await;
    let dir = tempfile::tempdir().unwrap();
    let (mut first, first_port) = upstream(&dir.path().join("up1"), ltc, &pool_address).await;
    let (second, second_port) = upstream(&dir.path().join("up2"), ltc, &pool_address).await;
    let (px, addr) = proxy(
        &dir.path().join("proxy"),
        &[first_port, second_port],
        &proxy_address,
        &proxy_address,
        ltc,
    )
    .await;

    let worker = format!("{proxy_address}.rig");
    let mut miner = BtcMiner::connect(&addr, PowAlgorithm::Scrypt).await;
    miner.subscribe().await;
    assert_eq!(miner.authorize(&worker, "x").await["result"], true);
    miner.wait_for_job().await;
    let prefix = miner.extranonce1.clone();
    let before = upstream_extranonce1(&miner);
    let r = mine_one(&mut miner, &worker).await;
    assert_eq!(r["result"], true, "{r}");
    wait_until(
        "the first upstream's verdict",
        Duration::from_secs(30),
        || async { report(&px).await["coins"][0]["accepted"].as_u64() == Some(1) },
    )
    .await;

    first.kill9();
    let killed = Instant::now();
    // The miner's connection stays; a clean job from the second upstream arrives on
    // it, carrying that connection's extranonce1, with no set_extranonce.
    let jobs_before = miner.jobs.len();
    loop {
        let msg = miner
            .read()
            .await
            .expect("the proxy kept the miner connected");
        assert_ne!(msg["method"], "mining.set_extranonce", "{msg}");
        if msg["method"] == "mining.notify"
            && miner.jobs.len() > jobs_before
            && upstream_extranonce1(&miner) != before
        {
            break;
        }
    }
    let moved_after = killed.elapsed();
    assert!(
        moved_after < Duration::from_secs(10),
        "took {moved_after:?}"
    );
    assert!(miner.job.as_ref().unwrap().clean_jobs);
    assert_eq!(miner.extranonce1, prefix, "same extranonce1");
    let r = report(&px).await;
    assert!(
        r["coins"][0]["connections"][0]["upstream"]
            .as_str()
            .unwrap()
            .ends_with(&second_port.to_string()),
        "{r}"
    );

    // Shares on the new job are accepted by the second upstream.
    let r = mine_one(&mut miner, &worker).await;
    assert_eq!(r["result"], true, "{r}");
    wait_until(
        "the second upstream's verdict",
        Duration::from_secs(30),
        || async { report(&px).await["coins"][0]["accepted"].as_u64() >= Some(2) },
    )
    .await;
    wait_until(
        "the second upstream's share record",
        Duration::from_secs(30),
        || async { valid_shares(&second, &proxy_address).await >= 1 },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_solo_miner_on_the_proxy_port_is_mined_from_the_daemon_and_credited_alone() {
    let Some(pair) = LitecoinPair::start().await else {
        return;
    };
    let ltc = &pair.main;
    let pool_address = ltc.wallet_with_address("pool").await;
    let proxy_address = ltc.wallet_with_address("proxy").await;
    let miner_address = ltc.wallet_with_address("miners").await;
    ltc.generate(101, &pool_address).await;
    let dir = tempfile::tempdir().unwrap();
    let (up, up_port) = upstream(&dir.path().join("up"), ltc, &pool_address).await;
    let (px, addr) = proxy(
        &dir.path().join("proxy"),
        &[up_port],
        &proxy_address,
        &proxy_address,
        ltc,
    )
    .await;

    // Subscribed like any miner on the port (a slot of an upstream connection), then
    // `solo:` at authorize: the daemon-fed session takes over with the same extranonces.
    let worker = format!("solo:{miner_address}.solo1");
    let mut miner = BtcMiner::connect(&addr, PowAlgorithm::Scrypt).await;
    miner.subscribe().await;
    let (extranonce1, extranonce2_size) = (miner.extranonce1.clone(), miner.extranonce2_size);
    assert_eq!(miner.authorize(&worker, "x").await["result"], true);
    miner.wait_for_job().await;
    assert_eq!(
        (miner.extranonce1.clone(), miner.extranonce2_size),
        (extranonce1, extranonce2_size),
        "the miner keeps what it subscribed with"
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    let block = loop {
        if let Some(b) = px.get("/api/v1/blocks").await["items"]
            .as_array()
            .and_then(|b| b.first())
            .cloned()
        {
            break b;
        }
        assert!(Instant::now() < deadline, "no solo block:\n{}", px.log());
        let r = mine_one(&mut miner, &worker).await;
        assert_eq!(r["result"], true, "{r}");
    };
    // Found by this node from litecoind's template, credited to the finder alone.
    assert_eq!(
        (block["mode"].as_str(), block["finder"].as_str()),
        (Some("solo"), Some(miner_address.as_str())),
        "{block}"
    );
    let height = block["height"].as_u64().unwrap();
    assert_eq!(
        ltc.call("", "getblockhash", json!([height])).await,
        block["hash"]
    );
    // The upstream saw nothing of it.
    assert_eq!(valid_shares(&up, &proxy_address).await, 0);
    assert_eq!(report(&px).await["coins"][0]["accepted"], 0);
}
