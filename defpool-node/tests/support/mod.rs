//! Test harness shared by the integration tests: databases, real daemons, the node
//! binary and the CLI. Each test file uses the parts it needs.
#![allow(dead_code)]

pub mod btc_miner;
pub mod db;
pub mod litecoin;
pub mod monero;
pub mod node;
pub mod pool;
pub mod xmr_miner;

/// `DEFPOOL_REQUIRE_DAEMONS=1` (set by CI) turns a missing daemon into a failure.
pub fn daemons_required() -> bool {
    std::env::var("DEFPOOL_REQUIRE_DAEMONS")
        .map(|v| v == "1")
        .unwrap_or(false)
}

/// Whether `program` is on PATH; panics when it is not and daemons are required.
pub fn have_program(program: &str) -> bool {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|p| p.join(program).is_file()))
        .unwrap_or(false);
    if !found {
        assert!(
            !daemons_required(),
            "{program} is not installed but DEFPOOL_REQUIRE_DAEMONS=1"
        );
        eprintln!(
            "SKIPPED: {program} is not installed (set DEFPOOL_REQUIRE_DAEMONS=1 to fail instead)"
        );
    }
    found
}

/// A TCP port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

/// Polls `check` until it holds; panics naming `what` after `timeout`.
pub async fn wait_until<F, Fut>(what: &str, timeout: std::time::Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + timeout;
    while !check().await {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// The atomic units of an API amount (`{"coin":…,"atomic":"…"}`).
pub fn atomic(v: &serde_json::Value) -> u64 {
    v["atomic"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an amount: {v}"))
}
