//! Proxy-mode accounting: the upstream's verdict on every forwarded share is
//! written (batched, off the session's path), and accepted shares are credited PPS
//! by expected value on a timer.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::config::CoinConfig;
use crate::store::{NetworkAtShare, NewProxyShare, Store};

/// Where a proxy coin's network difficulty and block reward come from (the
/// profitability monitor); `None` when no fresh data is known.
pub type NetworkSource = Arc<dyn Fn(&str) -> Option<NetworkAtShare> + Send + Sync>;

/// Forwarded shares waiting to be written; cheap to clone.
#[derive(Clone)]
pub struct ProxyRecorder {
    tx: mpsc::Sender<NewProxyShare>,
    pub network: NetworkSource,
}

const QUEUE: usize = 65_536;
const BATCH: usize = 500;
const FLUSH: Duration = Duration::from_millis(250);
/// Shares credited per transaction.
const CREDIT_BATCH: i64 = 5_000;

impl ProxyRecorder {
    /// Starts the writer; it ends after writing what is queued once every recorder
    /// clone is dropped.
    pub fn start(
        store: Store,
        network: NetworkSource,
    ) -> (ProxyRecorder, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let task = tokio::spawn(write_loop(store, rx));
        (ProxyRecorder { tx, network }, task)
    }

    /// Queues a share's verdict. Waits when the writer is behind: a verdict is
    /// money and is never dropped.
    pub async fn record(&self, share: NewProxyShare) {
        if self.tx.send(share).await.is_err() {
            tracing::error!("proxy share writer stopped; a share verdict was not recorded");
        }
    }
}

async fn write_loop(store: Store, mut rx: mpsc::Receiver<NewProxyShare>) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let n = rx.recv_many(&mut batch, BATCH).await;
        if n == 0 {
            return;
        }
        // Collect a little more for one transaction, without holding the first long.
        let deadline = tokio::time::Instant::now() + FLUSH;
        while batch.len() < BATCH {
            let room = BATCH - batch.len();
            match tokio::time::timeout_at(deadline, rx.recv_many(&mut batch, room)).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        let mut delay = Duration::from_millis(100);
        loop {
            match store.insert_proxy_shares(&batch).await {
                Ok(()) => break,
                // Keep them and try again: the database may be restarting.
                Err(e) => {
                    tracing::error!(error = %e, shares = batch.len(), "cannot write proxy shares; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
        batch.clear();
    }
}

/// Credits a proxy coin's accepted shares every `period` until `stop`.
pub async fn run_crediting(
    store: Store,
    coin: CoinConfig,
    network: NetworkSource,
    period: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let symbol = coin.spec().symbol.to_string();
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut warned_waiting = false;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            r = stop.changed() => if r.is_err() || *stop.borrow() { return },
        }
        loop {
            let fallback = network(&symbol);
            match store
                .credit_proxy_shares(
                    &symbol,
                    coin.fee_rate(),
                    coin.fee_account(),
                    fallback,
                    CREDIT_BATCH,
                )
                .await
            {
                Ok(pass) => {
                    if pass.shares > 0 {
                        tracing::info!(coin = %symbol, shares = pass.shares, credited = pass.credited.atomic(), fees = pass.fees.atomic(), "PPS credits");
                    }
                    if pass.waiting > 0 && !warned_waiting {
                        tracing::warn!(coin = %symbol, shares = pass.waiting, "accepted proxy shares wait for fresh network difficulty and reward before they are credited");
                    }
                    warned_waiting = pass.waiting > 0;
                    if pass.shares < CREDIT_BATCH as u64 {
                        break;
                    }
                }
                Err(e) => {
                    tracing::error!(coin = %symbol, error = %e, "PPS crediting failed; will retry");
                    break;
                }
            }
        }
    }
}

/// Network difficulty and block reward of proxy coins, read from their daemons
/// (`get_info` and the last block's header) and kept fresh for [`NetworkSource`]. Data older than
/// `max_age` is never handed out: shares then wait for fresh data.
#[derive(Clone, Default)]
pub struct DaemonNetwork {
    latest: Arc<
        std::sync::RwLock<std::collections::BTreeMap<String, (NetworkAtShare, std::time::Instant)>>,
    >,
}

impl DaemonNetwork {
    pub fn source(&self, max_age: Duration) -> NetworkSource {
        let latest = self.latest.clone();
        Arc::new(move |coin| {
            let map = latest.read().ok()?;
            let (n, at) = map.get(coin)?;
            (at.elapsed() <= max_age).then_some(*n)
        })
    }

    /// Polls `daemons` of a Monero proxy coin every `period` until `stop`.
    pub async fn run_monero(
        self,
        coin: String,
        daemons: Vec<crate::daemon::MoneroDaemon>,
        period: Duration,
        stop: watch::Receiver<bool>,
    ) {
        let readers = daemons
            .into_iter()
            .map(|d| Box::new(d) as Box<dyn NetworkRead>)
            .collect();
        self.run(coin, readers, period, stop).await
    }

    /// Polls `daemons` of a Bitcoin-family proxy coin every `period` until `stop`.
    pub async fn run_bitcoin(
        self,
        spec: &'static defpool_core::CoinSpec,
        daemons: Vec<crate::daemon::BitcoinDaemon>,
        period: Duration,
        stop: watch::Receiver<bool>,
    ) {
        let Ok(algorithm) = defpool_core::pow::bitcoin::PowAlgorithm::try_from(spec.algorithm)
        else {
            return;
        };
        let readers = daemons
            .into_iter()
            .map(|daemon| {
                Box::new(BitcoinNetwork {
                    daemon,
                    spec,
                    algorithm,
                }) as Box<dyn NetworkRead>
            })
            .collect();
        self.run(spec.symbol.to_string(), readers, period, stop)
            .await
    }

    /// Asks the daemons in order every `period`; the first answer is the coin's data.
    async fn run(
        self,
        coin: String,
        daemons: Vec<Box<dyn NetworkRead>>,
        period: Duration,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut failing = false;
        loop {
            let mut got = None;
            for d in &daemons {
                match d.read().await {
                    Ok(n) => {
                        got = Some(n);
                        break;
                    }
                    // Said once when it starts failing, not every period.
                    Err(e) => {
                        if !failing {
                            tracing::warn!(coin = %coin, daemon = %d.url(), error = %e, "cannot read network difficulty for PPS");
                        }
                    }
                }
            }
            failing = got.is_none();
            if let (Some(n), Ok(mut map)) = (got, self.latest.write()) {
                map.insert(coin.clone(), (n, std::time::Instant::now()));
            }
            tokio::select! {
                _ = tokio::time::sleep(period) => {}
                r = stop.changed() => if r.is_err() || *stop.borrow() { return },
            }
        }
    }
}

/// One daemon's view of its coin's network difficulty and block reward.
#[async_trait::async_trait]
trait NetworkRead: Send + Sync {
    fn url(&self) -> &str;
    async fn read(&self) -> Result<NetworkAtShare, String>;
}

#[async_trait::async_trait]
impl NetworkRead for crate::daemon::MoneroDaemon {
    fn url(&self) -> &str {
        crate::daemon::MoneroDaemon::url(self)
    }

    /// get_info's difficulty is the next block's (what a share now works towards);
    /// the reward is the last block's, a close estimate.
    async fn read(&self) -> Result<NetworkAtShare, String> {
        let info = self.get_info().await.map_err(|e| e.to_string())?;
        let header = self.last_block_header().await.map_err(|e| e.to_string())?;
        if info.difficulty == 0 || header.reward == 0 {
            return Err("daemon reports no difficulty or reward yet".into());
        }
        Ok(NetworkAtShare {
            difficulty: info.difficulty as f64,
            block_reward: defpool_core::Amount::from_atomic(header.reward),
        })
    }
}

/// `getblocktemplate` gives the next block's target, as a difficulty in the coin's
/// stratum units (the units of its shares, scrypt's 2^16 included), and the next
/// block's reward.
struct BitcoinNetwork {
    daemon: crate::daemon::BitcoinDaemon,
    spec: &'static defpool_core::CoinSpec,
    algorithm: defpool_core::pow::bitcoin::PowAlgorithm,
}

#[async_trait::async_trait]
impl NetworkRead for BitcoinNetwork {
    fn url(&self) -> &str {
        self.daemon.url()
    }

    async fn read(&self) -> Result<NetworkAtShare, String> {
        use defpool_core::job::bitcoin::{GetBlockTemplate, Template};
        let raw = self
            .daemon
            .block_template(self.spec)
            .await
            .map_err(|e| e.to_string())?;
        let gbt: GetBlockTemplate = serde_json::from_value(raw).map_err(|e| e.to_string())?;
        let t = Template::from_gbt(&gbt).map_err(|e| e.to_string())?;
        Ok(NetworkAtShare {
            difficulty: self.algorithm.difficulty_of_target(&t.target),
            block_reward: t.coinbase_value,
        })
    }
}
