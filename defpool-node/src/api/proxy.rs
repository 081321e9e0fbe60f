//! Proxy mode: upstream connections and the accounting of forwarded shares.

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::Json;
use defpool_core::api::{
    CoinAmount, ErrorBody, ProxyCoinView, ProxyReport, UpstreamConnectionView,
};

use super::{ApiError, AppState};
use crate::mining::JobSource;

/// Proxy-mode coins: each upstream connection (which upstream it uses, how many
/// miners share it, its share counters) and the PPS accounting of forwarded shares.
#[utoipa::path(get, path = "/api/v1/proxy", tag = "pool",
    responses((status = 200, body = ProxyReport), (status = 500, body = ErrorBody)))]
pub async fn proxy_report(State(s): State<AppState>) -> Result<Json<ProxyReport>, ApiError> {
    let mut coins = Vec::new();
    for (coin, source) in &s.sources {
        let connections: Vec<UpstreamConnectionView> = match source {
            JobSource::MoneroProxy(slots) => slots
                .connections()
                .into_iter()
                .map(|(u, miners)| {
                    let view = connection_view(&u.stats, miners);
                    UpstreamConnectionView {
                        upstream: u.active().map(|i| u.endpoint_url(i)),
                        height: u.current().map(|j| j.height),
                        ..view
                    }
                })
                .collect(),
            JobSource::BitcoinProxy(slots) => slots
                .connections()
                .into_iter()
                .map(|(u, miners)| {
                    let view = connection_view(&u.stats, miners);
                    UpstreamConnectionView {
                        upstream: u.active().map(|i| u.endpoint_url(i)),
                        height: u.current().map(|j| j.height),
                        ..view
                    }
                })
                .collect(),
            _ => continue,
        };
        let totals = s.store.proxy_totals(coin, None).await?;
        coins.push(ProxyCoinView {
            coin: coin.clone(),
            connections,
            accepted: totals.accepted,
            rejected: totals.rejected,
            lost: totals.lost,
            uncredited: totals.uncredited,
            credited: CoinAmount::new(coin, totals.credited),
            fees: CoinAmount::new(coin, totals.fees),
        });
    }
    Ok(Json(ProxyReport { coins }))
}

fn connection_view(st: &crate::upstream::UpstreamStats, miners: usize) -> UpstreamConnectionView {
    UpstreamConnectionView {
        upstream: None,
        miners: miners as u64,
        height: None,
        jobs: st.jobs.load(Ordering::Relaxed),
        submitted: st.submitted.load(Ordering::Relaxed),
        accepted: st.accepted.load(Ordering::Relaxed),
        rejected: st.rejected.load(Ordering::Relaxed),
        lost: st.lost.load(Ordering::Relaxed),
    }
}
