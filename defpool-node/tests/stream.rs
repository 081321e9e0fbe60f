//! The live stream (`GET /api/v1/stream`) against a real node mining Litecoin on two
//! regtest litecoind nodes: the snapshot describes the pool, and the events follow
//! what really happened (share windows, templates, blocks found and confirmed,
//! balances, payout states); a miner's public stream carries only that miner; bad
//! tokens are refused.

mod support;

use std::time::{Duration, Instant};

use defpool_core::pow::bitcoin::PowAlgorithm;
use defpool_core::stream::{Event, StreamMessage};
use futures_util::StreamExt;
use serde_json::json;
use support::btc_miner::BtcMiner;
use support::free_port;
use support::litecoin::{LitecoinPair, Litecoind, RPC_PASSWORD, RPC_USER};
use support::node::Node;
use support::pool::TOKEN;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn config(dir: &std::path::Path, ltc: &Litecoind, pool: &str, api: u16, stratum: u16) -> String {
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
[[coins]]
symbol = "LTC"
network = "regtest"
pool_address = "{pool}"
maturity = 2
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
listen = "127.0.0.1:{stratum}"
protocol = "sv1"
coin = "LTC"
difficulty = 0.001
"#,
        data = dir.join("data").display(),
        url = ltc.url,
    )
}

async fn connect(api: u16, query: &str, token: Option<&str>) -> Result<Ws, u16> {
    let mut request = format!("ws://127.0.0.1:{api}/api/v1/stream{query}")
        .into_client_request()
        .unwrap();
    if let Some(t) = token {
        request
            .headers_mut()
            .insert("Authorization", format!("Bearer {t}").parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
        Err(e) => panic!("stream connect: {e}"),
    }
}

async fn next(ws: &mut Ws) -> StreamMessage {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .expect("a stream message within 30 s")
            .expect("stream open")
            .expect("frame");
        if let tokio_tungstenite::tungstenite::Message::Text(t) = frame {
            return serde_json::from_str(&t).unwrap_or_else(|e| panic!("bad message ({e}): {t}"));
        }
    }
}

/// Reads events until `pred` holds for one, returning every event read.
async fn until(ws: &mut Ws, what: &str, mut pred: impl FnMut(&Event) -> bool) -> Vec<Event> {
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut seen = Vec::new();
    loop {
        assert!(Instant::now() < deadline, "no {what}; saw {seen:?}");
        if let StreamMessage::Event(e) = next(ws).await {
            let hit = pred(&e.event);
            seen.push(e.event);
            if hit {
                return seen;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_follows_shares_blocks_balances_and_payouts() {
    let Some(pair) = LitecoinPair::start().await else {
        return;
    };
    let ltc = &pair.main;
    let pool = ltc.wallet_with_address("pool").await;
    let miner = ltc.wallet_with_address("miners").await;
    let other = ltc
        .call(
            &Litecoind::wallet_path("miners"),
            "getnewaddress",
            json!([]),
        )
        .await
        .as_str()
        .unwrap()
        .to_string();
    ltc.generate(101, &pool).await;
    let (api, stratum) = (free_port(), free_port());
    let node = Node::start(
        pair.path(),
        &config(pair.path(), ltc, &pool, api, stratum),
        TOKEN,
        &[],
    )
    .await;

    // Refused: no token, a wrong token, a miner that is no address.
    assert_eq!(connect(api, "", None).await.err(), Some(401));
    assert_eq!(connect(api, "", Some("wrong")).await.err(), Some(401));
    assert_eq!(connect(api, "?miner=nope", None).await.err(), Some(400));

    let mut admin = connect(api, "", Some(TOKEN)).await.expect("admin stream");
    let StreamMessage::Snapshot(snapshot) = next(&mut admin).await else {
        panic!("the first message is a snapshot");
    };
    assert_eq!((snapshot.version, snapshot.scope.as_str()), (1, "admin"));
    assert_eq!(snapshot.ports[0].coin, "LTC");
    assert_eq!(snapshot.coins[0].coin, "LTC");
    assert!(snapshot
        .health
        .iter()
        .any(|c| c.name == "database" && c.status == "ok"));
    let mut mine = connect(api, &format!("?miner={miner}"), None)
        .await
        .expect("miner stream");
    let StreamMessage::Snapshot(own) = next(&mut mine).await else {
        panic!("snapshot first");
    };
    assert_eq!(own.scope, "miner");
    assert!(
        own.health.is_empty(),
        "a miner does not see the node's health"
    );

    // Two miners: ours and another; each finds blocks (every share is one on regtest).
    let addr = format!("127.0.0.1:{stratum}");
    let mut a = BtcMiner::connect(&addr, PowAlgorithm::Scrypt).await;
    a.subscribe().await;
    a.authorize(&format!("{miner}.rig"), "x").await;
    a.wait_for_job().await;
    let mut b = BtcMiner::connect(&addr, PowAlgorithm::Scrypt).await;
    b.subscribe().await;
    b.authorize(&format!("{other}.rig"), "x").await;
    b.wait_for_job().await;
    for (m, who) in [(&mut a, &miner), (&mut b, &other)] {
        let d = m.difficulty;
        let share = m.find_share(d, 100_000).expect("share");
        let r = m.submit(&format!("{who}.rig"), &share).await;
        assert_eq!(r["result"], true, "{r}");
    }

    let seen = until(&mut admin, "a block_found", |e| {
        matches!(e, Event::BlockFound { .. })
    })
    .await;
    for who in [&miner, &other] {
        assert!(
            seen.iter().any(|e| matches!(e, Event::MinerConnected { miner: m, worker, .. } if m == who && worker == "rig")),
            "{who} connected: {seen:?}"
        );
    }
    let found = seen
        .iter()
        .find_map(|e| match e {
            Event::BlockFound { block } => Some(block.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(found.coin, "LTC");
    assert_eq!(
        ltc.call("", "getblockhash", json!([found.height])).await,
        found.hash.as_str()
    );
    until(
        &mut admin,
        "a new template",
        |e| matches!(e, Event::NewTemplate { coin, .. } if coin == "LTC"),
    )
    .await;
    let seen = until(
        &mut admin,
        "a share window with a miner",
        |e| matches!(e, Event::Shares { miners, .. } if !miners.is_empty()),
    )
    .await;
    let total_accepted: u64 = seen
        .iter()
        .map(|e| match e {
            Event::Shares { accepted, .. } => *accepted,
            _ => 0,
        })
        .sum();
    assert!(total_accepted >= 1);

    // Maturity: confirmed blocks and changed balances arrive as events.
    ltc.generate(3, &pool).await;
    until(&mut admin, "a confirmed block", |e| {
        matches!(e, Event::BlockConfirmed { .. })
    })
    .await;
    until(&mut admin, "a balance change", |e| {
        matches!(e, Event::BalanceChanged { .. })
    })
    .await;

    // A payout: pending, then completed, as events.
    let (st, p) = node
        .request(
            "POST",
            &format!("/api/v1/miners/{miner}/payout"),
            Some(TOKEN),
            Some(r#"{"coin":"LTC"}"#),
        )
        .await;
    assert_eq!(st, 201, "{p}");
    until(&mut admin, "the payout pending", |e| {
        matches!(e, Event::PayoutChanged { payout } if payout.miner == miner && payout.status.as_str() == "pending")
    })
    .await;
    until(&mut admin, "the payout completed", |e| {
        matches!(e, Event::PayoutChanged { payout } if payout.miner == miner && payout.status.as_str() == "completed")
    })
    .await;

    // The miner's own stream saw its payout and never another miner's events.
    let seen = until(
        &mut mine,
        "its payout completed",
        |e| matches!(e, Event::PayoutChanged { payout } if payout.status.as_str() == "completed"),
    )
    .await;
    assert!(
        seen.iter()
            .any(|e| matches!(e, Event::MinerConnected { miner: m, .. } if m == &miner)),
        "the miner sees its own connection: {seen:?}"
    );
    drop(b);
    until(
        &mut admin,
        "the other miner leaving",
        |e| matches!(e, Event::MinerDisconnected { miner: m, .. } if m == &other),
    )
    .await;
    for e in &seen {
        match e {
            Event::Shares { miners, .. } => assert!(miners.is_empty(), "{e:?}"),
            Event::PayoutChanged { payout } => assert_eq!(payout.miner, miner),
            Event::BalanceChanged { miner: m, .. } => assert_eq!(m, &miner),
            Event::MinerConnected { miner: m, .. } | Event::MinerDisconnected { miner: m, .. } => {
                assert_eq!(m, &miner)
            }
            Event::HealthChanged { .. } | Event::Log { .. } => panic!("admin-only event: {e:?}"),
            _ => {}
        }
    }

    // Stopping the node closes open streams ("going away") instead of waiting for them.
    let mut node = node;
    let stopping = Instant::now();
    let status = tokio::task::block_in_place(|| node.stop());
    assert!(status.success(), "{status:?}\n{}", node.log());
    assert!(
        stopping.elapsed() < Duration::from_secs(15),
        "stop took {:?}",
        stopping.elapsed()
    );
    let closed = loop {
        match tokio::time::timeout(Duration::from_secs(10), admin.next()).await {
            Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Close(frame)))) => break frame,
            Ok(Some(Ok(_))) => continue,
            other => panic!("no close frame: {other:?}"),
        }
    };
    assert_eq!(closed.map(|f| u16::from(f.code)), Some(1001));
}

/// A client that never reads: the node keeps publishing, drops it with a close reason,
/// and its memory does not grow with the events the client would have had.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_dropped_and_costs_no_memory() {
    let Some(pair) = LitecoinPair::start().await else {
        return;
    };
    let ltc = &pair.main;
    let pool = ltc.wallet_with_address("pool").await;
    let miner = ltc.wallet_with_address("miners").await;
    ltc.generate(101, &pool).await;
    let (api, stratum) = (free_port(), free_port());
    let text = config(pair.path(), ltc, &pool, api, stratum).replace(
        "admin_token = ",
        "stream_send_timeout = \"1s\"\nadmin_token = ",
    );
    let node = Node::start(pair.path(), &text, TOKEN, &[]).await;

    // A WebSocket handshake over a socket with a tiny receive window, then silence.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(2048).unwrap();
    let stream = socket
        .connect(format!("127.0.0.1:{api}").parse().unwrap())
        .await
        .unwrap();
    let mut request = format!("ws://127.0.0.1:{api}/api/v1/stream")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("Authorization", format!("Bearer {TOKEN}").parse().unwrap());
    let (silent, _) = tokio_tungstenite::client_async(request, stream)
        .await
        .expect("handshake");
    let rss_before = node.rss_kib();

    // Mine: every share is a block on regtest, each worth several events.
    let mut m = BtcMiner::connect(&format!("127.0.0.1:{stratum}"), PowAlgorithm::Scrypt).await;
    m.subscribe().await;
    m.authorize(&format!("{miner}.rig"), "x").await;
    m.wait_for_job().await;
    let deadline = Instant::now() + Duration::from_secs(120);
    while !node.log().contains("stream client too slow") {
        assert!(
            Instant::now() < deadline,
            "the silent client was never dropped\n{}",
            node.log()
        );
        while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(5), m.read()).await {}
        let d = m.difficulty;
        if let Some(share) = m.find_share(d, 100_000) {
            let r = m.submit(&format!("{miner}.rig"), &share).await;
            assert!(r["result"] == true || r["error"][0] == 21, "{r}");
        }
    }
    let rss_after = node.rss_kib();
    assert!(
        rss_after < rss_before + 8 * 1024,
        "node memory grew from {rss_before} KiB to {rss_after} KiB"
    );
    // A reader that keeps up is still served.
    let mut reader = connect(api, "", Some(TOKEN)).await.expect("stream");
    assert!(matches!(
        next(&mut reader).await,
        StreamMessage::Snapshot(_)
    ));
    drop(silent);
}
