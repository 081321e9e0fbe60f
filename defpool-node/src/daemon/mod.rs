//! Coin daemon clients: what the ledger needs from a chain (tip height, the hash at a
//! height) behind one trait, with ordered failover across a coin's daemons.
//!
//! Templates, block submission and new-block detection arrive with the coin issues
//! and build on the same JSON-RPC client.

mod bitcoin;
mod monero;
mod rpc;

use std::sync::Mutex;

use async_trait::async_trait;
use defpool_core::coin::Family;

pub use self::bitcoin::{AddressCheck, BitcoinDaemon, ChainInfo, MiningInfo, SubmitOutcome};
pub use self::monero::{MoneroDaemon, TxLocation};
pub use rpc::{JsonRpcClient, RpcError};

use crate::config::{CoinConfig, DaemonConfig};

/// What block maturity and orphan detection need from a chain.
#[async_trait]
pub trait ChainView: Send + Sync {
    /// Height of the newest block of the main chain.
    async fn tip_height(&self) -> Result<u64, RpcError>;
    /// Hash of the main-chain block at `height`, `None` above the tip.
    async fn block_hash(&self, height: u64) -> Result<Option<String>, RpcError>;
}

/// Health of one daemon as last seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DaemonHealth {
    pub url: String,
    pub ok: bool,
    pub detail: Option<String>,
}

/// A coin's daemons in configured order: each call goes to the first that answers.
pub struct DaemonSet {
    daemons: Vec<(String, Box<dyn ChainView>)>,
    health: Mutex<Vec<DaemonHealth>>,
}

impl DaemonSet {
    pub fn from_config(coin: &CoinConfig) -> Result<DaemonSet, RpcError> {
        let family = coin.spec().family;
        let daemons = coin
            .daemons
            .iter()
            .map(|d| Ok((d.url.clone(), build(family, d)?)))
            .collect::<Result<Vec<_>, RpcError>>()?;
        let health = coin
            .daemons
            .iter()
            .map(|d| DaemonHealth {
                url: d.url.clone(),
                ok: false,
                detail: Some("not checked yet".into()),
            })
            .collect();
        Ok(DaemonSet {
            daemons,
            health: Mutex::new(health),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.daemons.is_empty()
    }

    pub fn health(&self) -> Vec<DaemonHealth> {
        self.health.lock().map(|h| h.clone()).unwrap_or_default()
    }

    fn note(&self, index: usize, result: Result<(), &RpcError>) {
        if let Ok(mut h) = self.health.lock() {
            if let Some(entry) = h.get_mut(index) {
                entry.ok = result.is_ok();
                entry.detail = result.err().map(|e| e.to_string());
            }
        }
    }

    /// Asks every daemon for its tip and records who answered (for health).
    pub async fn probe_all(&self) {
        for (i, (_, d)) in self.daemons.iter().enumerate() {
            let r = d.tip_height().await;
            self.note(i, r.as_ref().map(|_| ()));
        }
    }

    /// Tip height and the hashes at `heights`, all from the same daemon so a block's
    /// depth and its hash are read from one view of the chain.
    pub async fn chain_state(
        &self,
        heights: &[u64],
    ) -> Result<(u64, Vec<Option<String>>), RpcError> {
        let mut last_err = RpcError::NoDaemon;
        for (i, (url, d)) in self.daemons.iter().enumerate() {
            let attempt = async {
                let tip = d.tip_height().await?;
                let mut hashes = Vec::with_capacity(heights.len());
                for h in heights {
                    hashes.push(if *h > tip {
                        None
                    } else {
                        d.block_hash(*h).await?
                    });
                }
                Ok::<_, RpcError>((tip, hashes))
            }
            .await;
            match attempt {
                Ok(v) => {
                    self.note(i, Ok(()));
                    return Ok(v);
                }
                Err(e) => {
                    tracing::warn!(daemon = %url, error = %e, "daemon failed; trying the next");
                    self.note(i, Err(&e));
                    last_err = e;
                }
            }
        }
        Err(last_err)
    }
}

fn build(family: Family, d: &DaemonConfig) -> Result<Box<dyn ChainView>, RpcError> {
    Ok(match family {
        Family::Monero => Box::new(MoneroDaemon::new(&d.url)?),
        Family::Bitcoin => match &d.cookie_file {
            Some(cookie) => Box::new(BitcoinDaemon::with_cookie_file(&d.url, cookie)?),
            None => Box::new(BitcoinDaemon::new(&d.url, &d.user, &d.password)?),
        },
    })
}
