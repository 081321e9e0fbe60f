//! Litecoin end to end against two real regtest litecoind nodes: the node serves the
//! Bitcoin SV1 dialect, test miners really compute scrypt on the jobs it sends, blocks
//! they find are accepted by litecoind, matured blocks are credited by PPLNS exactly,
//! a payout requested through the API arrives in the miner's wallet, and the audit
//! is clean. Bad input gets the standard error codes.

mod support;

use std::time::{Duration, Instant};

use defpool_core::pow::bitcoin::PowAlgorithm;
use serde_json::{json, Value};
use support::btc_miner::BtcMiner;
use support::litecoin::{LitecoinPair, Litecoind, RPC_PASSWORD, RPC_USER};
use support::node::{ctl_json, Node};
use support::pool::TOKEN;
use support::{atomic, free_port, wait_until};

/// The port's difficulty: about 100 scrypt hashes per share (a stratum scrypt
/// difficulty of 1 is 2^16 hashes). Regtest's network difficulty is far lower (2^-15:
/// every other hash is a block), and the node never sets a share difficulty above the
/// network's, so on regtest every share is a block.
const SHARE_DIFFICULTY: f64 = 0.0015;
const REGTEST_NETWORK_DIFFICULTY: f64 = 1.0 / 32768.0;

fn config(
    dir: &std::path::Path,
    node: &Litecoind,
    more_daemons: &[&Litecoind],
    pool_address: &str,
    api: u16,
    stratum: u16,
    solo: bool,
) -> String {
    format!(
        r#"data_dir = "{data}"

[api]
listen = "127.0.0.1:{api}"
admin_token = "{TOKEN}"

[intervals]
balance_update = "500ms"
payout_process = "500ms"

[payouts]
reconcile_after = "2s"
retry_backoff = "1s"

[stratum]
block_poll_interval = "100ms"
ban_after_invalid_shares = 1000
max_bad_messages_per_minute = 100

[[coins]]
symbol = "LTC"
network = "regtest"
mode = "pool"
scheme = "pplns"
pplns_factor = 2.0
fee_percent = 1.0
pool_address = "{pool_address}"
maturity = 3
min_payout = "0.001"
auto_payout = false
  [[coins.daemons]]
  url = "{url}"
  user = "{RPC_USER}"
  password = "{RPC_PASSWORD}"
{more}  [coins.wallet]
  url = "{url}/wallet/pool"
  user = "{RPC_USER}"
  password = "{RPC_PASSWORD}"

[[ports]]
listen = "127.0.0.1:{stratum}"
protocol = "sv1"
coin = "LTC"
difficulty = {SHARE_DIFFICULTY}
solo = {solo}
"#,
        data = dir.join("data").display(),
        url = node.url,
        more = more_daemons
            .iter()
            .map(|d| format!(
                "  [[coins.daemons]]\n  url = \"{}\"\n  user = \"{RPC_USER}\"\n  password = \"{RPC_PASSWORD}\"\n",
                d.url
            ))
            .collect::<String>(),
    )
}

fn error_code(r: &Value) -> i64 {
    r["error"][0].as_i64().unwrap_or(0)
}

/// Mines on the newest job until the node recorded `blocks` blocks.
async fn mine_until_blocks(node: &Node, miner: &mut BtcMiner, worker: &str, blocks: usize) {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let found = node.get("/api/v1/blocks").await["items"]
            .as_array()
            .map_or(0, |a| a.len());
        if found >= blocks {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no {blocks} blocks in time:\n{}",
            node.log()
        );
        // Pick up new jobs the pool pushed meanwhile.
        while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(20), miner.read()).await
        {
        }
        let difficulty = miner.difficulty;
        if let Some(share) = miner.find_share(difficulty, 20_000) {
            let r = miner.submit(worker, &share).await;
            // A share on a job a block just replaced may be stale.
            assert!(
                r["result"] == json!(true) || error_code(&r) == 21,
                "share refused: {r}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn litecoin_miners_find_blocks_litecoind_accepts_and_get_paid() {
    let Some(pair) = LitecoinPair::start().await else {
        return;
    };
    let ltc = &pair.main;
    let pool_address = ltc.wallet_with_address("pool").await;
    let miner_a = ltc.wallet_with_address("miners").await;
    let miner_b = ltc
        .call(
            &Litecoind::wallet_path("miners"),
            "getnewaddress",
            json!([]),
        )
        .await
        .as_str()
        .unwrap()
        .to_string();
    // Mature coins in the pool wallet for payouts (coinbase matures after 100).
    ltc.generate(101, &pool_address).await;
    let start_height = ltc.height().await;

    let dir = tempfile::tempdir().unwrap();
    let stratum_port = free_port();
    let node = Node::start(
        dir.path(),
        &config(
            dir.path(),
            ltc,
            &[],
            &pool_address,
            free_port(),
            stratum_port,
            false,
        ),
        TOKEN,
        &[],
    )
    .await;
    let addr = format!("127.0.0.1:{stratum_port}");

    // Bad input: garbage, a submit before subscribe (25), an unauthorized worker (24),
    // a bad address, an xmrig login on this port.
    let mut raw = BtcMiner::connect(&addr, PowAlgorithm::Scrypt).await;
    raw.send_raw(b"this is not json\n").await.unwrap();
    let r = raw.read().await.expect("error reply to garbage");
    assert_eq!(error_code(&r), 20, "{r}");
    let r = raw
        .request(
            "mining.submit",
            json!(["w", "1", "00000000", "00000000", "00000000"]),
        )
        .await;
    assert_eq!(error_code(&r), 25, "not subscribed: {r}");
    raw.subscribe().await;
    let r = raw
        .request(
            "mining.submit",
            json!(["w", "1", "00000000", "00000000", "00000000"]),
        )
        .await;
    assert_eq!(error_code(&r), 24, "unauthorized: {r}");
    let r = raw.authorize("rltc1qnotanaddress.rig", "x").await;
    assert_eq!(error_code(&r), 24, "bad address: {r}");
    assert!(raw.read().await.is_none(), "closed after a bad address");
    let mut xmrig = BtcMiner::connect(&addr, PowAlgorithm::Scrypt).await;
    xmrig
        .send_raw(b"{\"id\":1,\"method\":\"login\",\"params\":{\"login\":\"x\",\"pass\":\"x\"}}\n")
        .await
        .unwrap();
    let r = xmrig
        .read()
        .await
        .expect("a clear error for the wrong dialect");
    assert!(
        r["error"][1]
            .as_str()
            .unwrap()
            .contains("Bitcoin stratum dialect"),
        "{r}"
    );
    assert!(xmrig.read().await.is_none());

    // Miner A negotiates version rolling; miner B does not.
    let worker_a = format!("{miner_a}.rig-a");
    let mut a = BtcMiner::connect(&addr, PowAlgorithm::Scrypt).await;
    let r = a.configure_version_rolling(0x1fffe000).await;
    assert_eq!(r["result"]["version-rolling"], true, "{r}");
    assert_eq!(a.version_mask, 0x1fffe000);
    let sub = a.subscribe().await;
    assert_eq!(a.extranonce1.len(), 4, "{sub}");
    assert_eq!(a.extranonce2_size, 4);
    let r = a.authorize(&worker_a, "x").await;
    assert_eq!(r["result"], true, "{r}");
    a.wait_for_job().await;
    assert!(
        (a.difficulty - REGTEST_NETWORK_DIFFICULTY).abs() < 1e-9,
        "share difficulty capped at the network's: {}",
        a.difficulty
    );
    let job = a.job.clone().unwrap();
    assert!(job.clean_jobs);

    let worker_b = format!("{miner_b}.rig-b");
    let mut b = BtcMiner::connect(&addr, PowAlgorithm::Scrypt).await;
    b.subscribe().await;
    assert_ne!(
        b.extranonce1, a.extranonce1,
        "extranonce1 is per connection"
    );
    assert_eq!(b.authorize(&worker_b, "x").await["result"], true);
    b.wait_for_job().await;

    // Shares: accepted, then every bad case with its code.
    let difficulty = a.difficulty;
    let share = a.find_share(difficulty, 100_000).expect("a share");
    let r = a.submit(&worker_a, &share).await;
    assert_eq!(r["result"], true, "{r}");
    let r = a.submit(&worker_a, &share).await;
    assert_eq!(error_code(&r), 22, "duplicate: {r}");
    let mut unknown_job = share.clone();
    unknown_job.job_id = "ffffff".into();
    assert_eq!(error_code(&a.submit(&worker_a, &unknown_job).await), 21);
    let mut bad_ntime = share.clone();
    bad_ntime.ntime = "00000001".into();
    assert_eq!(error_code(&a.submit(&worker_a, &bad_ntime).await), 20);
    let mut outside_mask = share.clone();
    outside_mask.version_bits = Some("00000001".into());
    assert_eq!(error_code(&a.submit(&worker_a, &outside_mask).await), 20);
    // A header that misses the share target: low difficulty.
    let mut weak = None;
    for _ in 0..50 {
        let mut s = a.find_share(difficulty, 100_000).expect("a share");
        let nonce = u32::from_str_radix(&s.nonce, 16).unwrap().wrapping_add(1);
        s.nonce = format!("{nonce:08x}");
        if !defpool_core::pow::bitcoin::PowAlgorithm::Scrypt
            .target_for_difficulty(defpool_core::Difficulty::new(difficulty).unwrap())
            .is_met_by(&rehash(&a, &s))
        {
            weak = Some(s);
            break;
        }
    }
    let weak = weak.expect("a header below the share target");
    assert_eq!(error_code(&a.submit(&worker_a, &weak).await), 23);

    // Both mine until the pool found three blocks.
    mine_until_blocks(&node, &mut a, &worker_a, 2).await;
    mine_until_blocks(&node, &mut b, &worker_b, 3).await;

    // The blocks are on litecoind's chain with the hash the node recorded.
    let blocks = node.get("/api/v1/blocks").await;
    for block in blocks["items"].as_array().unwrap() {
        let height = block["height"].as_u64().unwrap();
        let hash = ltc.call("", "getblockhash", json!([height])).await;
        assert_eq!(block["hash"], hash, "block at {height}");
        let coinbase = ltc.call("", "getblock", json!([hash, 2])).await["tx"][0].clone();
        let paid: f64 = coinbase["vout"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|o| o["value"].as_f64())
            .sum();
        assert_eq!(
            atomic(&block["reward"]),
            (paid * 1e8).round() as u64,
            "reward at {height}"
        );
        // litecoind 0.21 lists `addresses`; newer daemons give `address`.
        let script = &coinbase["vout"][0]["scriptPubKey"];
        let payee = script["address"]
            .as_str()
            .or(script["addresses"][0].as_str())
            .unwrap_or_default();
        assert_eq!(payee, pool_address, "the coinbase pays the pool");
        // The coinbase carries the pool tag and the finding session's extranonce1.
        let script_sig = coinbase["vin"][0]["coinbase"].as_str().unwrap();
        assert!(
            script_sig.contains(&hex::encode(b"/DefPool/")),
            "{script_sig}"
        );
        assert!(
            script_sig.contains(&hex::encode(&a.extranonce1))
                || script_sig.contains(&hex::encode(&b.extranonce1)),
            "extranonce1 of a session in {script_sig}"
        );
    }
    assert!(ltc.height().await > start_height);
    assert!(a
        .jobs
        .iter()
        .any(|j| j.clean_jobs && j.job_id != job.job_id));

    // Maturity: mine past it; the balance updater credits every block by PPLNS.
    ltc.generate(4, &pool_address).await;
    wait_until("all blocks confirmed", Duration::from_secs(60), || async {
        let confirmed = node.get("/api/v1/blocks?status=confirmed").await["items"]
            .as_array()
            .map_or(0, |a| a.len());
        let all = node.get("/api/v1/blocks").await["items"]
            .as_array()
            .map_or(0, |a| a.len());
        confirmed == all
    })
    .await;
    let total_reward: u64 = node.get("/api/v1/blocks?status=confirmed").await["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| atomic(&b["reward"]))
        .sum();
    let mut credited = 0u64;
    for who in [miner_a.as_str(), miner_b.as_str(), pool_address.as_str()] {
        credited +=
            atomic(&node.get(&format!("/api/v1/miners/{who}/balance/LTC")).await["balance"]);
    }
    assert_eq!(credited, total_reward, "credits sum exactly to the rewards");
    let a_balance = atomic(
        &node
            .get(&format!("/api/v1/miners/{miner_a}/balance/LTC"))
            .await["balance"],
    );
    assert!(a_balance > 0);
    let view = node.get(&format!("/api/v1/miners/{miner_a}")).await;
    assert_eq!(view["workers"][0]["name"], "rig-a");
    assert!(view["hashrate"].as_f64().unwrap() > 0.0);
    assert_eq!(ctl_json(&node, &["audit"])["ok"], true);

    // A payout requested through the API arrives in miner A's wallet.
    let (st, p) = node
        .request(
            "POST",
            &format!("/api/v1/miners/{miner_a}/payout"),
            Some(TOKEN),
            Some(r#"{"coin":"LTC"}"#),
        )
        .await;
    assert_eq!(st, 201, "{p}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let list = node.get(&format!("/api/v1/miners/{miner_a}/payouts")).await;
        if list["items"][0]["status"] == "completed" {
            assert!(list["items"][0]["tx_hash"].as_str().unwrap().len() == 64);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "payout not completed: {list}\n{}",
            node.log()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    ltc.generate(1, &pool_address).await;
    let received = ltc
        .call(
            &Litecoind::wallet_path("miners"),
            "getreceivedbyaddress",
            json!([miner_a, 1]),
        )
        .await;
    let received =
        defpool_core::Amount::from_decimal(&format!("{:.8}", received.as_f64().unwrap()), 8)
            .unwrap()
            .atomic();
    assert_eq!(received, a_balance, "the whole balance arrived");
    assert_eq!(ctl_json(&node, &["audit"])["ok"], true);
}

/// The scrypt hash of a share as the pool will compute it.
fn rehash(miner: &BtcMiner, share: &support::btc_miner::FoundShare) -> [u8; 32] {
    use defpool_core::job::bitcoin::StratumWork;
    let notify = miner
        .jobs
        .iter()
        .rev()
        .find(|j| j.job_id == share.job_id)
        .expect("job");
    let work = StratumWork::from_notify(notify).unwrap();
    let extranonce2 = hex::decode(&share.extranonce2).unwrap();
    let bits = share
        .version_bits
        .as_deref()
        .map_or(0, |v| u32::from_str_radix(v, 16).unwrap());
    let version = (work.version & !miner.version_mask) | (bits & miner.version_mask);
    let header = work.header(
        &miner.extranonce1,
        &extranonce2,
        version,
        u32::from_str_radix(&share.ntime, 16).unwrap(),
        u32::from_str_radix(&share.nonce, 16).unwrap(),
    );
    PowAlgorithm::Scrypt.hash_header(&header.to_bytes())
}

/// Starts a node for `pair` (daemons: main, then `more`), subscribes and authorizes
/// one scrypt miner paying a fresh address of the `miners` wallet.
async fn pool_with_miner(
    pair: &LitecoinPair,
    more: &[&Litecoind],
    solo: bool,
) -> (Node, BtcMiner, String, String, String) {
    let ltc = &pair.main;
    let pool_address = ltc.wallet_with_address("pool").await;
    let miner = ltc.wallet_with_address("miners").await;
    // A fresh chain is in initial block download, where getblocktemplate refuses.
    if ltc.height().await == 0 {
        ltc.generate(1, &pool_address).await;
    }
    let stratum_port = free_port();
    let node_dir = pair.path().join("node");
    std::fs::create_dir_all(&node_dir).unwrap();
    let node = Node::start(
        &node_dir,
        &config(
            &node_dir,
            ltc,
            more,
            &pool_address,
            free_port(),
            stratum_port,
            false,
        ),
        TOKEN,
        &[],
    )
    .await;
    let mut m = BtcMiner::connect(&format!("127.0.0.1:{stratum_port}"), PowAlgorithm::Scrypt).await;
    m.subscribe().await;
    let worker = format!("{}{miner}.rig", if solo { "solo:" } else { "" });
    assert_eq!(m.authorize(&worker, "x").await["result"], true);
    m.wait_for_job().await;
    (node, m, worker, miner, pool_address)
}

fn recorded_blocks(v: &Value) -> Vec<(u64, String)> {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["height"].as_u64().unwrap(),
                b["hash"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mining_continues_on_the_second_litecoind_when_the_first_stops() {
    let Some(mut pair) = LitecoinPair::start_with_spare().await else {
        return;
    };
    let (node, mut m, worker, _, _) = pool_with_miner(&pair, &[&pair.peer], false).await;
    mine_until_blocks(&node, &mut m, &worker, 1).await;

    // The primary goes away; the node takes the second daemon and mining goes on.
    let spare = pair.spare.take().expect("spare node");
    drop(std::mem::replace(&mut pair.main, spare));
    mine_until_blocks(&node, &mut m, &worker, 3).await;
    node.wait_for_log("daemon taken out", Duration::from_secs(30))
        .await;
    for (height, hash) in recorded_blocks(&node.get("/api/v1/blocks").await) {
        assert_eq!(
            pair.peer.call("", "getblockhash", json!([height])).await,
            hash.as_str(),
            "block {height} is on the surviving daemon's chain"
        );
    }
    let health = node.get("/api/v1/health").await;
    assert_eq!(health["status"], "degraded", "{health}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_past_mweb_activation_carry_the_hogex_and_are_accepted() {
    let Some(pair) = LitecoinPair::start().await else {
        return;
    };
    let ltc = &pair.main;
    let funds = ltc.wallet_with_address("pool").await;
    // MWEB activates at height 432 on regtest; its first block needs a peg-in.
    let height = ltc.height().await;
    ltc.generate(431 - height, &funds).await;
    let mweb_address = ltc
        .call(
            &Litecoind::wallet_path("pool"),
            "getnewaddress",
            json!(["", "mweb"]),
        )
        .await;
    ltc.call(
        &Litecoind::wallet_path("pool"),
        "sendtoaddress",
        json!([mweb_address, "1.5"]),
    )
    .await;
    let template = ltc
        .call(
            "",
            "getblocktemplate",
            json!([{"rules": ["mweb", "segwit"]}]),
        )
        .await;
    assert_eq!(template["height"], 432);
    assert!(
        template["mweb"].is_string(),
        "the template carries the MWEB block"
    );

    // A solo miner: every block it finds is credited to it alone.
    let (node, mut m, worker, miner, fee_account) = pool_with_miner(&pair, &[], true).await;
    mine_until_blocks(&node, &mut m, &worker, 2).await;
    // The last share may have been a block the node is still recording: stop
    // mining and let it land, so the sums below see every block.
    drop(m);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let blocks = recorded_blocks(&node.get("/api/v1/blocks").await);
    assert!(blocks.iter().any(|(h, _)| *h == 432), "{blocks:?}");
    for (height, hash) in &blocks {
        assert_eq!(
            ltc.call("", "getblockhash", json!([height])).await,
            hash.as_str()
        );
        // The block litecoind stored has the HogEx as its last transaction.
        let block = ltc.call("", "getblock", json!([hash, 2])).await;
        let txs = block["tx"].as_array().unwrap();
        assert!(txs.len() >= 2, "coinbase and HogEx at {height}");
    }
    assert!(ltc.height().await >= 433);

    // Solo: each block names the miner and matures to its balance minus the fee.
    let listed = node.get("/api/v1/blocks").await;
    for b in listed["items"].as_array().unwrap() {
        assert_eq!(
            (b["mode"].as_str(), b["scheme"].as_str()),
            (Some("solo"), Some("solo"))
        );
        assert_eq!(b["finder"], miner.as_str());
    }
    ltc.generate(4, &funds).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while node.get("/api/v1/blocks?status=confirmed").await["items"]
        .as_array()
        .map_or(0, |a| a.len())
        != node.get("/api/v1/blocks").await["items"]
            .as_array()
            .map_or(usize::MAX, |a| a.len())
    {
        assert!(
            Instant::now() < deadline,
            "solo blocks not confirmed: {}\n{}",
            node.get("/api/v1/blocks").await,
            node.log()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let total: u64 = node.get("/api/v1/blocks?status=confirmed").await["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| atomic(&b["reward"]))
        .sum();
    let to_miner = atomic(
        &node
            .get(&format!("/api/v1/miners/{miner}/balance/LTC"))
            .await["balance"],
    );
    let fee = atomic(
        &node
            .get(&format!("/api/v1/miners/{fee_account}/balance/LTC"))
            .await["balance"],
    );
    assert_eq!(
        to_miner + fee,
        total,
        "the finder and the fee share each block exactly"
    );
    assert!(
        fee.abs_diff(total / 100) <= blocks.len() as u64,
        "1 % fee: {fee} of {total}"
    );
    assert_eq!(ctl_json(&node, &["audit"])["ok"], true);
}
