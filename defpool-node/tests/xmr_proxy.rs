//! Proxy mode for Monero, with real components: an upstream DefPool node in pool
//! mode on a regtest monerod, and a proxy node in front of it. Test miners (real
//! RandomX, xmrig's protocol) connect to the proxy.

mod support;

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{json, Value};
use support::monero::Monerod;
use support::node::Node;
use support::pool::{walletless_stratum_config, MINER_B, MINER_C, TOKEN};
use support::xmr_miner::{error_message, XmrMiner};
use support::{free_port, have_program, wait_until};

const MINER: &str = "42ey1afDFnn4886T7196doS9GPMzexD9gXpsZJDwVjeRVdFCSoHnv7KPbBeGpzJBzHRCAs9UxqeoyFQMYbqSWYTfJJQAWDm";

/// An upstream node: pool mode on `monerod`, every hash a share (difficulty 1).
async fn upstream(dir: &std::path::Path, monerod: &Monerod) -> (Node, u16) {
    let (api, port) = (free_port(), free_port());
    let config = walletless_stratum_config(dir, api, port, &[&monerod.url], "", "");
    std::fs::create_dir_all(dir).unwrap();
    (Node::start(dir, &config, TOKEN, &[]).await, port)
}

fn proxy_config(
    dir: &std::path::Path,
    api: u16,
    port: u16,
    upstreams: &[u16],
    extra: &str,
    coin_extra: &str,
) -> String {
    let upstreams: String = upstreams
        .iter()
        .map(|p| {
            format!("  [[coins.upstreams]]\n  url = \"stratum+tcp://127.0.0.1:{p}\"\n  login = \"{MINER_B}\"\n")
        })
        .collect();
    format!(
        r#"data_dir = "{data}"
[api]
listen = "127.0.0.1:{api}"
admin_token = "{TOKEN}"
[stratum]
verify_threads = 1
[proxy]
credit_interval = "500ms"
{extra}
[[coins]]
symbol = "XMR"
network = "regtest"
mode = "proxy"
scheme = "pps"
pool_address = "{MINER_B}"
{coin_extra}
{upstreams}
[[ports]]
listen = "127.0.0.1:{port}"
protocol = "sv1"
coin = "XMR"
difficulty = 1
"#,
        data = dir.join("data").display()
    )
}

async fn proxy(
    dir: &std::path::Path,
    upstreams: &[u16],
    extra: &str,
    coin_extra: &str,
) -> (Node, String) {
    let (api, port) = (free_port(), free_port());
    std::fs::create_dir_all(dir).unwrap();
    let node = Node::start(
        dir,
        &proxy_config(dir, api, port, upstreams, extra, coin_extra),
        TOKEN,
        &[],
    )
    .await;
    (node, format!("127.0.0.1:{port}"))
}

async fn report(node: &Node) -> Value {
    node.get("/api/v1/proxy").await
}

/// Mines on the current job until one share is accepted by the proxy.
async fn mine_one(miner: &mut XmrMiner) -> Value {
    loop {
        if let Some(share) = miner.find_share(None, 200) {
            return miner.submit(&share).await;
        }
        // Pick up a newer job if one came.
        let _ = tokio::time::timeout(Duration::from_millis(10), miner.read()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shares_and_blocks_flow_through_the_proxy_and_miners_are_credited_pps() {
    if !have_program("monerod") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Network difficulty 20: about one share in twenty is a block.
    let monerod = Monerod::start(dir.path(), 20).await;
    let start_height = monerod.tip().await;
    let (up, up_port) = upstream(&dir.path().join("up"), &monerod).await;
    let daemon = format!("  [[coins.daemons]]\n  url = \"{}\"\n", monerod.url);
    let (px, addr) = proxy(
        &dir.path().join("proxy"),
        &[up_port],
        "[intervals]\nprofit_monitor = \"1s\"",
        &daemon,
    )
    .await;

    let mut miner = XmrMiner::connect(&addr).await;
    let login = miner.login(&format!("{MINER}.rig1"), "x").await;
    assert_eq!(error_message(&login), "", "{login}");
    assert!(miner.nicehash, "the proxy announces nicehash: {login}");
    let blob = hex::decode(miner.job.as_ref().unwrap()["blob"].as_str().unwrap()).unwrap();
    let slot = blob[42];

    // Bad shares are refused by the proxy itself and never reach the upstream.
    let mut bad = miner
        .find_share(None, 1)
        .expect("every hash meets difficulty 1");
    bad.hash = [0u8; 32];
    let r = miner.submit(&bad).await;
    assert!(error_message(&r).contains("Invalid share"), "{r}");
    let mut outside = miner.find_share(None, 1).expect("a share");
    outside.nonce[3] = slot.wrapping_add(1);
    let r = miner.submit(&outside).await;
    assert!(
        error_message(&r).contains("Invalid nonce"),
        "outside the slot: {r}"
    );
    let r = miner
        .call("submit", json!({"id": miner.session, "job_id": "999", "nonce": "00000000", "result": hex::encode([0u8; 32])}))
        .await;
    assert!(error_message(&r).contains("Invalid job id"), "{r}");

    // Good shares until the upstream records a block found through the proxy.
    let mut accepted = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(240);
    let block = loop {
        let r = mine_one(&mut miner).await;
        assert_eq!(error_message(&r), "", "{r}");
        accepted += 1;
        let blocks = up.get("/api/v1/blocks").await;
        if let Some(b) = blocks["items"].as_array().and_then(|b| b.first()).cloned() {
            break b;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no block after {accepted} shares"
        );
    };
    // The upstream credits the block to the proxy's account and the chain has it.
    assert_eq!(block["finder"], MINER_B, "{block}");
    let height = block["height"].as_u64().unwrap();
    assert!(height > start_height);
    let (hash, _) = monerod.block_at(height).await;
    assert_eq!(block["hash"], hash);

    // Every share the proxy accepted reached the upstream and was accepted there,
    // and the proxy credits them PPS once it knows the network difficulty.
    wait_until(
        "upstream verdicts recorded",
        Duration::from_secs(30),
        || async {
            let r = report(&px).await;
            r["coins"][0]["accepted"].as_u64() == Some(accepted)
        },
    )
    .await;
    let r = report(&px).await;
    let coin = &r["coins"][0];
    assert_eq!(coin["rejected"], 0, "{r}");
    assert_eq!(coin["lost"], 0, "{r}");
    assert_eq!(coin["connections"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(coin["connections"][0]["miners"], 1);
    // The upstream counted them for the proxy's account.
    wait_until(
        "upstream share records",
        Duration::from_secs(30),
        || async { valid_shares(&up, MINER_B).await >= accepted },
    )
    .await;
    // PPS: every accepted share credited by its expected value, less the 1 % fee.
    wait_until("PPS credits", Duration::from_secs(60), || async {
        report(&px).await["coins"][0]["uncredited"] == 0
    })
    .await;
    let r = report(&px).await;
    let credited: u64 = r["coins"][0]["credited"]["atomic"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let fees: u64 = r["coins"][0]["fees"]["atomic"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(credited > 0 && fees > 0, "{r}");
    // Each share is worth 1/20 of a block at network difficulty 20, at the reward
    // of the block before it (rewards vary a little from block to block).
    let tip = monerod.tip().await;
    let mut rewards = Vec::new();
    for h in 0..=tip {
        if let Ok(header) = monerod
            .try_rpc("get_block_header_by_height", json!({"height": h}))
            .await
        {
            if let Some(r) = header["block_header"]["reward"].as_u64() {
                rewards.push(r);
            }
        }
    }
    let per_share = (credited + fees) / accepted;
    let (lo, hi) = (
        rewards.iter().min().unwrap() / 20,
        rewards.iter().max().unwrap() / 20,
    );
    assert!(
        (lo.saturating_sub(1)..=hi).contains(&per_share),
        "per share {per_share}, rewards {rewards:?}: {r}"
    );
    // 1 % of each share's value, rounded down per share.
    let total = credited + fees;
    assert!(
        fees <= total / 100 && fees + accepted >= total / 100,
        "fees {fees} of {total}: {r}"
    );
    // The reconciliation's expected side; this proxy has no wallet to ask.
    let expected: u64 = r["coins"][0]["expected"]["atomic"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(expected, credited + fees);
    assert_eq!(r["coins"][0]["received"], Value::Null);
    assert!(r["coins"][0]["received_error"]
        .as_str()
        .unwrap()
        .contains("no wallet"));
    // The operator's view of the same, from defpool-ctl.
    let out = px.ctl(&["proxy"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(&format!(
            "XMR: {accepted} accepted, 0 rejected, 0 lost upstream"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("stratum+tcp://127.0.0.1:{up_port}")),
        "{text}"
    );
    let balance = px.get(&format!("/api/v1/miners/{MINER}/balances")).await;
    assert!(
        balance.to_string().contains(&credited.to_string()),
        "{balance}"
    );
    let audit = px.get("/api/v1/admin/audit").await;
    assert_eq!(audit["ok"], true, "{audit}");

    // The same port serves a solo miner from the proxy's own daemon: its block is
    // found by the proxy node and named for the miner.
    let mut solo = XmrMiner::connect(&addr).await;
    let login = solo.login(&format!("solo:{MINER}.solo1"), "x").await;
    assert_eq!(error_message(&login), "", "{login}");
    assert!(
        !solo.nicehash,
        "a daemon job, not an upstream slot: {login}"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(240);
    let solo_block = loop {
        let r = mine_one(&mut solo).await;
        assert_eq!(error_message(&r), "", "{r}");
        let blocks = px.get("/api/v1/blocks").await;
        if let Some(b) = blocks["items"].as_array().and_then(|b| b.first()).cloned() {
            break b;
        }
        assert!(std::time::Instant::now() < deadline, "no solo block");
    };
    assert_eq!(solo_block["finder"], MINER, "{solo_block}");
    assert_eq!(solo_block["mode"], "solo", "{solo_block}");
    let (hash, _) = monerod
        .block_at(solo_block["height"].as_u64().unwrap())
        .await;
    assert_eq!(solo_block["hash"], hash);
    let _ = MINER_C;
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
async fn three_hundred_miners_share_two_upstream_connections_without_overlapping_nonces() {
    if !have_program("monerod") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let monerod = Monerod::start(dir.path(), 1_000_000).await;
    let (_up, up_port) = upstream(&dir.path().join("up"), &monerod).await;
    let (px, addr) = proxy(&dir.path().join("proxy"), &[up_port], "", "").await;

    let mut miners = Vec::new();
    let mut keys = HashSet::new();
    for i in 0..300 {
        let mut m = XmrMiner::connect(&addr).await;
        let r = m.login(&format!("{MINER}.w{i}"), "x").await;
        assert_eq!(error_message(&r), "", "miner {i}: {r}");
        let job = m.job.clone().unwrap();
        let blob = hex::decode(job["blob"].as_str().unwrap()).unwrap();
        // A miner's nonce space: its connection's blob (which differs per upstream
        // connection: another extra nonce in the coinbase) and its top nonce byte.
        let mut space = blob.clone();
        space[39..42].fill(0);
        assert!(
            keys.insert(space),
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
    assert!(connections
        .iter()
        .all(|c| c["miners"].as_u64().unwrap() <= 256));

    // Shares from miners on both connections are accepted upstream.
    for i in [0usize, 255, 256, 299] {
        let r = mine_one(&mut miners[i]).await;
        assert_eq!(error_message(&r), "", "miner {i}: {r}");
    }
    wait_until("four verdicts", Duration::from_secs(30), || async {
        report(&px).await["coins"][0]["accepted"].as_u64() == Some(4)
    })
    .await;
    // A miner that submits and leaves without reading the answer: its share still
    // goes upstream and its verdict is recorded.
    let mut leaving = miners.pop().expect("miner 299");
    let share = loop {
        if let Some(s) = leaving.find_share(None, 200) {
            break s;
        }
    };
    let line = format!(
        "{}\n",
        json!({"id": 99, "method": "submit", "params": {"id": leaving.session, "job_id": share.job_id, "nonce": hex::encode(share.nonce), "result": hex::encode(share.hash)}})
    );
    leaving.send_raw(line.as_bytes()).await.unwrap();
    drop(leaving);
    wait_until(
        "the leaving miner's verdict",
        Duration::from_secs(30),
        || async { report(&px).await["coins"][0]["accepted"].as_u64() == Some(5) },
    )
    .await;
    // A miner that leaves frees its slot for the next one.
    drop(miners.pop());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut m = XmrMiner::connect(&addr).await;
    assert_eq!(error_message(&m.login(MINER, "x").await), "");
    let r = report(&px).await;
    assert_eq!(
        r["coins"][0]["connections"].as_array().unwrap().len(),
        connections.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_first_upstream_moves_miners_to_the_second_without_reconnecting_them() {
    if !have_program("monerod") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let monerod = Monerod::start(dir.path(), 1_000_000).await;
    let (mut first, first_port) = upstream(&dir.path().join("up1"), &monerod).await;
    let (second, second_port) = upstream(&dir.path().join("up2"), &monerod).await;
    let (px, addr) = proxy(
        &dir.path().join("proxy"),
        &[first_port, second_port],
        "",
        "",
    )
    .await;

    let mut miner = XmrMiner::connect(&addr).await;
    assert_eq!(error_message(&miner.login(MINER, "x").await), "");
    let r = mine_one(&mut miner).await;
    assert_eq!(error_message(&r), "", "{r}");
    let r = report(&px).await;
    assert!(
        r["coins"][0]["connections"][0]["upstream"]
            .as_str()
            .unwrap()
            .ends_with(&first_port.to_string()),
        "{r}"
    );

    wait_until(
        "the first upstream's verdict",
        Duration::from_secs(30),
        || async { report(&px).await["coins"][0]["accepted"].as_u64() == Some(1) },
    )
    .await;
    first.kill9();
    let killed = std::time::Instant::now();
    // The miner's connection stays; a job from the second upstream arrives on it.
    let before = miner.jobs.len();
    loop {
        let msg = miner
            .read()
            .await
            .expect("the proxy kept the miner connected");
        if msg["method"] == "job" && miner.jobs.len() > before {
            break;
        }
    }
    let moved_after = killed.elapsed();
    assert!(
        moved_after < Duration::from_secs(10),
        "took {moved_after:?}"
    );
    let r = report(&px).await;
    assert!(
        r["coins"][0]["connections"][0]["upstream"]
            .as_str()
            .unwrap()
            .ends_with(&second_port.to_string()),
        "{r}"
    );

    // Shares on the new job are accepted by the second upstream.
    let r = mine_one(&mut miner).await;
    assert_eq!(error_message(&r), "", "{r}");
    wait_until(
        "the second upstream's verdict",
        Duration::from_secs(30),
        || async { report(&px).await["coins"][0]["accepted"].as_u64() == Some(2) },
    )
    .await;
    wait_until(
        "the second upstream's share record",
        Duration::from_secs(30),
        || async { valid_shares(&second, MINER_B).await >= 1 },
    )
    .await;
}

/// A scripted upstream that misbehaves on purpose: garbage lines, a job that cannot be
/// parsed, an answer to a request it was never sent, a rejection, and a connection
/// dropped while a share waits for its verdict; then it accepts the reconnect.
async fn next(
    lines: &mut tokio::io::Lines<tokio::io::BufReader<tokio::net::tcp::OwnedReadHalf>>,
) -> Value {
    let line = lines.next_line().await.unwrap().expect("a request");
    serde_json::from_str::<Value>(&line).unwrap()
}

async fn misbehaving_upstream(listener: tokio::net::TcpListener) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let sample: Value = serde_json::from_str(include_str!(
        "../../../shared/samples/xmr_stub_login_response.json"
    ))
    .unwrap();
    let job = sample["result"]["job"].clone();
    for connection in 0..2 {
        let (socket, _) = listener.accept().await.unwrap();
        let (r, mut w) = socket.into_split();
        let mut lines = BufReader::new(r).lines();
        let login = next(&mut lines).await;
        assert_eq!(login["method"], "login");
        let mut job = job.clone();
        job["job_id"] = json!(format!("job-{connection}"));
        let reply = json!({"id": login["id"], "jsonrpc": "2.0", "error": null,
            "result": {"id": "upstream-session", "job": job, "status": "OK"}});
        w.write_all(format!("{reply}\n").as_bytes()).await.unwrap();
        if connection == 1 {
            let submit = next(&mut lines).await;
            assert_eq!(submit["params"]["job_id"], "job-1");
            let ok = json!({"id": submit["id"], "error": null, "result": {"status": "OK"}});
            w.write_all(format!("{ok}\n").as_bytes()).await.unwrap();
            // Keep the connection open until the test ends.
            let _ = lines.next_line().await;
            return;
        }
        w.write_all(b"this is not json\n{\"method\":\"job\",\"params\":{\"blob\":\"zz\",\"job_id\":\"bad\",\"target\":\"ffffffff\"}}\n[1,2,3]\n")
            .await
            .unwrap();
        // Share 1: an answer to an unknown id first, then a rejection.
        let s1 = next(&mut lines).await;
        let stray = json!({"id": 99999, "error": null, "result": {"status": "OK"}});
        let reject = json!({"id": s1["id"], "result": null, "error": {"code": -1, "message": "Low difficulty share"}});
        w.write_all(format!("{stray}\n{reject}\n").as_bytes())
            .await
            .unwrap();
        // Share 2: accepted.
        let s2 = next(&mut lines).await;
        let ok = json!({"id": s2["id"], "error": null, "result": {"status": "OK"}});
        w.write_all(format!("{ok}\n").as_bytes()).await.unwrap();
        // Share 3: the connection drops before the verdict.
        let s3 = next(&mut lines).await;
        assert_eq!(s3["method"], "submit");
        drop(w);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_upstream_input_neither_crashes_the_proxy_nor_loses_miner_shares() {
    let dir = tempfile::tempdir().unwrap();
    let upstream_port = free_port();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", upstream_port))
        .await
        .unwrap();
    let script = tokio::spawn(misbehaving_upstream(listener));
    let (px, addr) = proxy(&dir.path().join("proxy"), &[upstream_port], "", "").await;

    let mut miner = XmrMiner::connect(&addr).await;
    let login = miner.login(MINER, "x").await;
    assert_eq!(error_message(&login), "", "{login}");
    assert_eq!(miner.job.as_ref().unwrap()["height"], 95);
    // Three shares, each answered by the proxy at once whatever the upstream does.
    for i in 0..3 {
        let share = miner.find_share(None, 1).expect("difficulty 1");
        let r = miner.submit(&share).await;
        assert_eq!(error_message(&r), "", "share {i}: {r}");
    }
    // The proxy reconnects and the miner, still connected, gets the new job.
    let before = miner.jobs.len();
    while miner.jobs.len() == before {
        miner
            .read()
            .await
            .expect("the proxy kept the miner connected");
    }
    let share = miner.find_share(None, 1).expect("difficulty 1");
    assert_eq!(error_message(&miner.submit(&share).await), "");
    wait_until(
        "every verdict recorded",
        Duration::from_secs(30),
        || async {
            let c = report(&px).await["coins"][0].clone();
            (
                c["accepted"].as_u64(),
                c["rejected"].as_u64(),
                c["lost"].as_u64(),
            ) == (Some(2), Some(1), Some(1))
        },
    )
    .await;
    let health = px.get("/api/v1/health").await;
    let upstream = format!("upstream:XMR:stratum+tcp://127.0.0.1:{upstream_port}");
    let component = health["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == upstream.as_str())
        .cloned();
    assert_eq!(
        component.map(|c| c["status"].clone()),
        Some(json!("ok")),
        "{health}"
    );
    script.abort();
}
