//! The REST API under `/api/v1` (axum), with its OpenAPI document generated from the
//! handlers' annotations and served at `/api/v1/openapi.json`.

mod auth;
mod bans;
mod config;
mod error;
mod metrics;
mod miners;
mod payouts;
mod pool;
mod profitability;
mod proxy;
pub mod stream;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{FromRequest, Request};
use axum::routing::get;
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use error::ApiError;
pub(crate) use miners::{balance_view, payout_view};
pub(crate) use pool::block_view;

use crate::config::Config;
use crate::daemon::DaemonSet;
use crate::payout::Wallet;
use crate::store::Store;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<Config>,
    /// The config as reloaded (`POST /config/reload`): read payout minimums and
    /// auto-payout from here, not from `config`.
    pub live: crate::live_config::LiveConfig,
    pub started: Instant,
    pub daemons: BTreeMap<String, Arc<DaemonSet>>,
    pub wallets: BTreeMap<String, Arc<dyn Wallet>>,
    /// Job sources of the coins served on stratum ports.
    pub sources: BTreeMap<String, crate::mining::JobSource>,
    /// Stratum counters, when the node serves stratum ports.
    pub stratum: Option<Arc<crate::stratum::StratumShared>>,
    pub sink: crate::accounting::ShareSink,
    /// The live stream's event hub.
    pub events: crate::events::EventHub,
    /// Flips to true when the node stops: open streams close (the HTTP server's
    /// graceful shutdown would otherwise wait for every WebSocket client to leave).
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    /// Pool statistics and health for stream snapshots, shared for a moment: a burst
    /// of (re)connecting dashboards must not run the statistics query once each.
    pub snapshot_cache: stream::SnapshotCache,
    /// Prices, network figures and switching decisions (`[profit]`).
    pub profit: crate::profit::ProfitMonitor,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "DefPool node API", description = "Pool state, miners, balances and payouts. Amounts are strings of atomic units next to their coin; times are unix milliseconds."),
    modifiers(&BearerAuth),
    tags(
        (name = "pool", description = "Pool-wide state"),
        (name = "miners", description = "Miners, balances, payouts and settings"),
        (name = "admin", description = "Operator operations (bearer token)")
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The router with every endpoint, and the OpenAPI document describing them.
pub fn router(state: AppState) -> Router {
    let (router, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(pool::health))
        .routes(routes!(pool::pool_stats))
        .routes(routes!(pool::blocks))
        .routes(routes!(pool::audit))
        .routes(routes!(proxy::proxy_report))
        .routes(routes!(miners::list_miners))
        .routes(routes!(miners::miner))
        .routes(routes!(miners::balances))
        .routes(routes!(miners::balance))
        .routes(routes!(miners::request_payout))
        .routes(routes!(miners::payouts))
        .routes(routes!(
            miners::get_payout_settings,
            miners::put_payout_settings
        ))
        .routes(routes!(payouts::all_payouts))
        .routes(routes!(payouts::cancel_payout))
        .routes(routes!(payouts::retry_payout))
        .routes(routes!(bans::list_bans, bans::add_ban))
        .routes(routes!(bans::remove_ban))
        .routes(routes!(config::show_config))
        .routes(routes!(config::reload_config))
        .routes(routes!(profitability::profitability))
        .split_for_parts();
    let openapi = Arc::new(openapi);
    router
        .route(
            "/api/v1/openapi.json",
            get(move || {
                let doc = openapi.clone();
                async move { Json(doc.as_ref().clone()) }
            }),
        )
        .route("/metrics", get(metrics::metrics))
        .route("/api/v1/stream", get(stream::stream))
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .with_state(state)
        .layer(tower_http::trace::TraceLayer::new_for_http())
}

/// `Json` whose rejections speak the API's error format.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let Json(v) = Json::<T>::from_request(req, state).await?;
        Ok(ApiJson(v))
    }
}

/// A list endpoint's `coin` filter: `None` when absent or empty, the coin's symbol
/// when configured, 404 `unknown_coin` otherwise.
pub(crate) fn coin_filter(s: &AppState, coin: Option<&str>) -> Result<Option<String>, ApiError> {
    match coin {
        None | Some("") => Ok(None),
        Some(c) => s
            .config
            .coin(c)
            .map(|coin| Some(coin.spec().symbol.to_string()))
            .ok_or_else(|| {
                ApiError::new(
                    axum::http::StatusCode::NOT_FOUND,
                    "unknown_coin",
                    format!("coin {c:?} is not configured on this pool"),
                )
            }),
    }
}

/// `limit` and `cursor` of every list endpoint.
pub(crate) fn page_limit(limit: Option<i64>) -> Result<i64, ApiError> {
    match limit {
        None => Ok(50),
        Some(l) if (1..=500).contains(&l) => Ok(l),
        Some(l) => Err(ApiError::bad_request(format!(
            "limit must be between 1 and 500, got {l}"
        ))),
    }
}

pub(crate) fn parse_cursor(cursor: Option<&str>) -> Result<Option<i64>, ApiError> {
    crate::store::parse_cursor(cursor).map_err(ApiError::bad_request)
}

/// The cursor for the page after `items` (absent when the page was not full).
pub(crate) fn next_cursor(
    ids: impl Iterator<Item = i64>,
    len: usize,
    limit: i64,
) -> Option<String> {
    if (len as i64) < limit {
        return None;
    }
    ids.last().map(|id| id.to_string())
}
