//! Stratum V2 end to end against two real regtest litecoind nodes: the node serves an
//! SV2 port (Noise NX with an SRI-encoded authority key) in pool mode, SV2 test
//! miners on a standard and an extended channel really compute scrypt on the jobs it
//! sends, the blocks they find are accepted by litecoind with the hash the node
//! recorded, and every share is accounted exactly once. Bad handshakes and messages
//! in the wrong state are refused with the protocol's errors while the node keeps
//! serving, and a node shutdown closes the channels cleanly.

mod support;

use std::time::{Duration, Instant};

use defpool_core::pow::bitcoin::{PowAlgorithm, Target};
use defpool_core::stratum::sv2_key::AuthorityPublicKey;
use serde_json::{json, Value};
use stratum_core::common_messages_sv2::Protocol;
use stratum_core::mining_sv2::SubmitSharesStandard;
use stratum_core::parsers_sv2::{AnyMessageOwned, CommonMessagesOwned, MiningOwned};
use support::litecoin::{LitecoinPair, Litecoind, RPC_PASSWORD, RPC_USER};
use support::node::Node;
use support::pool::TOKEN;
use support::sv2_miner::{Sv2Miner, Sv2Share};
use support::{free_port, wait_until};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// SRI's example authority pair (its pool and translator configs ship it), so SRI
/// tools pointed at a node with this config would work unchanged.
const AUTHORITY_PUBLIC: &str = "9auqWEzQDVyd2oe1JVGFLMLHZtCo2FFqZwtKA5gd9xbuEu7PH72";
const AUTHORITY_SECRET: &str = "mkDLTBBRxdBv998612qipDYoTK3YUrqLe8uWw7gu3iXbSrn2n";
/// As in ltc_pool: above regtest's network difficulty, so the node caps the share
/// target at the network's and every share is a block candidate.
const SHARE_DIFFICULTY: f64 = 0.0015;
/// `SetupConnection` flags of the mining protocol.
const REQUIRES_STANDARD_JOBS: u32 = 1;
const REQUIRES_VERSION_ROLLING: u32 = 4;

fn config(
    dir: &std::path::Path,
    node: &Litecoind,
    pool_address: &str,
    api: u16,
    sv2: u16,
) -> String {
    format!(
        r#"data_dir = "{data}"

[api]
listen = "127.0.0.1:{api}"
admin_token = "{TOKEN}"

[stratum]
block_poll_interval = "100ms"
ban_after_invalid_shares = 1000
max_bad_messages_per_minute = 100

[[coins]]
symbol = "LTC"
network = "regtest"
mode = "pool"
scheme = "pplns"
fee_percent = 1.0
pool_address = "{pool_address}"
maturity = 3
min_payout = "0.001"
auto_payout = false
  [[coins.daemons]]
  url = "{url}"
  user = "{RPC_USER}"
  password = "{RPC_PASSWORD}"

[[ports]]
listen = "127.0.0.1:{sv2}"
protocol = "sv2"
coin = "LTC"
difficulty = {SHARE_DIFFICULTY}
vardiff = {{ target_seconds = 2, min = 0.0001, max = 1000 }}
authority_public_key = "{AUTHORITY_PUBLIC}"
authority_secret_key = "{AUTHORITY_SECRET}"
certificate_validity = "1h"
"#,
        data = dir.join("data").display(),
        url = node.url,
    )
}

fn authority() -> [u8; 32] {
    AUTHORITY_PUBLIC
        .parse::<AuthorityPublicKey>()
        .unwrap()
        .to_bytes()
}

fn mining(m: &AnyMessageOwned) -> Option<&MiningOwned> {
    match m {
        AnyMessageOwned::Mining(m) => Some(m),
        _ => None,
    }
}

fn error_code_of(m: &AnyMessageOwned) -> Option<String> {
    let code = match m {
        AnyMessageOwned::Common(CommonMessagesOwned::SetupConnectionError(e)) => &e.error_code,
        AnyMessageOwned::Mining(MiningOwned::OpenMiningChannelError(e)) => &e.error_code,
        AnyMessageOwned::Mining(MiningOwned::SubmitSharesError(e)) => &e.error_code,
        AnyMessageOwned::Mining(MiningOwned::UpdateChannelError(e)) => &e.error_code,
        _ => return None,
    };
    Some(String::from_utf8_lossy(code.as_bytes()).into_owned())
}

/// Reads until the peer closes; panics if it does not within `wait`.
async fn assert_closed(miner: &mut Sv2Miner, wait: Duration) {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        assert!(!left.is_zero(), "the node did not close the connection");
        match miner.recv(left).await {
            Err(_) => return,
            Ok(Some(_)) => continue,
            Ok(None) => panic!("the node did not close the connection"),
        }
    }
}

/// Sends one share and waits for its answer; the error code if refused.
async fn submit_and_wait(miner: &mut Sv2Miner, share: &Sv2Share) -> Option<String> {
    let refused_before = miner.rejected.len();
    let seq = miner.submit(share).await;
    miner.wait_answered(seq).await;
    (miner.rejected.len() > refused_before).then(|| miner.rejected.last().cloned().unwrap())
}

/// Mines on the newest job until the node recorded `blocks` blocks.
async fn mine_until_blocks(node: &Node, miner: &mut Sv2Miner, blocks: usize) {
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
        miner
            .drain(Duration::from_millis(20))
            .await
            .expect("connection up");
        if let Some(share) = miner.find_share(20_000) {
            if let Some(code) = submit_and_wait(miner, &share).await {
                // A share on a job a block just replaced may be stale or dropped.
                assert!(
                    code == "stale-share" || code == "invalid-job-id",
                    "share refused: {code}"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sv2_miners_find_blocks_litecoind_accepts_every_share_counted_once() {
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
    ltc.generate(101, &pool_address).await;
    let start_height = ltc.height().await;

    let dir = tempfile::tempdir().unwrap();
    let sv2_port = free_port();
    let mut node = Node::start(
        dir.path(),
        &config(dir.path(), ltc, &pool_address, free_port(), sv2_port),
        TOKEN,
        &[],
    )
    .await;
    node.wait_for_log(
        "sv2 port: miners pin this authority key",
        Duration::from_secs(10),
    )
    .await;
    let addr = format!("127.0.0.1:{sv2_port}");

    // A bad handshake: an SV1 miner on the SV2 port. Its bytes are taken as a Noise
    // key, the rest fails authentication, and the node closes the connection.
    let mut sv1 = tokio::net::TcpStream::connect(&addr).await.unwrap();
    sv1.write_all(
        b"{\"id\":1,\"method\":\"mining.subscribe\",\"params\":[\"cpuminer/2.5.1\"]}\n\
          {\"id\":2,\"method\":\"mining.authorize\",\"params\":[\"x\",\"x\"]}\n",
    )
    .await
    .unwrap();
    let mut buf = vec![0u8; 4096];
    let closed = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match sv1.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "an SV1 client on the SV2 port is disconnected"
    );
    // A miner pinning another authority refuses the node's certificate.
    let mut other = authority();
    other[31] ^= 1;
    assert!(
        Sv2Miner::connect(&addr, other, PowAlgorithm::Scrypt)
            .await
            .is_err(),
        "a certificate from another authority is refused by the miner"
    );

    // Wrong state: a channel before SetupConnection is refused, then the connection
    // is closed.
    let mut early = Sv2Miner::connect(&addr, authority(), PowAlgorithm::Scrypt)
        .await
        .expect("handshake");
    early
        .send(Sv2Miner::open_standard(1, &format!("{miner_a}.early"), 0.0))
        .await
        .unwrap();
    let r = early
        .expect("refusal", Duration::from_secs(10), error_code_of)
        .await;
    assert_eq!(r, "connection-not-set-up");
    assert_closed(&mut early, Duration::from_secs(10)).await;

    // Set up, but a share without a channel, an update of no channel and a second
    // setup: each gets its protocol error, and the connection stays.
    let mut lost = Sv2Miner::connect(&addr, authority(), PowAlgorithm::Scrypt)
        .await
        .expect("handshake");
    let r = lost.setup(REQUIRES_STANDARD_JOBS).await;
    assert!(
        matches!(
            r,
            AnyMessageOwned::Common(CommonMessagesOwned::SetupConnectionSuccess(ref s)) if s.used_version == 2
        ),
        "{r:?}"
    );
    lost.submit_raw(SubmitSharesStandard {
        channel_id: 7,
        sequence_number: 1,
        job_id: 1,
        nonce: 0,
        ntime: 0,
        version: 0x2000_0000,
    })
    .await
    .unwrap();
    let r = lost
        .expect("share refusal", Duration::from_secs(10), |m| {
            error_code_of(m)
        })
        .await;
    assert_eq!(r, "invalid-channel-id");
    lost.send(Sv2Miner::update_channel(7, 1000.0))
        .await
        .unwrap();
    let r = lost
        .expect("update refusal", Duration::from_secs(10), |m| {
            error_code_of(m)
        })
        .await;
    assert_eq!(r, "invalid-channel-id");
    // An undecodable message (a known type with a cut payload, an unknown type) is
    // counted, not answered, and the connection goes on.
    lost.send_raw_frame(0x1a, &[1, 2, 3]).await.unwrap();
    lost.send_raw_frame(0x7e, &[0xff; 40]).await.unwrap();
    let r = lost.setup(0).await;
    assert_eq!(
        error_code_of(&r).as_deref(),
        Some("connection-already-set-up")
    );
    let r = lost
        .open(Sv2Miner::open_standard(3, "rltc1qnotanaddress.rig", 0.0))
        .await;
    assert_eq!(error_code_of(&r).as_deref(), Some("unknown-user"));

    // Setup refusals: another protocol version, work selection.
    let mut v3 = Sv2Miner::connect(&addr, authority(), PowAlgorithm::Scrypt)
        .await
        .expect("handshake");
    let mut setup = Sv2Miner::setup_connection(0);
    if let AnyMessageOwned::Common(CommonMessagesOwned::SetupConnection(s)) = &mut setup {
        s.min_version = 3;
        s.max_version = 3;
        assert_eq!(s.protocol, Protocol::MiningProtocol);
    }
    v3.send(setup).await.unwrap();
    let r = v3
        .expect("setup refusal", Duration::from_secs(10), |m| {
            error_code_of(m)
        })
        .await;
    assert_eq!(r, "protocol-version-mismatch");
    assert_closed(&mut v3, Duration::from_secs(10)).await;

    // Miner A: a standard channel, as SRI's mining_device opens it.
    let mut a = Sv2Miner::connect(&addr, authority(), PowAlgorithm::Scrypt)
        .await
        .expect("handshake");
    let r = a.setup(REQUIRES_STANDARD_JOBS).await;
    assert!(matches!(
        r,
        AnyMessageOwned::Common(CommonMessagesOwned::SetupConnectionSuccess(_))
    ));
    let r = a
        .open(Sv2Miner::open_standard(
            10,
            &format!("{miner_a}.rig-a"),
            4000.0,
        ))
        .await;
    assert!(
        matches!(mining(&r), Some(MiningOwned::OpenStandardMiningChannelSuccess(s)) if s.request_id == 10),
        "{r:?}"
    );
    assert_eq!(
        a.extranonce_prefix.len(),
        8,
        "the pool fixes the whole extranonce"
    );
    a.wait_for_job().await;
    let network = Target::from_le_bytes(a.target);
    assert!(network < Target::MAX);

    // Shares: accepted, then every refusal with its code.
    let share = a.find_share(100_000).expect("a share");
    assert_eq!(submit_and_wait(&mut a, &share).await, None);
    assert_eq!(a.accepted, 1);
    assert_eq!(
        submit_and_wait(&mut a, &share).await.as_deref(),
        Some("duplicate-share")
    );
    let mut unknown = share.clone();
    unknown.job_id = 0xffff;
    assert_eq!(
        submit_and_wait(&mut a, &unknown).await.as_deref(),
        Some("invalid-job-id")
    );
    let mut early_time = share.clone();
    early_time.ntime = 1;
    assert_eq!(
        submit_and_wait(&mut a, &early_time).await.as_deref(),
        Some("invalid-timestamp")
    );
    let mut outside_mask = share.clone();
    outside_mask.version ^= 0x4000_0000;
    assert_eq!(
        submit_and_wait(&mut a, &outside_mask).await.as_deref(),
        Some("invalid-version")
    );
    let mut weak = None;
    for _ in 0..64 {
        let mut s = a.find_share(100_000).expect("a share");
        s.nonce = s.nonce.wrapping_add(1);
        let header_hash = {
            let mut probe = s.clone();
            probe.hash = [0; 32];
            rehash(&a, &probe)
        };
        if !Target::from_le_bytes(a.target).is_met_by(&header_hash) {
            weak = Some(s);
            break;
        }
    }
    let weak = weak.expect("a header that misses the target");
    assert_eq!(
        submit_and_wait(&mut a, &weak).await.as_deref(),
        Some("difficulty-too-low")
    );
    assert_eq!(a.rejected.len(), 5);

    // Miner B: an extended channel with version rolling, as SRI's translator opens it.
    let mut b = Sv2Miner::connect(&addr, authority(), PowAlgorithm::Scrypt)
        .await
        .expect("handshake");
    let r = b.setup(REQUIRES_VERSION_ROLLING).await;
    assert!(matches!(
        r,
        AnyMessageOwned::Common(CommonMessagesOwned::SetupConnectionSuccess(_))
    ));
    let r = b
        .open(Sv2Miner::open_extended(
            0,
            &format!("{miner_b}.rig-b"),
            4000.0,
            9,
        ))
        .await;
    assert_eq!(
        error_code_of(&r).as_deref(),
        Some("min-extranonce-size-too-large")
    );
    let r = b
        .open(Sv2Miner::open_extended(
            1,
            &format!("{miner_b}.rig-b"),
            4000.0,
            4,
        ))
        .await;
    assert!(
        matches!(mining(&r), Some(MiningOwned::OpenExtendedMiningChannelSuccess(s)) if s.extranonce_size == 4),
        "{r:?}"
    );
    assert_eq!(b.extranonce_prefix.len(), 4);
    assert_ne!(
        b.extranonce_prefix[..4],
        a.extranonce_prefix[..4],
        "each channel has its own extranonce"
    );
    b.wait_for_job().await;
    // A rolled BIP 320 version bit is fine on SV2.
    b.version_bits = 0x0000_2000;
    let rolled = b.find_share(100_000).expect("a share");
    assert_eq!(submit_and_wait(&mut b, &rolled).await, None);
    assert_eq!(b.accepted, 1);

    // UpdateChannel: a lower maximum target is a hard limit, answered with SetTarget.
    let before = Target::from_le_bytes(b.target);
    let mut half = [0u8; 32];
    {
        // Halve the 256-bit little-endian number.
        let mut carry = 0u8;
        for i in (0..32).rev() {
            let byte = b.target[i];
            half[i] = (byte >> 1) | (carry << 7);
            carry = byte & 1;
        }
    }
    let channel_b = b.channel_id.unwrap();
    b.send(Sv2Miner::update_channel_with_target(
        channel_b, 8000.0, half,
    ))
    .await
    .unwrap();
    let set = b
        .expect("SetTarget", Duration::from_secs(10), |m| match mining(m) {
            Some(MiningOwned::SetTarget(t)) => Some(t.maximum_target.to_array()),
            _ => None,
        })
        .await;
    assert_eq!(set, half);
    assert!(Target::from_le_bytes(set) < before);
    assert_eq!(b.target, half, "the miner mines at the new target");

    // Both mine until the pool found three blocks.
    mine_until_blocks(&node, &mut a, 2).await;
    mine_until_blocks(&node, &mut b, 3).await;

    // The blocks are on litecoind's chain with the hash the node recorded, and the
    // coinbase carries a channel's extranonce prefix.
    let blocks = node.get("/api/v1/blocks").await;
    let items = blocks["items"].as_array().unwrap();
    assert!(items.len() >= 3);
    for block in items {
        let height = block["height"].as_u64().unwrap();
        let hash = ltc.call("", "getblockhash", json!([height])).await;
        assert_eq!(block["hash"], hash, "block at {height}");
        let coinbase = ltc.call("", "getblock", json!([hash, 2])).await["tx"][0].clone();
        let script_sig = coinbase["vin"][0]["coinbase"].as_str().unwrap();
        assert!(
            script_sig.contains(&hex::encode(b"/DefPool/")),
            "{script_sig}"
        );
        assert!(
            script_sig.contains(&hex::encode(&a.extranonce_prefix))
                || script_sig.contains(&hex::encode(&b.extranonce_prefix)),
            "a channel's extranonce in {script_sig}"
        );
    }
    assert!(ltc.height().await > start_height);
    // Both channels got new jobs for the new blocks.
    assert!(a.jobs_seen.len() > 1 && b.jobs_seen.len() > 1);

    // Solo over SV2: a `solo:` user identity's block is credited to its finder alone.
    let miner_c = ltc
        .call(
            &Litecoind::wallet_path("miners"),
            "getnewaddress",
            json!([]),
        )
        .await
        .as_str()
        .unwrap()
        .to_string();
    let mut c = Sv2Miner::connect(&addr, authority(), PowAlgorithm::Scrypt)
        .await
        .expect("handshake");
    c.setup(REQUIRES_STANDARD_JOBS).await;
    let r = c
        .open(Sv2Miner::open_standard(
            1,
            &format!("solo:{miner_c}.rig-c"),
            4000.0,
        ))
        .await;
    assert!(
        matches!(
            mining(&r),
            Some(MiningOwned::OpenStandardMiningChannelSuccess(_))
        ),
        "{r:?}"
    );
    c.wait_for_job().await;
    let deadline = Instant::now() + Duration::from_secs(120);
    let solo_block = loop {
        let blocks = node.get("/api/v1/blocks").await;
        if let Some(b) = blocks["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["finder"] == json!(miner_c))
        {
            break b.clone();
        }
        assert!(Instant::now() < deadline, "no solo block:\n{}", node.log());
        c.drain(Duration::from_millis(20))
            .await
            .expect("connection up");
        if let Some(share) = c.find_share(20_000) {
            if let Some(code) = submit_and_wait(&mut c, &share).await {
                assert!(code == "stale-share" || code == "invalid-job-id", "{code}");
            }
        }
    };
    assert_eq!(solo_block["mode"], "solo", "{solo_block}");
    assert_eq!(solo_block["scheme"], "solo", "{solo_block}");
    assert_eq!(solo_block["worker"], "rig-c", "{solo_block}");
    let hash = ltc
        .call("", "getblockhash", json!([solo_block["height"]]))
        .await;
    assert_eq!(solo_block["hash"], hash);
    for block in items.iter() {
        assert_eq!(block["mode"], "pool", "{block}");
    }

    // Every share the miners sent is in the node's accounting exactly once: the
    // accepted ones as valid, the refused ones (on an open channel) as invalid.
    a.drain(Duration::from_millis(300)).await.unwrap();
    b.drain(Duration::from_millis(300)).await.unwrap();
    for (who, miner) in [(&miner_a, &a), (&miner_b, &b)] {
        let (valid, invalid) = (miner.accepted, miner.rejected.len() as u64);
        assert!(valid > 0);
        wait_until("shares recorded", Duration::from_secs(20), || async {
            let view = node.get(&format!("/api/v1/miners/{who}")).await;
            view["valid_shares"] == json!(valid) && view["invalid_shares"] == json!(invalid)
        })
        .await;
    }
    let view: Value = node.get(&format!("/api/v1/miners/{miner_a}")).await;
    assert_eq!(view["workers"][0]["name"], "rig-a");

    // The node still serves the connection that only made ordering mistakes.
    lost.send(Sv2Miner::update_channel(9, 1.0)).await.unwrap();
    let r = lost
        .expect("still answered", Duration::from_secs(10), |m| {
            error_code_of(m)
        })
        .await;
    assert_eq!(r, "invalid-channel-id");

    // A clean shutdown: pending acknowledgements, then every channel closed.
    let status = node.stop();
    assert!(status.success(), "node exit: {status:?}\n{}", node.log());
    for miner in [&mut a, &mut b] {
        let reason = miner
            .expect("CloseChannel", Duration::from_secs(10), |m| {
                match mining(m) {
                    Some(MiningOwned::CloseChannel(c)) => {
                        Some(String::from_utf8_lossy(c.reason_code.as_bytes()).into_owned())
                    }
                    _ => None,
                }
            })
            .await;
        assert_eq!(reason, "pool-shutting-down");
    }
}

/// The scrypt hash of a standard share's header as the pool will compute it.
fn rehash(miner: &Sv2Miner, share: &Sv2Share) -> [u8; 32] {
    let job = &miner.jobs[&share.job_id];
    let prev = miner.prev_hash.clone().unwrap();
    let header = defpool_core::job::bitcoin::BlockHeader {
        version: share.version,
        prev_hash: prev.prev_hash,
        merkle_root: job.merkle_root.expect("a standard job"),
        time: share.ntime,
        bits: defpool_core::pow::bitcoin::CompactTarget(prev.nbits),
        nonce: share.nonce,
    };
    PowAlgorithm::Scrypt.hash_header(&header.to_bytes())
}
