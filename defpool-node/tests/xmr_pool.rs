//! Monero end to end: real monerod and monero-wallet-rpc in regtest, the node in pool
//! and solo mode, test miners that really compute RandomX on the stratum socket.

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::free_port;
use support::node::{ctl_json, Node};
use support::pool::{Pool, MINER_B, TOKEN};
use support::xmr_miner::{error_message, XmrMiner};
use support::{atomic, wait_until};

/// Network difficulty of the regtest chain while mining: a share at difficulty 5 is
/// a block about once in 12 shares.
const NETWORK_DIFFICULTY: u64 = 60;
const SHARE_DIFFICULTY: u64 = 5;

/// Mines with `miner` (valid shares only) until the node has recorded `blocks` blocks.
async fn mine_until_blocks(node: &Node, miner: &mut XmrMiner, blocks: usize, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let recorded = node.get("/api/v1/blocks").await["items"]
            .as_array()
            .map(|a| a.len())
            .unwrap_or(0);
        if recorded >= blocks {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no block found within {timeout:?}; node log:\n{}",
            node.log()
        );
        // Pick up a job pushed since the last submit before hashing.
        if let Some(share) = miner.find_share(None, 2_000) {
            let r = miner.submit(&share).await;
            let err = error_message(&r);
            // A share on a job the new block just replaced can be "Block expired".
            assert!(
                err.is_empty() || err.contains("expired") || err.contains("Invalid job"),
                "share refused: {r}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn miners_mine_blocks_that_monerod_accepts_and_are_paid_by_pplns() {
    let Some(pool) = Pool::start_mining(NETWORK_DIFFICULTY).await else {
        return;
    };
    let stratum_port = free_port();
    let config = pool.stratum_config(
        stratum_port,
        false,
        SHARE_DIFFICULTY,
        "ban_after_invalid_shares = 1000\nmax_bad_messages_per_minute = 100\n",
    );
    let node = Node::start(pool.path(), &config, TOKEN, &[]).await;
    let addr = format!("127.0.0.1:{stratum_port}");
    let start_height = pool.monerod.tip().await;

    // Bad input on the stratum port: documented errors, never a crash.
    let mut raw = XmrMiner::connect(&addr).await;
    raw.send_raw(b"this is not json\n").await.unwrap();
    let r = raw.read().await.expect("error reply to garbage");
    assert!(r["error"]["message"].is_string(), "{r}");
    let r = raw.call("mining.frobnicate", json!({})).await;
    assert!(!error_message(&r).is_empty(), "unknown method: {r}");
    let r = raw
        .call(
            "submit",
            json!({"id": "nope", "job_id": "1", "nonce": "00000000", "result": "00".repeat(32)}),
        )
        .await;
    assert_eq!(error_message(&r), "Unauthenticated");
    let r = raw
        .call(
            "login",
            json!({"login": "4notanaddress", "pass": "x", "algo": ["rx/0"]}),
        )
        .await;
    assert!(error_message(&r).contains("address"), "{r}");
    assert!(
        raw.read().await.is_none(),
        "the session is closed after a bad login"
    );
    let mut big = XmrMiner::connect(&addr).await;
    let mut line = vec![b'a'; 1 << 20];
    line.push(b'\n');
    let _ = big.send_raw(&line).await;
    let r = big.read().await;
    assert!(r.as_ref().is_none_or(|v| v["error"].is_object()), "{r:?}");
    assert!(big.read().await.is_none(), "a 1 MB line closes the session");

    // Two miners log in; miner A has a wallet we control.
    let mut a = XmrMiner::connect(&addr).await;
    let login = a.login(&format!("{}.rig-a", pool.miner_a), "x").await;
    assert_eq!(login["result"]["status"], "OK", "{login}");
    let job = login["result"]["job"].clone();
    assert_eq!(job["algo"], "rx/0");
    assert_eq!(
        job["target"],
        defpool_core::pow::job_target_hex(SHARE_DIFFICULTY)
    );
    assert_eq!(job["height"].as_u64().unwrap(), start_height + 1);
    let mut b = XmrMiner::connect(&addr).await;
    let login = b.login(MINER_B, "rig-b").await;
    assert_eq!(login["result"]["status"], "OK", "{login}");

    // Every bad share gets its error; good ones are accepted.
    let share = a.find_share(None, 10_000).expect("a share");
    let r = a.submit(&share).await;
    assert_eq!(r["result"]["status"], "OK", "{r}");
    let r = a.submit(&share).await;
    assert_eq!(error_message(&r), "Duplicate share");
    let mut wrong_job = share.clone();
    wrong_job.job_id = "999999".into();
    let r = a.submit(&wrong_job).await;
    assert_eq!(error_message(&r), "Invalid job id");
    let session = a.session.clone().unwrap();
    let r = a.call("submit", json!({"id": session, "job_id": share.job_id, "nonce": "xyz", "result": hex::encode(share.hash)})).await;
    assert_eq!(error_message(&r), "Invalid nonce");
    let weak = a.find_weak_share();
    let r = a.submit(&weak).await;
    assert_eq!(error_message(&r), "Low difficulty share");
    let mut forged = a.find_share(None, 10_000).expect("a share");
    forged.hash[0] ^= 0xff;
    let r = a.submit(&forged).await;
    assert!(
        !error_message(&r).is_empty(),
        "a forged result is refused: {r}"
    );
    let r = a.call("keepalived", json!({"id": session})).await;
    assert_eq!(r["result"]["status"], "KEEPALIVED");

    // Both mine until the pool has found two blocks.
    let (a_done, b_done) = tokio::join!(
        async {
            mine_until_blocks(&node, &mut a, 2, Duration::from_secs(240)).await;
        },
        async {
            mine_until_blocks(&node, &mut b, 2, Duration::from_secs(240)).await;
        }
    );
    let _ = (a_done, b_done);

    // The blocks are on monerod's chain with the hash the node recorded.
    let blocks = node.get("/api/v1/blocks").await;
    for block in blocks["items"].as_array().unwrap() {
        let height = block["height"].as_u64().unwrap();
        let (hash, reward) = pool.monerod.block_at(height).await;
        assert_eq!(block["hash"].as_str().unwrap(), hash, "block at {height}");
        assert_eq!(atomic(&block["reward"]), reward);
    }
    assert!(pool.monerod.tip().await > start_height);
    // Jobs moved on with the chain: a newer height was pushed to the miners.
    assert!(a
        .jobs
        .iter()
        .any(|j| j["height"].as_u64().unwrap() > start_height + 1));

    // Maturity: mine past it; the balance updater credits both blocks by PPLNS.
    pool.monerod.generate(4, &pool.pool_address).await;
    wait_until("both blocks confirmed", Duration::from_secs(60), || async {
        node.get("/api/v1/blocks?status=confirmed").await["items"]
            .as_array()
            .map(|a| a.len())
            >= Some(2)
    })
    .await;
    let total_reward: u64 = node.get("/api/v1/blocks?status=confirmed").await["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| atomic(&b["reward"]))
        .sum();
    let mut credited = 0u64;
    for who in [pool.miner_a.as_str(), MINER_B, pool.pool_address.as_str()] {
        credited +=
            atomic(&node.get(&format!("/api/v1/miners/{who}/balance/XMR")).await["balance"]);
    }
    assert_eq!(
        credited, total_reward,
        "credits of both blocks sum exactly to their rewards"
    );
    let a_balance = atomic(
        &node
            .get(&format!("/api/v1/miners/{}/balance/XMR", pool.miner_a))
            .await["balance"],
    );
    assert!(
        a_balance > 0
            && atomic(
                &node
                    .get(&format!("/api/v1/miners/{MINER_B}/balance/XMR"))
                    .await["balance"]
            ) > 0
    );
    let miner_view = node.get(&format!("/api/v1/miners/{}", pool.miner_a)).await;
    assert_eq!(miner_view["workers"][0]["name"], "rig-a");
    assert!(miner_view["invalid_shares"].as_u64().unwrap() >= 3);
    assert!(miner_view["hashrate"].as_f64().unwrap() > 0.0);
    assert_eq!(
        ctl_json(&node, &["audit"])["ok"],
        true,
        "the audit recomputes every round from the shares"
    );

    // A payout requested through the API arrives in miner A's wallet.
    let (st, p) = node
        .request(
            "POST",
            &format!("/api/v1/miners/{}/payout", pool.miner_a),
            Some(TOKEN),
            Some(r#"{"coin":"XMR"}"#),
        )
        .await;
    assert_eq!(st, 201, "{p}");
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let list = node
            .get(&format!("/api/v1/miners/{}/payouts", pool.miner_a))
            .await;
        if list["items"][0]["status"] == "completed" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "payout not completed: {list}\nnode log:\n{}",
            node.log()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    pool.monerod.generate(1, &pool.pool_address).await;
    let (received, _) = pool.miner_wallet.balance().await;
    assert_eq!(
        received, a_balance,
        "the whole balance arrived in the miner's wallet"
    );
    assert_eq!(ctl_json(&node, &["audit"])["ok"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn solo_miner_is_credited_alone_and_invalid_shares_get_banned() {
    let Some(pool) = Pool::start_mining(NETWORK_DIFFICULTY).await else {
        return;
    };
    let stratum_port = free_port();
    let config = pool.stratum_config(
        stratum_port,
        false,
        SHARE_DIFFICULTY,
        "ban_after_invalid_shares = 3\nban_duration = \"1h\"\n",
    );
    let node = Node::start(pool.path(), &config, TOKEN, &[]).await;
    let addr = format!("127.0.0.1:{stratum_port}");

    // Miner B mines pool shares that must not count for the solo block.
    let mut b = XmrMiner::connect(&addr).await;
    assert_eq!(b.login(MINER_B, "x").await["result"]["status"], "OK");
    // A share that is not also a block (1 in 12 would be): the solo block must be
    // the only block of this test.
    let share = loop {
        let s = b.find_share(None, 10_000).expect("share");
        if !defpool_core::pow::check_hash(&s.hash, u128::from(NETWORK_DIFFICULTY)) {
            break s;
        }
    };
    assert_eq!(b.submit(&share).await["result"]["status"], "OK");

    let mut solo = XmrMiner::connect(&addr).await;
    let login = solo
        .login(&format!("solo:{}.solo-rig", pool.miner_a), "x")
        .await;
    assert_eq!(login["result"]["status"], "OK", "{login}");
    mine_until_blocks(&node, &mut solo, 1, Duration::from_secs(240)).await;
    let block = node.get("/api/v1/blocks").await["items"][0].clone();
    assert_eq!(block["mode"], "solo");
    assert_eq!(block["finder"].as_str().unwrap(), pool.miner_a);
    pool.monerod.generate(4, &pool.pool_address).await;
    wait_until(
        "the solo block confirmed",
        Duration::from_secs(60),
        || async {
            node.get("/api/v1/blocks?status=confirmed").await["items"]
                .as_array()
                .map(|a| a.len())
                == Some(1)
        },
    )
    .await;
    let reward = atomic(&block["reward"]);
    let fee = reward / 100;
    assert_eq!(
        atomic(
            &node
                .get(&format!("/api/v1/miners/{}/balance/XMR", pool.miner_a))
                .await["balance"]
        ),
        reward - fee
    );
    assert_eq!(
        atomic(
            &node
                .get(&format!("/api/v1/miners/{MINER_B}/balance/XMR"))
                .await["balance"]
        ),
        0
    );
    assert_eq!(
        atomic(
            &node
                .get(&format!("/api/v1/miners/{}/balance/XMR", pool.pool_address))
                .await["balance"]
        ),
        fee
    );

    // Three invalid shares ban the address: the session is closed and new
    // connections from it are refused.
    let mut bad = XmrMiner::connect(&addr).await;
    assert_eq!(bad.login(MINER_B, "bad").await["result"]["status"], "OK");
    for _ in 0..2 {
        let weak = bad.find_weak_share();
        assert_eq!(
            error_message(&bad.submit(&weak).await),
            "Low difficulty share"
        );
    }
    let weak = bad.find_weak_share();
    let session = bad.session.clone().unwrap();
    bad.send_raw(format!("{}\n", json!({"id": 99, "method": "submit", "params": {"id": session, "job_id": weak.job_id, "nonce": hex::encode(weak.nonce), "result": hex::encode(weak.hash)}})).as_bytes())
        .await
        .unwrap();
    let mut closed = false;
    for _ in 0..3 {
        match bad.read().await {
            None => {
                closed = true;
                break;
            }
            Some(v) if v["method"] == "job" => continue,
            Some(_) => continue,
        }
    }
    assert!(closed, "the banned session is closed");
    let mut again = XmrMiner::connect(&addr).await;
    let _ = again
        .send_raw(b"{\"id\":1,\"method\":\"login\",\"params\":{\"login\":\"x\"}}\n")
        .await;
    assert!(again.read().await.is_none(), "a banned address is refused");
    // The log is read from the node's stderr by a thread: wait for the line.
    node.wait_for_log("banned after 3 invalid shares", Duration::from_secs(10))
        .await;
}
