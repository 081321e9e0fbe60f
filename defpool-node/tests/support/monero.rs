//! Real `monerod --regtest --offline` and `monero-wallet-rpc` processes for tests.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::free_port;

/// A regtest monerod owned by the test; killed on drop.
pub struct Monerod {
    child: Child,
    pub rpc_port: u16,
    pub p2p_port: u16,
    pub url: String,
    pub data_dir: PathBuf,
    http: reqwest::Client,
}

impl Monerod {
    /// Starts monerod in regtest with `--fixed-difficulty` and waits until its RPC
    /// answers.
    pub async fn start(dir: &Path, fixed_difficulty: u64) -> Monerod {
        let rpc_port = free_port();
        let p2p_port = free_port();
        let data_dir = dir.join(format!("monerod-{rpc_port}"));
        Monerod::spawn(data_dir, rpc_port, p2p_port, fixed_difficulty).await
    }

    /// Stops and starts again on the same chain and ports with another fixed
    /// difficulty (fund wallets fast at difficulty 1, then mine shares that are not
    /// all blocks).
    pub async fn restart(&mut self, fixed_difficulty: u64) {
        self.kill();
        let fresh = Monerod::spawn(
            self.data_dir.clone(),
            self.rpc_port,
            self.p2p_port,
            fixed_difficulty,
        )
        .await;
        let old = std::mem::replace(self, fresh);
        // Already killed and reaped above; skip its Drop (it would kill the new pid's slot).
        std::mem::forget(old);
    }

    async fn spawn(
        data_dir: PathBuf,
        rpc_port: u16,
        p2p_port: u16,
        fixed_difficulty: u64,
    ) -> Monerod {
        std::fs::create_dir_all(&data_dir).expect("monerod data dir");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data_dir.join("stdout.log"))
            .expect("monerod log");
        let child = Command::new("monerod")
            .args([
                "--regtest",
                "--offline",
                "--fixed-difficulty",
                &fixed_difficulty.to_string(),
                "--keep-fakechain",
                "--data-dir",
                &data_dir.display().to_string(),
                "--rpc-bind-ip",
                "127.0.0.1",
                "--rpc-bind-port",
                &rpc_port.to_string(),
                "--p2p-bind-ip",
                "127.0.0.1",
                "--p2p-bind-port",
                &p2p_port.to_string(),
                "--no-zmq",
                "--no-igd",
                "--hide-my-port",
                "--disable-rpc-ban",
                "--non-interactive",
                "--log-level",
                "0",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log clone"))
            .stderr(log)
            .spawn()
            .expect("spawn monerod");
        let d = Monerod {
            child,
            rpc_port,
            p2p_port,
            url: format!("http://127.0.0.1:{rpc_port}"),
            data_dir,
            // generateblocks hashes RandomX in monerod's own thread: on a loaded 2-core
            // CI machine mining a few blocks at the tests' fixed difficulty has taken
            // over a minute.
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(240))
                .build()
                .expect("http"),
        };
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if d.try_rpc("get_info", json!({})).await.is_ok() {
                return d;
            }
            assert!(
                Instant::now() < deadline,
                "monerod did not answer within 90 s (log in {})",
                d.data_dir.display()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    pub async fn try_rpc(&self, method: &str, params: Value) -> Result<Value, String> {
        json_rpc(
            &self.http,
            &format!("{}/json_rpc", self.url),
            method,
            params,
        )
        .await
    }

    pub async fn rpc(&self, method: &str, params: Value) -> Value {
        self.try_rpc(method, params)
            .await
            .unwrap_or_else(|e| panic!("monerod {method}: {e}"))
    }

    /// Mines `n` blocks to `address` and returns the new height (block count).
    pub async fn generate(&self, n: u64, address: &str) -> u64 {
        let r = self
            .rpc(
                "generateblocks",
                json!({"amount_of_blocks": n, "wallet_address": address, "starting_nonce": 0}),
            )
            .await;
        r["height"].as_u64().expect("generateblocks height") + 1
    }

    /// `(hash, reward)` of the block at `height`.
    pub async fn block_at(&self, height: u64) -> (String, u64) {
        let r = self
            .rpc("get_block_header_by_height", json!({"height": height}))
            .await;
        let h = &r["block_header"];
        (
            h["hash"].as_str().expect("hash").to_string(),
            h["reward"].as_u64().expect("reward"),
        )
    }

    /// Height of the newest block.
    pub async fn tip(&self) -> u64 {
        self.rpc("get_last_block_header", json!({})).await["block_header"]["height"]
            .as_u64()
            .expect("height")
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Monerod {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A monero-wallet-rpc bound to a monerod; killed on drop.
pub struct WalletRpc {
    child: Child,
    pub port: u16,
    pub url: String,
    http: reqwest::Client,
}

impl WalletRpc {
    pub async fn start(dir: &Path, daemon: &Monerod) -> WalletRpc {
        let port = free_port();
        let wallet_dir = dir.join(format!("wallets-{port}"));
        std::fs::create_dir_all(&wallet_dir).expect("wallet dir");
        let log = std::fs::File::create(wallet_dir.join("stdout.log")).expect("wallet log");
        let child = Command::new("monero-wallet-rpc")
            .args([
                "--daemon-address",
                &format!("127.0.0.1:{}", daemon.rpc_port),
                "--trusted-daemon",
                "--rpc-bind-ip",
                "127.0.0.1",
                "--rpc-bind-port",
                &port.to_string(),
                "--disable-rpc-login",
                "--wallet-dir",
                &wallet_dir.display().to_string(),
                "--non-interactive",
                "--log-level",
                "0",
                // Otherwise it writes monero-wallet-rpc.log into the test's working directory.
                "--log-file",
                &wallet_dir.join("wallet-rpc.log").display().to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log clone"))
            .stderr(log)
            .spawn()
            .expect("spawn monero-wallet-rpc");
        let w = WalletRpc {
            child,
            port,
            url: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()
                .expect("http"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if w.try_call("get_version", json!({})).await.is_ok() {
                return w;
            }
            assert!(
                Instant::now() < deadline,
                "monero-wallet-rpc did not answer within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    pub async fn try_call(&self, method: &str, params: Value) -> Result<Value, String> {
        json_rpc(
            &self.http,
            &format!("{}/json_rpc", self.url),
            method,
            params,
        )
        .await
    }

    pub async fn call(&self, method: &str, params: Value) -> Value {
        // Reads can meet the wallet busy with its own background refresh right after
        // a new block; they are safe to ask again.
        let retryable = matches!(
            method,
            "refresh" | "get_balance" | "get_transfers" | "get_address" | "get_version"
        );
        let mut attempt = 0;
        loop {
            match self.try_call(method, params.clone()).await {
                Ok(v) => return v,
                Err(e) if retryable && attempt < 5 => {
                    attempt += 1;
                    eprintln!("wallet {method} failed ({e}); retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => panic!("wallet {method}: {e}"),
            }
        }
    }

    /// Creates (and opens) a wallet; returns its primary address.
    pub async fn create_wallet(&self, name: &str) -> String {
        self.call(
            "create_wallet",
            json!({"filename": name, "language": "English"}),
        )
        .await;
        self.address().await
    }

    pub async fn address(&self) -> String {
        self.call("get_address", json!({"account_index": 0})).await["address"]
            .as_str()
            .expect("address")
            .to_string()
    }

    /// `(balance, unlocked_balance)` after a refresh.
    pub async fn balance(&self) -> (u64, u64) {
        self.call("refresh", json!({})).await;
        let r = self.call("get_balance", json!({"account_index": 0})).await;
        (
            r["balance"].as_u64().unwrap_or(0),
            r["unlocked_balance"].as_u64().unwrap_or(0),
        )
    }

    /// Outgoing transfers (confirmed, pending and in the pool).
    pub async fn outgoing(&self) -> Vec<Value> {
        let r = self
            .call(
                "get_transfers",
                json!({"out": true, "pending": true, "pool": true}),
            )
            .await;
        ["out", "pending", "pool"]
            .iter()
            .flat_map(|k| r[*k].as_array().cloned().unwrap_or_default())
            .collect()
    }
}

impl Drop for WalletRpc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn json_rpc(
    http: &reqwest::Client,
    url: &str,
    method: &str,
    params: Value,
) -> Result<Value, String> {
    let body = json!({"jsonrpc": "2.0", "id": "0", "method": method, "params": params});
    let resp = http
        .post(url)
        .json(&body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let v: Value = resp.json().await.map_err(|e| e.to_string())?;
    if let Some(err) = v.get("error") {
        return Err(err.to_string());
    }
    Ok(v["result"].clone())
}
