//! Real `litecoind -regtest` processes for tests.
//!
//! A lone regtest litecoind refuses `getblocktemplate` ("Litecoin Core is not
//! connected!"), so [`LitecoinPair`] starts two nodes, the second connected to the
//! first, and the tests talk to the first.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::free_port;

pub const RPC_USER: &str = "defpool";
pub const RPC_PASSWORD: &str = "regtest-password";

/// One regtest litecoind owned by the test; stopped on drop.
pub struct Litecoind {
    child: Child,
    pub rpc_port: u16,
    pub p2p_port: u16,
    /// `http://127.0.0.1:PORT` (node RPC; wallets are under `/wallet/NAME`).
    pub url: String,
    pub data_dir: PathBuf,
    http: reqwest::Client,
}

impl Litecoind {
    /// Starts a node; `connect` makes it peer with (only) that P2P port. A node that
    /// exits at start (a port taken between choosing and binding it) is started
    /// again on other ports.
    pub async fn start(dir: &Path, connect: Option<u16>) -> Litecoind {
        for _ in 0..3 {
            if let Some(node) = Self::try_start(dir, connect).await {
                return node;
            }
        }
        panic!(
            "litecoind exited at start three times; see the debug.log files under {}",
            dir.display()
        );
    }

    async fn try_start(dir: &Path, connect: Option<u16>) -> Option<Litecoind> {
        let rpc_port = free_port();
        let p2p_port = free_port();
        let data_dir = dir.join(format!("litecoind-{rpc_port}"));
        std::fs::create_dir_all(&data_dir).expect("litecoind data dir");
        let mut args = vec![
            "-regtest".to_string(),
            "-server".into(),
            format!("-rpcuser={RPC_USER}"),
            format!("-rpcpassword={RPC_PASSWORD}"),
            "-rpcbind=127.0.0.1".into(),
            "-rpcallowip=127.0.0.1".into(),
            format!("-rpcport={rpc_port}"),
            format!("-bind=127.0.0.1:{p2p_port}"),
            "-listen=1".into(),
            "-dnsseed=0".into(),
            "-discover=0".into(),
            "-upnp=0".into(),
            "-fallbackfee=0.0001".into(),
            "-printtoconsole=0".into(),
            format!("-datadir={}", data_dir.display()),
        ];
        if let Some(port) = connect {
            args.push(format!("-connect=127.0.0.1:{port}"));
        }
        let child = Command::new("litecoind")
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn litecoind");
        let mut node = Litecoind {
            child,
            rpc_port,
            p2p_port,
            url: format!("http://127.0.0.1:{rpc_port}"),
            data_dir,
            http: reqwest::Client::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if node.try_call("", "getblockcount", json!([])).await.is_ok() {
                break;
            }
            if let Ok(Some(status)) = node.child.try_wait() {
                eprintln!("litecoind on port {rpc_port} exited at start ({status}); retrying");
                std::mem::forget(node);
                return None;
            }
            if Instant::now() >= deadline {
                let log = std::fs::read_to_string(node.data_dir.join("regtest/debug.log"))
                    .unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(30).collect();
                panic!(
                    "litecoind did not answer within 60 s; debug.log ends:\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Some(node)
    }

    /// One JSON-RPC call on `path` ("" for the node, "/wallet/NAME" for a wallet).
    pub async fn try_call(&self, path: &str, method: &str, params: Value) -> Result<Value, Value> {
        let resp = self
            .http
            .post(format!("{}{path}", self.url))
            .basic_auth(RPC_USER, Some(RPC_PASSWORD))
            .json(&json!({"jsonrpc": "1.0", "id": "test", "method": method, "params": params}))
            .timeout(Duration::from_secs(60))
            .send()
            .await
            .map_err(|e| json!({"transport": e.to_string()}))?;
        let v: Value = resp
            .json()
            .await
            .map_err(|e| json!({"decode": e.to_string()}))?;
        if !v["error"].is_null() {
            return Err(v["error"].clone());
        }
        Ok(v["result"].clone())
    }

    /// A call that must succeed.
    pub async fn call(&self, path: &str, method: &str, params: Value) -> Value {
        self.try_call(path, method, params)
            .await
            .unwrap_or_else(|e| panic!("litecoind {method} failed: {e}"))
    }

    pub fn wallet_path(name: &str) -> String {
        format!("/wallet/{name}")
    }

    /// Creates (or loads) a wallet and returns a fresh bech32 address of it.
    pub async fn wallet_with_address(&self, name: &str) -> String {
        if self
            .try_call("", "createwallet", json!([name]))
            .await
            .is_err()
        {
            let _ = self.try_call("", "loadwallet", json!([name])).await;
        }
        self.call(&Self::wallet_path(name), "getnewaddress", json!([]))
            .await
            .as_str()
            .expect("address")
            .to_string()
    }

    /// Mines `n` blocks to `address` and returns the new height.
    pub async fn generate(&self, n: u64, address: &str) -> u64 {
        self.call("", "generatetoaddress", json!([n, address]))
            .await;
        self.height().await
    }

    pub async fn height(&self) -> u64 {
        self.call("", "getblockcount", json!([]))
            .await
            .as_u64()
            .expect("height")
    }

    fn stop(&mut self) {
        // SIGTERM lets litecoind flush its wallets; fall back to SIGKILL.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Litecoind {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Two connected regtest nodes: `main` serves the pool, `peer` exists so that
/// `getblocktemplate` works.
pub struct LitecoinPair {
    pub main: Litecoind,
    pub peer: Litecoind,
    /// A third node connected to `peer` only, so `peer` keeps a connection (and a
    /// working `getblocktemplate`) when `main` is stopped; for failover tests.
    pub spare: Option<Litecoind>,
    dir: tempfile::TempDir,
}

impl LitecoinPair {
    /// `None` (test skipped) when litecoind is not installed and daemons are not
    /// required.
    pub async fn start() -> Option<LitecoinPair> {
        Self::start_nodes(false).await
    }

    /// Like [`LitecoinPair::start`], plus a spare node behind `peer`.
    pub async fn start_with_spare() -> Option<LitecoinPair> {
        Self::start_nodes(true).await
    }

    async fn start_nodes(spare: bool) -> Option<LitecoinPair> {
        if !super::have_program("litecoind") {
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let main = Litecoind::start(dir.path(), None).await;
        let peer = Litecoind::start(dir.path(), Some(main.p2p_port)).await;
        let spare = match spare {
            true => Some(Litecoind::start(dir.path(), Some(peer.p2p_port)).await),
            false => None,
        };
        wait_for_peers(&main, 1).await;
        wait_for_peers(&peer, if spare.is_some() { 2 } else { 1 }).await;
        Some(LitecoinPair {
            main,
            peer,
            spare,
            dir,
        })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

async fn wait_for_peers(node: &Litecoind, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let peers = node
            .call("", "getconnectioncount", json!([]))
            .await
            .as_u64()
            .unwrap_or(0);
        if peers >= n {
            return;
        }
        assert!(Instant::now() < deadline, "litecoind peers did not connect");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
