//! Pool-wide endpoints: health, stats, blocks, audit.

use axum::extract::{Query, State};
use axum::Json;
use defpool_core::api::{
    AuditReport, BlockStatus, BlockView, CoinAmount, CoinStats, ComponentHealth, ErrorBody, Health,
    Page, PoolStats,
};
use serde::Deserialize;
use utoipa::IntoParams;

use super::auth::Admin;
use super::{next_cursor, page_limit, parse_cursor, ApiError, AppState};
use crate::accounting::run_audit;
use crate::store::{now_ms, BlockQuery, BlockRecord};

/// Node health: the database and every configured daemon and wallet.
#[utoipa::path(get, path = "/api/v1/health", tag = "pool",
    responses((status = 200, description = "Component states", body = Health)))]
pub async fn health(State(s): State<AppState>) -> Json<Health> {
    Json(health_of(&s).await)
}

/// Every component's state, asked now.
pub(crate) async fn health_of(s: &AppState) -> Health {
    let mut components = vec![ComponentHealth {
        name: "database".into(),
        status: if s.store.ping().await { "ok" } else { "down" }.into(),
        detail: None,
    }];
    for coin in &s.config.coins {
        let symbol = coin.spec().symbol;
        if let Some(set) = s.daemons.get(symbol) {
            // Ask now rather than report whatever the last block check saw.
            set.probe_all().await;
            for d in set.health() {
                components.push(ComponentHealth {
                    name: format!("daemon:{symbol}:{}", d.url),
                    status: if d.ok { "ok" } else { "down" }.into(),
                    detail: d.detail,
                });
            }
        }
        if let Some(source) = s.sources.get(symbol) {
            for d in source.health() {
                components.push(ComponentHealth {
                    name: format!("{}:{symbol}:{}", source.health_kind(), d.url),
                    status: if d.ok { "ok" } else { "down" }.into(),
                    detail: d.detail,
                });
            }
        }
        match s.wallets.get(symbol) {
            Some(w) => {
                let r = w.check().await;
                components.push(ComponentHealth {
                    name: format!("wallet:{symbol}"),
                    status: if r.is_ok() { "ok" } else { "down" }.into(),
                    detail: r.err().map(|e| e.to_string()),
                });
            }
            None => components.push(ComponentHealth {
                name: format!("wallet:{symbol}"),
                status: "not_configured".into(),
                detail: Some("payouts wait until a wallet is configured".into()),
            }),
        }
    }
    let status = if components.iter().all(|c| c.status != "down") {
        "ok"
    } else {
        "degraded"
    };
    Health {
        status: status.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        uptime_secs: s.started.elapsed().as_secs(),
        components,
    }
}

/// Per-coin pool statistics over the hashrate window.
#[utoipa::path(get, path = "/api/v1/pool/stats", tag = "pool",
    responses((status = 200, body = PoolStats), (status = 503, body = ErrorBody)))]
pub async fn pool_stats(State(s): State<AppState>) -> Result<Json<PoolStats>, ApiError> {
    Ok(Json(stats_of(&s).await?))
}

/// Per-coin statistics over the hashrate window.
pub(crate) async fn stats_of(s: &AppState) -> Result<PoolStats, ApiError> {
    let window = s.config.accounting.hashrate_window;
    let since = now_ms() - window.as_millis() as i64;
    let mut coins = Vec::new();
    for coin in &s.config.coins {
        let spec = coin.spec();
        let a = s.store.coin_activity(spec.symbol, since).await?;
        coins.push(CoinStats {
            coin: spec.symbol.into(),
            mode: coin.mode.as_str().into(),
            scheme: coin.effective_scheme().as_str().into(),
            fee_percent: coin.fee_percent,
            miners: a.miners,
            workers: a.workers,
            hashrate: a.accepted_difficulty * spec.algorithm.hashes_per_difficulty()
                / window.as_secs_f64(),
            blocks_pending: a.blocks_pending,
            blocks_confirmed: a.blocks_confirmed,
            blocks_orphaned: a.blocks_orphaned,
            last_block_height: a.last_block_height,
            last_block_at: a.last_block_at,
            total_paid: CoinAmount::new(spec.symbol, a.total_paid),
            wallet_configured: s.wallets.contains_key(spec.symbol),
        });
    }
    Ok(PoolStats {
        coins,
        hashrate_window_secs: window.as_secs(),
    })
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct BlockParams {
    /// Only this coin.
    pub coin: Option<String>,
    /// `pending`, `confirmed` or `orphaned`.
    pub status: Option<String>,
    /// Page size, 1–500 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

pub(crate) fn block_view(b: BlockRecord) -> BlockView {
    BlockView {
        id: b.id,
        reward: CoinAmount::new(&b.coin, b.reward),
        coin: b.coin,
        height: b.height,
        hash: b.hash,
        finder: b.finder,
        worker: b.worker,
        mode: b.mode,
        scheme: b.scheme,
        status: b.status,
        confirmations: b.confirmations,
        maturity: b.maturity,
        network_difficulty: b.network_difficulty,
        found_at: b.found_at,
        updated_at: b.updated_at,
    }
}

/// Blocks found by the pool, newest first.
#[utoipa::path(get, path = "/api/v1/blocks", tag = "pool", params(BlockParams),
    responses((status = 200, body = Page<BlockView>), (status = 400, body = ErrorBody)))]
pub async fn blocks(
    State(s): State<AppState>,
    q: Result<Query<BlockParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Page<BlockView>>, ApiError> {
    let Query(q) = q?;
    let limit = page_limit(q.limit)?;
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(st) => Some(BlockStatus::parse(st).ok_or_else(|| {
            ApiError::bad_request(format!(
                "status must be pending, confirmed or orphaned, got {st:?}"
            ))
        })?),
    };
    let coin = super::coin_filter(&s, q.coin.as_deref())?;
    let rows = s
        .store
        .blocks(&BlockQuery {
            coin,
            status,
            finder: None,
            before_id: parse_cursor(q.cursor.as_deref())?,
            limit,
        })
        .await?;
    let next = next_cursor(rows.iter().map(|b| b.id), rows.len(), limit);
    Ok(Json(Page {
        items: rows.into_iter().map(block_view).collect(),
        next_cursor: next,
    }))
}

/// Recomputes every balance from the ledger and every block split from its shares.
#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "admin", security(("admin_token" = [])),
    responses((status = 200, description = "`ok` is false when any difference was found", body = AuditReport),
              (status = 401, body = ErrorBody)))]
pub async fn audit(
    _admin: Admin,
    State(s): State<AppState>,
) -> Result<Json<AuditReport>, ApiError> {
    Ok(Json(run_audit(&s.store).await?))
}
