//! Stratum limits against the real node and a real monerod: the file-descriptor
//! ceiling, idle sessions, floods of malformed requests, and daemon failover.

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::monero::Monerod;
use support::node::Node;
use support::pool::{walletless_stratum_config, MINER_B, MINER_C, TOKEN};
use support::xmr_miner::{error_message, XmrMiner};
use support::{free_port, have_program};
use tokio::io::AsyncReadExt;

fn config(
    dir: &std::path::Path,
    api_port: u16,
    stratum_port: u16,
    daemons: &[&str],
    stratum: &str,
) -> String {
    walletless_stratum_config(dir, api_port, stratum_port, daemons, stratum, "")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_node_refuses_new_miners_loudly_and_keeps_serving_its_own() {
    if !have_program("monerod") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let monerod = Monerod::start(dir.path(), 1).await;
    let (api, stratum) = (free_port(), free_port());
    // 400 descriptors: 200 are kept for the node itself, so 200 miner sessions fit.
    let node = Node::start_limited(
        dir.path(),
        &config(dir.path(), api, stratum, &[&monerod.url], ""),
        TOKEN,
        400,
    )
    .await;
    let addr = format!("127.0.0.1:{stratum}");

    let mut first = XmrMiner::connect(&addr).await;
    assert_eq!(
        first.login(MINER_B, "first").await["result"]["status"],
        "OK"
    );

    let mut held = Vec::new();
    for _ in 0..260 {
        held.push(
            tokio::net::TcpStream::connect(&addr)
                .await
                .expect("connect"),
        );
    }
    // The node closes what it cannot hold; count the sockets that see EOF.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut refused = 0;
    for s in held.iter_mut() {
        let mut b = [0u8; 1];
        if let Ok(Ok(0)) = tokio::time::timeout(Duration::from_millis(5), s.read(&mut b)).await {
            refused += 1;
        }
    }
    assert!(
        (55..=65).contains(&refused),
        "refused {refused} of 260 with 199 free sessions"
    );
    node.wait_for_log("node full: refusing new miners", Duration::from_secs(5))
        .await;
    assert!(node.log().contains("90 % of session capacity in use"));
    assert_eq!(
        node.log().matches("node full: refusing new miners").count(),
        1,
        "the refusal log is rate-limited"
    );
    let metrics = reqwest::get(format!("http://127.0.0.1:{api}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("defpool_stratum_max_sessions 200"),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!("defpool_stratum_refused_full_total {refused}")),
        "{metrics}"
    );

    // The miner it already had is still served.
    let session = first.session.clone().unwrap();
    let r = first.call("keepalived", json!({"id": session})).await;
    assert_eq!(r["result"]["status"], "KEEPALIVED");
    let share = first.find_share(None, 1_000).expect("share");
    assert_eq!(first.submit(&share).await["result"]["status"], "OK");

    // Capacity comes back when miners leave.
    drop(held);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut later = XmrMiner::connect(&addr).await;
    assert_eq!(
        later.login(MINER_B, "later").await["result"]["status"],
        "OK"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_flooding_sessions_are_closed() {
    if !have_program("monerod") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let monerod = Monerod::start(dir.path(), 1).await;
    let (api, stratum) = (free_port(), free_port());
    let settings =
        "idle_timeout = \"1s\"\nmax_bad_messages_per_minute = 3\nmax_line_bytes = 1024\n";
    let node = Node::start(
        dir.path(),
        &config(dir.path(), api, stratum, &[&monerod.url], settings),
        TOKEN,
        &[],
    )
    .await;
    let addr = format!("127.0.0.1:{stratum}");

    let mut idle = XmrMiner::connect(&addr).await;
    let started = Instant::now();
    assert!(idle.read().await.is_none(), "an idle session is closed");
    assert!(started.elapsed() >= Duration::from_millis(900));

    let mut flood = XmrMiner::connect(&addr).await;
    for i in 0..3 {
        flood.send_raw(b"garbage\n").await.unwrap();
        let r = flood
            .read()
            .await
            .unwrap_or_else(|| panic!("closed after {i} bad lines"));
        assert!(
            r["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("Malformed"),
            "{r}"
        );
    }
    flood.send_raw(b"garbage\n").await.unwrap();
    let _ = flood.read().await;
    assert!(
        flood.read().await.is_none(),
        "the 4th bad line in a minute closes the session"
    );

    let mut long = XmrMiner::connect(&addr).await;
    long.send_raw(&[b'x'; 2000]).await.unwrap();
    let r = long.read().await;
    assert!(r.as_ref().is_none_or(|v| v["error"].is_object()));
    assert!(
        long.read().await.is_none(),
        "a line over max_line_bytes closes the session"
    );
    node.wait_for_log("too many malformed requests", Duration::from_secs(10))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn miners_keep_working_when_the_primary_daemon_stops() {
    if !have_program("monerod") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut primary = Monerod::start(dir.path(), 1).await;
    let secondary = Monerod::start(dir.path(), 1).await;
    // Independent regtest chains of different lengths, so jobs show their source.
    // The shorter secondary counts as lagging while the primary is up.
    primary.generate(5, MINER_C).await;
    let (api, stratum) = (free_port(), free_port());
    let node = Node::start(
        dir.path(),
        &config(
            dir.path(),
            api,
            stratum,
            &[&primary.url, &secondary.url],
            "",
        ),
        TOKEN,
        &[],
    )
    .await;
    let addr = format!("127.0.0.1:{stratum}");

    let mut miner = XmrMiner::connect(&addr).await;
    let login = miner.login(MINER_B, "x").await;
    assert_eq!(login["result"]["status"], "OK", "{login}");
    // Both daemons are healthy; the node takes the first (primary) unless it lags.
    let primary_height = primary.tip().await + 1;
    let secondary_height = secondary.tip().await + 1;
    assert_ne!(primary_height, secondary_height);

    primary.kill();
    // A new job from the secondary arrives without the miner reconnecting.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if miner
            .job
            .as_ref()
            .is_some_and(|j| j["height"].as_u64() == Some(secondary_height))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no job from the secondary; log:\n{}",
            node.log()
        );
        let _ = tokio::time::timeout(Duration::from_secs(1), miner.read()).await;
    }
    let share = miner.find_share(None, 1_000).expect("share");
    let r = miner.submit(&share).await;
    assert!(
        error_message(&r).is_empty(),
        "share on the secondary's job: {r}"
    );
    let health: serde_json::Value = reqwest::get(format!("http://127.0.0.1:{api}/api/v1/health"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let down: Vec<_> = health["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "down")
        .collect();
    assert!(
        down.iter()
            .any(|c| c["name"].as_str().unwrap().contains(&primary.url)),
        "{health}"
    );
}
