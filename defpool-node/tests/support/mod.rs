//! Test harness shared by the integration tests: databases, real daemons, the node
//! binary and the CLI. Each test file uses the parts it needs.
#![allow(dead_code)]

pub mod btc_miner;
pub mod db;
pub mod litecoin;
pub mod monero;
pub mod node;
pub mod pool;
pub mod price_feed;
pub mod sv2_miner;
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

/// A TCP port nobody listens on right now, and that nothing else will be handed.
///
/// Ports come from 20000–32767, below Linux's ephemeral range (32768–60999), so
/// the outgoing connections of the tests and of the daemons they start can never
/// take a port between our check and the node's bind (CI once failed on
/// "api.listen: Address already in use" with ports from `bind(:0)`). A
/// process-wide counter never hands out the same port twice; the pid spreads test
/// binaries apart; the bind check skips ports still in use.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const SPAN: u32 = 12_768;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let _ = NEXT.compare_exchange(
        u32::MAX,
        (std::process::id().wrapping_mul(2_654_435_761)) % SPAN,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..SPAN {
        let port = (FIRST + NEXT.fetch_add(1, Ordering::SeqCst) % SPAN) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {FIRST}..{}", FIRST + SPAN)
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
