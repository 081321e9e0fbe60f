//! `GET /api/v1/profitability`: the profit monitor's table and latest decisions.

use axum::extract::State;
use axum::Json;
use defpool_core::api::ProfitabilityReport;

use super::AppState;

/// Each coin's price (with its source and age), network difficulty and block reward,
/// expected revenue per hash per second per day in BTC and whether its data is stale,
/// and the profit switcher's latest decisions. `enabled` is false on a node without a
/// `[profit]` section.
#[utoipa::path(get, path = "/api/v1/profitability", tag = "pool",
    responses((status = 200, description = "The profitability table", body = ProfitabilityReport)))]
pub async fn profitability(State(s): State<AppState>) -> Json<ProfitabilityReport> {
    Json(s.profit.report())
}
