//! Proxy mode's side towards upstream pools: stratum V1 clients of both dialects,
//! with reconnect, keepalive and ordered failover, and the nonce-space splitting
//! that lets many miners share one upstream connection.

pub mod bitcoin;
pub mod cryptonote;
pub mod health;
pub mod link;
pub mod rotation;
pub mod slots;

use std::sync::atomic::AtomicU64;
use std::time::Duration;

pub use health::HealthLimits;
pub use link::{CallError, Incoming, Link, UpstreamUrl};

use crate::config::UpstreamConfig;

/// One configured upstream pool.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub url: UpstreamUrl,
    /// The URL as configured, for logs and health.
    pub raw_url: String,
    pub login: String,
    pub password: String,
}

impl Endpoint {
    pub fn from_config(c: &UpstreamConfig) -> Result<Endpoint, String> {
        Ok(Endpoint {
            url: UpstreamUrl::parse(&c.url)?,
            raw_url: c.url.clone(),
            login: c.login.clone(),
            password: c.password.clone(),
        })
    }
}

/// How upstream connections behave.
#[derive(Clone, Debug)]
pub struct UpstreamSettings {
    pub connect_timeout: Duration,
    /// How long a request (login, submit) may wait for its answer.
    pub call_timeout: Duration,
    pub keepalive: Duration,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    pub limits: HealthLimits,
    /// The `agent` sent at login.
    pub agent: String,
}

impl Default for UpstreamSettings {
    fn default() -> Self {
        UpstreamSettings {
            connect_timeout: Duration::from_secs(10),
            call_timeout: Duration::from_secs(30),
            keepalive: Duration::from_secs(60),
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            limits: HealthLimits::default(),
            agent: format!("defpool-proxy/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// Counters of one upstream connection.
#[derive(Debug, Default)]
pub struct UpstreamStats {
    pub jobs: AtomicU64,
    pub submitted: AtomicU64,
    pub accepted: AtomicU64,
    pub rejected: AtomicU64,
    /// Shares whose connection dropped before the upstream answered.
    pub lost: AtomicU64,
}

/// What the node shows of one upstream connection, whatever its dialect.
pub trait UpstreamView: Send + Sync {
    /// Every configured upstream, in order, as this connection last found it.
    fn health(&self) -> Vec<crate::daemon::DaemonHealth>;
    /// The upstream in use; `None` while reconnecting.
    fn active_url(&self) -> Option<String>;
    /// Height and arrival of the current job.
    fn current_job(&self) -> Option<(u64, std::time::Instant)>;
    fn stats(&self) -> &UpstreamStats;
}

impl UpstreamView for cryptonote::CnUpstream {
    fn health(&self) -> Vec<crate::daemon::DaemonHealth> {
        cryptonote::CnUpstream::health(self)
    }
    fn active_url(&self) -> Option<String> {
        self.active().map(|i| self.endpoint_url(i))
    }
    fn current_job(&self) -> Option<(u64, std::time::Instant)> {
        self.current().map(|j| (j.height, j.received))
    }
    fn stats(&self) -> &UpstreamStats {
        &self.stats
    }
}

impl UpstreamView for bitcoin::BtcUpstream {
    fn health(&self) -> Vec<crate::daemon::DaemonHealth> {
        bitcoin::BtcUpstream::health(self)
    }
    fn active_url(&self) -> Option<String> {
        self.active().map(|i| self.endpoint_url(i))
    }
    fn current_job(&self) -> Option<(u64, std::time::Instant)> {
        self.current().map(|j| (j.height, j.received))
    }
    fn stats(&self) -> &UpstreamStats {
        &self.stats
    }
}

/// The upstream connections of a slot pool with the miners on each, as views.
pub fn connection_views<U: UpstreamView + 'static>(
    slots: &slots::SlotPool<U>,
) -> Vec<(std::sync::Arc<dyn UpstreamView>, usize)> {
    slots
        .connections()
        .into_iter()
        .map(|(u, miners)| (u as std::sync::Arc<dyn UpstreamView>, miners))
        .collect()
}

/// Counts an upstream's verdict on a share and, when the share was sent on the
/// connection in use (`live_generation`), lets it judge that connection's health.
pub(crate) fn record_outcome(
    stats: &UpstreamStats,
    vitals: &std::sync::Mutex<health::UpstreamVitals>,
    limits: &HealthLimits,
    live_generation: Option<u64>,
    share_generation: u64,
    accepted: Option<bool>,
) {
    use std::sync::atomic::Ordering;
    match accepted {
        Some(true) => stats.accepted.fetch_add(1, Ordering::Relaxed),
        Some(false) => stats.rejected.fetch_add(1, Ordering::Relaxed),
        None => stats.lost.fetch_add(1, Ordering::Relaxed),
    };
    let Some(accepted) = accepted else { return };
    if live_generation == Some(share_generation) {
        if let Ok(mut v) = vitals.lock() {
            v.share_outcome(accepted, limits);
        }
    }
}
