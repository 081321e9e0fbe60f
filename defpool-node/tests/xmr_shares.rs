//! Share rules against the real node and monerod: the stale grace window after a
//! new block, the RandomX trust policy, and vardiff retargets pushed with a new job.

mod support;

use std::time::{Duration, Instant};

use defpool_core::pow::difficulty_from_job_target;
use serde_json::json;
use support::monero::Monerod;
use support::node::Node;
use support::pool::{walletless_stratum_config, MINER_B, TOKEN};
use support::xmr_miner::{error_message, XmrMiner};
use support::{free_port, have_program};

fn config(
    dir: &std::path::Path,
    api_port: u16,
    stratum_port: u16,
    daemon: &str,
    stratum: &str,
    port_extra: &str,
) -> String {
    walletless_stratum_config(dir, api_port, stratum_port, &[daemon], stratum, port_extra)
}

/// Keeps the daemon, the node and their directory alive for the test.
struct Setup {
    _dir: tempfile::TempDir,
    _monerod: Monerod,
    _node: Node,
    addr: String,
}

async fn setup(network_difficulty: u64, stratum: &str, port_extra: &str) -> Option<Setup> {
    if !have_program("monerod") {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let monerod = Monerod::start(dir.path(), network_difficulty).await;
    let (api, stratum_port) = (free_port(), free_port());
    let node = Node::start(
        dir.path(),
        &config(
            dir.path(),
            api,
            stratum_port,
            &monerod.url,
            stratum,
            port_extra,
        ),
        TOKEN,
        &[],
    )
    .await;
    Some(Setup {
        _dir: dir,
        _monerod: monerod,
        _node: node,
        addr: format!("127.0.0.1:{stratum_port}"),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shares_on_the_previous_block_count_only_within_the_grace_window() {
    let Some(s) = setup(20, "stale_grace = \"2s\"", "").await else {
        return;
    };
    let mut miner = XmrMiner::connect(&s.addr).await;
    assert_eq!(miner.login(MINER_B, "x").await["result"]["status"], "OK");
    let old_height = miner.job.as_ref().unwrap()["height"].as_u64().unwrap();
    let early = miner.find_share(None, 100).expect("share");
    let late = miner.find_share(None, 100).expect("share");

    // The miner finds a block; the node submits it and pushes the next job.
    let block = miner
        .find_share(Some(20), 10_000)
        .expect("a block-level share");
    assert_eq!(miner.submit(&block).await["result"]["status"], "OK");
    let deadline = Instant::now() + Duration::from_secs(10);
    while miner.job.as_ref().unwrap()["height"].as_u64().unwrap() == old_height {
        assert!(Instant::now() < deadline, "no job for the new block");
        let _ = tokio::time::timeout(Duration::from_millis(500), miner.read()).await;
    }
    let r = miner.submit(&early).await;
    assert_eq!(r["result"]["status"], "OK", "within the grace window: {r}");
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let r = miner.submit(&late).await;
    assert_eq!(error_message(&r), "Block expired");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_miners_are_sampled_but_block_claims_are_always_verified() {
    let Some(s) = setup(
        1_000_000,
        "trust_after = 2\ntrust_sample_percent = 0\nban_after_invalid_shares = 100",
        "",
    )
    .await
    else {
        return;
    };
    let mut miner = XmrMiner::connect(&s.addr).await;
    assert_eq!(miner.login(MINER_B, "x").await["result"]["status"], "OK");
    // New miners are always verified: a forged result is caught.
    let mut forged = miner.find_share(None, 100).expect("share");
    forged.hash = [0x11; 32];
    forged.hash[31] = 0;
    assert_eq!(error_message(&miner.submit(&forged).await), "Invalid share");
    for _ in 0..2 {
        let share = miner.find_share(None, 100).expect("share");
        assert_eq!(miner.submit(&share).await["result"]["status"], "OK");
    }
    // Trusted with a 0 % sample: an unverified claim below the network difficulty is
    // taken at its word (the documented cost of sampling)...
    let mut claim = miner.find_share(None, 100).expect("share");
    claim.hash = [0xff; 32];
    claim.hash[31] = 0x00;
    claim.hash[30] = 0x00;
    assert_eq!(miner.submit(&claim).await["result"]["status"], "OK");
    // ...but a claimed block is always hashed, and the lie resets the trust.
    let mut block_claim = miner.find_share(None, 100).expect("share");
    block_claim.hash = [0u8; 32];
    assert_eq!(
        error_message(&miner.submit(&block_claim).await),
        "Invalid share"
    );
    let mut again = miner.find_share(None, 100).expect("share");
    again.hash = [0xff; 32];
    again.hash[31] = 0x00;
    again.hash[30] = 0x00;
    assert_eq!(
        error_message(&miner.submit(&again).await),
        "Invalid share",
        "trust was dropped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vardiff_raises_a_fast_miner_and_sends_the_new_target_with_a_job() {
    let port_extra = "vardiff = { target_seconds = 10, min = 1, max = 1000, retarget_seconds = 2, max_jump = 4 }";
    let Some(s) = setup(1_000_000, "", port_extra).await else {
        return;
    };
    let mut miner = XmrMiner::connect(&s.addr).await;
    let login = miner.login(MINER_B, "x").await;
    let first =
        difficulty_from_job_target(login["result"]["job"]["target"].as_str().unwrap()).unwrap();
    assert_eq!(first, 1);
    let started = Instant::now();
    let mut raised = None;
    while started.elapsed() < Duration::from_secs(15) {
        let share = miner.find_share(None, 100).expect("share");
        let r = miner.submit(&share).await;
        assert!(
            error_message(&r).is_empty() || error_message(&r) == "Invalid job id",
            "{r}"
        );
        let d = difficulty_from_job_target(miner.job.as_ref().unwrap()["target"].as_str().unwrap())
            .unwrap();
        if d > first {
            raised = Some(d);
            break;
        }
    }
    let raised = raised.expect("vardiff never raised the difficulty of a miner far above target");
    assert!(raised <= 4, "one retarget moves at most max_jump: {raised}");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "no retarget before the window"
    );
    // A fixed difficulty from the login overrides vardiff.
    let mut fixed = XmrMiner::connect(&s.addr).await;
    let login = fixed.login(&format!("{MINER_B}+50"), "x").await;
    assert_eq!(
        difficulty_from_job_target(login["result"]["job"]["target"].as_str().unwrap()).unwrap(),
        50
    );
    let _ = json!({});
}
