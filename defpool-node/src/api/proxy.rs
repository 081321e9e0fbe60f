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
/// miners share it, its share counters), the PPS accounting of forwarded shares,
/// and the reconciliation of what the upstreams should have paid with what the
/// pool's wallet received.
#[utoipa::path(get, path = "/api/v1/proxy", tag = "pool",
    responses((status = 200, body = ProxyReport), (status = 500, body = ErrorBody)))]
pub async fn proxy_report(State(s): State<AppState>) -> Result<Json<ProxyReport>, ApiError> {
    let mut coins = Vec::new();
    for (coin, source) in &s.sources {
        if !matches!(
            source,
            JobSource::MoneroProxy(_) | JobSource::BitcoinProxy(_)
        ) {
            continue;
        }
        let connections: Vec<UpstreamConnectionView> = source
            .upstream_connections()
            .into_iter()
            .map(|(u, miners)| {
                let st = u.stats();
                UpstreamConnectionView {
                    upstream: u.active_url(),
                    miners: miners as u64,
                    height: u.current_job().map(|(h, _)| h),
                    jobs: st.jobs.load(Ordering::Relaxed),
                    submitted: st.submitted.load(Ordering::Relaxed),
                    accepted: st.accepted.load(Ordering::Relaxed),
                    rejected: st.rejected.load(Ordering::Relaxed),
                    lost: st.lost.load(Ordering::Relaxed),
                }
            })
            .collect();
        let totals = s.store.proxy_totals(coin, None).await?;
        let (received, received_error) = match (s.wallets.get(coin), s.config.coin(coin)) {
            (Some(wallet), Some(cfg)) => match wallet.received(&cfg.pool_address).await {
                Ok(a) => (Some(CoinAmount::new(coin, a)), None),
                Err(e) => (None, Some(e.to_string())),
            },
            _ => (None, Some("no wallet configured for this coin".to_string())),
        };
        let expected = totals.credited.checked_add(totals.fees).ok_or_else(|| {
            ApiError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "expected total overflows u64",
            )
        })?;
        coins.push(ProxyCoinView {
            coin: coin.clone(),
            connections,
            accepted: totals.accepted,
            rejected: totals.rejected,
            lost: totals.lost,
            uncredited: totals.uncredited,
            credited: CoinAmount::new(coin, totals.credited),
            fees: CoinAmount::new(coin, totals.fees),
            expected: CoinAmount::new(coin, expected),
            received,
            received_error,
        });
    }
    Ok(Json(ProxyReport { coins }))
}
