//! Where work comes from: job sources built from daemon templates (pool and solo
//! mode), and the share verifier.

pub mod bitcoin_source;
pub mod monero_source;
pub mod verifier;

pub use bitcoin_source::{BitcoinSource, BitcoinWork};
pub use monero_source::{MoneroJob, MoneroSource};
pub use verifier::RandomxVerifier;

use std::sync::Arc;

use crate::daemon::DaemonHealth;
use crate::upstream::bitcoin::BtcUpstream;
use crate::upstream::cryptonote::CnUpstream;
use crate::upstream::slots::SlotPool;
use crate::upstream::{connection_views, UpstreamView};

/// A coin's job source, whatever its family (for health and status views).
#[derive(Clone)]
pub enum JobSource {
    Monero(Arc<MoneroSource>),
    Bitcoin(Arc<BitcoinSource>),
    /// Proxy mode: upstream connections shared by nonce slots.
    MoneroProxy(Arc<SlotPool<CnUpstream>>),
    /// Proxy mode, Bitcoin dialect: upstream connections shared by extranonce slots.
    BitcoinProxy(Arc<SlotPool<BtcUpstream>>),
}

impl JobSource {
    /// Daemons (pool and solo mode) or upstreams (proxy mode, per connection).
    pub fn health(&self) -> Vec<DaemonHealth> {
        match self {
            JobSource::Monero(s) => s.health(),
            JobSource::Bitcoin(s) => s.health(),
            // Every connection walks the same upstream list; the first one shows
            // where the others are too.
            JobSource::MoneroProxy(_) | JobSource::BitcoinProxy(_) => self
                .upstream_connections()
                .first()
                .map(|(u, _)| u.health())
                .unwrap_or_default(),
        }
    }

    /// What [`JobSource::health`] lists: daemons giving templates, or upstreams.
    pub fn health_kind(&self) -> &'static str {
        match self {
            JobSource::Monero(_) | JobSource::Bitcoin(_) => "template",
            JobSource::MoneroProxy(_) | JobSource::BitcoinProxy(_) => "upstream",
        }
    }

    /// Proxy mode: the upstream connections with the miners on each; empty for a
    /// daemon source.
    pub fn upstream_connections(&self) -> Vec<(Arc<dyn UpstreamView>, usize)> {
        match self {
            JobSource::MoneroProxy(slots) => connection_views(slots),
            JobSource::BitcoinProxy(slots) => connection_views(slots),
            _ => Vec::new(),
        }
    }

    /// Proxy mode: height of the newest upstream job and when it came.
    pub fn upstream_job(&self) -> Option<(u64, std::time::Instant)> {
        self.upstream_connections()
            .iter()
            .filter_map(|(u, _)| u.current_job())
            .max_by_key(|(_, at)| *at)
    }
}

/// The health of a job source's daemons, in configured order, logged when a daemon
/// is taken out of or back into rotation.
pub(crate) struct HealthBoard(std::sync::Mutex<Vec<DaemonHealth>>, &'static str);

impl HealthBoard {
    pub(crate) fn new<'a>(urls: impl Iterator<Item = &'a str>) -> Self {
        Self::named("daemon", urls)
    }

    /// A board whose log lines name its entries `what` ("daemon", "upstream").
    pub(crate) fn named<'a>(what: &'static str, urls: impl Iterator<Item = &'a str>) -> Self {
        HealthBoard(
            std::sync::Mutex::new(
                urls.map(|url| DaemonHealth {
                    url: url.to_string(),
                    ok: false,
                    detail: Some("not checked yet".into()),
                })
                .collect(),
            ),
            what,
        )
    }

    pub(crate) fn snapshot(&self) -> Vec<DaemonHealth> {
        self.0.lock().map(|h| h.clone()).unwrap_or_default()
    }

    pub(crate) fn note(&self, i: usize, r: Result<(), String>) {
        if let Ok(mut h) = self.0.lock() {
            if let Some(e) = h.get_mut(i) {
                if e.ok != r.is_ok() {
                    match &r {
                        Ok(()) => {
                            if self.1 == "upstream" {
                                tracing::info!(upstream = %e.url, "upstream back in")
                            } else {
                                tracing::info!(daemon = %e.url, "daemon back in")
                            }
                        }
                        Err(err) => {
                            if self.1 == "upstream" {
                                tracing::warn!(upstream = %e.url, error = %err, "upstream taken out")
                            } else {
                                tracing::warn!(daemon = %e.url, error = %err, "daemon taken out")
                            }
                        }
                    }
                }
                e.ok = r.is_ok();
                e.detail = r.err();
            }
        }
    }
}
