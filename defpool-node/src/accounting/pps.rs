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
