//! A Monero regtest pool for the node tests: monerod, a funded pool wallet, shares
//! of several miners and a real block paying the pool address, written through the
//! node's own store.

use std::path::Path;

use defpool_core::payout::{pplns_weights, pplns_window, split_reward};
use defpool_core::{Amount, Difficulty, FeeRate};
use defpool_node::store::{NewBlock, NewShare, Store};

use super::monero::{Monerod, WalletRpc};
use super::{free_port, have_program};

pub const TOKEN: &str = "test-admin-token-123";
/// Real mainnet-format addresses (regtest uses mainnet's format).
pub const MINER_B: &str = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A";
pub const MINER_C: &str = "44Kbx4sJ7JDRDV5aAhLJzQCjDz2ViLRduE3ijDZu3osWKBjMGkV1XPk4pfDUMqt1Aiezvephdqm6YD19GKFD9ZcXVUTp6BW";
pub const FEE_PERCENT: f64 = 1.0;
pub const PPLNS_FACTOR: f64 = 2.0;
pub const NETWORK_DIFFICULTY: f64 = 10_000.0;

pub struct Pool {
    pub dir: tempfile::TempDir,
    pub monerod: Monerod,
    pub wallet: WalletRpc,
    /// A wallet we control, so payouts to it can be seen arriving.
    pub miner_wallet: WalletRpc,
    pub pool_address: String,
    pub miner_a: String,
    pub db_url: String,
    pub api_port: u16,
}

impl Pool {
    /// Starts the daemons and funds the pool wallet; `None` when monerod is not
    /// installed and daemons are not required.
    pub async fn start() -> Option<Pool> {
        if !have_program("monerod") || !have_program("monero-wallet-rpc") {
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let monerod = Monerod::start(dir.path(), 1).await;
        let wallet = WalletRpc::start(dir.path(), &monerod).await;
        let pool_address = wallet.create_wallet("pool").await;
        let miner_wallet = WalletRpc::start(dir.path(), &monerod).await;
        let miner_a = miner_wallet.create_wallet("miner").await;
        // 80 coinbase outputs; the first 20 unlock (60-block lock) for payouts.
        monerod.generate(80, &pool_address).await;
        let (_, unlocked) = wallet.balance().await;
        assert!(unlocked > 0, "pool wallet has no unlocked funds");
        let db_url = format!(
            "sqlite://{}",
            dir.path().join("data/defpool.sqlite").display()
        );
        Some(Pool {
            dir,
            monerod,
            wallet,
            miner_wallet,
            pool_address,
            miner_a,
            db_url,
            api_port: free_port(),
        })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Node config: XMR regtest pool mode, fast processors.
    pub fn config(&self, auto_payout: bool) -> String {
        format!(
            r#"data_dir = "{data}"

[database]
url = "{db}"

[api]
listen = "127.0.0.1:{port}"
admin_token = "{TOKEN}"

[intervals]
balance_update = "500ms"
payout_process = "500ms"

[payouts]
reconcile_after = "2s"
retry_backoff = "1s"

[[coins]]
symbol = "XMR"
network = "regtest"
mode = "pool"
scheme = "pplns"
pplns_factor = {PPLNS_FACTOR}
fee_percent = {FEE_PERCENT}
pool_address = "{pool}"
maturity = 10
min_payout = "0.001"
auto_payout = {auto_payout}
  [[coins.daemons]]
  url = "{daemon}"
  [coins.wallet]
  url = "{wallet}"
"#,
            data = self.path().join("data").display(),
            db = self.db_url,
            port = self.api_port,
            pool = self.pool_address,
            daemon = self.monerod.url,
            wallet = self.wallet.url,
        )
    }

    /// The shares of a round, oldest first: `(miner, difficulty)`.
    pub fn round_shares(&self) -> Vec<(String, f64)> {
        let mut shares = Vec::new();
        for i in 0..12 {
            shares.push((self.miner_a.clone(), 1_000.0));
            if i % 2 == 0 {
                shares.push((MINER_B.to_string(), 2_000.0));
            }
            shares.push((MINER_C.to_string(), 500.0 + f64::from(i)));
        }
        shares
    }

    /// Writes the round's shares and a block at `height` (a real block of the regtest
    /// chain, paid to the pool address) through the node's store; returns the exact
    /// PPLNS credits expected for it.
    pub async fn record_round_and_block(&self, height: u64) -> (u64, Vec<(String, u64)>, u64) {
        let store = Store::connect(&self.db_url, 2).await.expect("open store");
        let now = defpool_node::store::now_ms();
        let shares: Vec<NewShare> = self
            .round_shares()
            .into_iter()
            .map(|(miner, d)| NewShare {
                coin: "XMR".into(),
                worker: if miner == MINER_B {
                    "rig-b".into()
                } else {
                    "rig1".into()
                },
                miner,
                difficulty: d,
                network_difficulty: NETWORK_DIFFICULTY,
                height,
                accepted: true,
                solo: false,
                created_at: now,
            })
            .collect();
        // A rejected share: counted for the worker, never paid.
        let mut rejected = shares[0].clone();
        rejected.accepted = false;
        let last = store
            .insert_shares(&shares)
            .await
            .expect("shares")
            .expect("last id");
        store
            .insert_shares(&[rejected])
            .await
            .expect("rejected share");
        let (hash, reward) = self.monerod.block_at(height).await;
        store
            .insert_block(&NewBlock {
                coin: "XMR".into(),
                height,
                hash,
                reward: Amount::from_atomic(reward),
                finder: self.miner_a.clone(),
                worker: "rig1".into(),
                mode: "pool".into(),
                scheme: "pplns".into(),
                network_difficulty: NETWORK_DIFFICULTY,
                last_share_id: last,
                fee: FeeRate::from_percent(FEE_PERCENT).expect("fee"),
                pplns_factor: PPLNS_FACTOR,
                maturity: 10,
                found_at: now,
            })
            .await
            .expect("block");
        store.close().await;

        // The expected split, from the pure reward functions on the same shares.
        let round = self.round_shares();
        let window = pplns_window(
            PPLNS_FACTOR,
            Difficulty::new(NETWORK_DIFFICULTY).expect("difficulty"),
        );
        let newest_first: Vec<(String, defpool_core::Work)> = round
            .iter()
            .rev()
            .map(|(m, d)| (m.clone(), Difficulty::new(*d).expect("d").work()))
            .collect();
        let weights = pplns_weights(newest_first.iter().map(|(m, w)| (m.as_str(), *w)), window);
        let split = split_reward(
            Amount::from_atomic(reward),
            FeeRate::from_percent(FEE_PERCENT).expect("fee"),
            &weights,
        )
        .expect("split");
        let credits = split
            .credits
            .iter()
            .map(|(m, a)| (m.clone(), a.atomic()))
            .collect();
        (reward, credits, split.fee.atomic())
    }
}

impl Pool {
    /// Like [`Pool::start`], then monerod is restarted at `network_difficulty` so
    /// shares below it are not blocks.
    pub async fn start_mining(network_difficulty: u64) -> Option<Pool> {
        let mut pool = Pool::start().await?;
        pool.monerod.restart(network_difficulty).await;
        Some(pool)
    }

    /// The node config with a CryptoNote stratum port on `stratum_port`.
    pub fn stratum_config(
        &self,
        stratum_port: u16,
        solo_port: bool,
        share_difficulty: u64,
        extra: &str,
    ) -> String {
        format!(
            "{}\n[stratum]\nblock_poll_interval = \"100ms\"\nverify_threads = 1\ntrust_after = 1000000\n{extra}\n[[ports]]\nlisten = \"127.0.0.1:{stratum_port}\"\nprotocol = \"sv1\"\ncoin = \"XMR\"\ndifficulty = {share_difficulty}\nsolo = {solo_port}\n",
            self.config(false).replace("maturity = 10", "maturity = 3")
        )
    }
}

/// A walletless node config serving XMR on `stratum_port` from `daemons`, with extra
/// `[stratum]` settings and extra keys for the port.
pub fn walletless_stratum_config(
    dir: &Path,
    api_port: u16,
    stratum_port: u16,
    daemons: &[&str],
    stratum: &str,
    port_extra: &str,
) -> String {
    let daemons: String = daemons
        .iter()
        .map(|d| format!("  [[coins.daemons]]\n  url = \"{d}\"\n"))
        .collect();
    format!(
        r#"data_dir = "{data}"
[api]
listen = "127.0.0.1:{api_port}"
admin_token = "{TOKEN}"
[stratum]
block_poll_interval = "100ms"
verify_threads = 1
{stratum}
[[coins]]
symbol = "XMR"
network = "regtest"
pool_address = "{MINER_C}"
{daemons}
[[ports]]
listen = "127.0.0.1:{stratum_port}"
protocol = "sv1"
coin = "XMR"
difficulty = 1
{port_extra}
"#,
        data = dir.join("data").display()
    )
}
