//! Operator payout endpoints: every miner's payouts, cancelling a pending payout and
//! retrying a failed one.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use defpool_core::api::{ErrorBody, Page, PayoutStatus, PayoutView};
use defpool_core::stream::Event;
use serde::Deserialize;
use utoipa::IntoParams;

use super::auth::Admin;
use super::{next_cursor, page_limit, parse_cursor, payout_view, ApiError, AppState};
use crate::store::{PayoutQuery, PayoutRecord, StoreError};

#[derive(Debug, Deserialize, IntoParams)]
pub struct AllPayoutsParams {
    /// Only this coin.
    pub coin: Option<String>,
    /// `pending`, `processing`, `completed` or `failed`.
    pub status: Option<String>,
    /// Only this miner's payouts.
    pub miner: Option<String>,
    /// Page size, 1–500 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Every miner's payouts, newest first (admin).
#[utoipa::path(get, path = "/api/v1/payouts", tag = "admin", security(("admin_token" = [])),
    params(AllPayoutsParams),
    responses((status = 200, body = Page<PayoutView>), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn all_payouts(
    _admin: Admin,
    State(s): State<AppState>,
    q: Result<Query<AllPayoutsParams>, QueryRejection>,
) -> Result<Json<Page<PayoutView>>, ApiError> {
    let Query(q) = q?;
    let limit = page_limit(q.limit)?;
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(st) => Some(PayoutStatus::parse(st).ok_or_else(|| {
            ApiError::bad_request(format!(
                "status must be pending, processing, completed or failed, got {st:?}"
            ))
        })?),
    };
    let coin = super::coin_filter(&s, q.coin.as_deref())?;
    let rows = s
        .store
        .payouts(&PayoutQuery {
            account: q.miner.filter(|m| !m.is_empty()),
            coin,
            status,
            before_id: parse_cursor(q.cursor.as_deref())?,
            limit,
        })
        .await?;
    let next = next_cursor(rows.iter().map(|p| p.id), rows.len(), limit);
    Ok(Json(Page {
        items: rows.into_iter().map(payout_view).collect(),
        next_cursor: next,
    }))
}

/// Cancels a `pending` payout: it fails with the reason "cancelled by the operator"
/// and its amount is credited back. A `processing` payout may already be sent and is
/// refused (409), as is a finished one.
#[utoipa::path(post, path = "/api/v1/payouts/{id}/cancel", tag = "admin", security(("admin_token" = [])),
    params(("id" = i64, Path, description = "Payout id")),
    responses((status = 200, body = PayoutView), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn cancel_payout(
    _admin: Admin,
    State(s): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<PayoutView>, ApiError> {
    let payout = s.store.cancel_payout(id).await?;
    tracing::info!(payout = id, coin = %payout.coin, miner = %payout.account, amount = %payout.amount, "payout cancelled by the operator");
    Ok(Json(announce(&s, payout)))
}

/// Retries a `failed` payout: a new pending payout of the same amount, debited from
/// the balance the failure credited back. A failed payout is retried at most once
/// (409 after); 422 `insufficient_balance` when that amount is no longer in the
/// balance (paid meanwhile, e.g. by an automatic payout).
#[utoipa::path(post, path = "/api/v1/payouts/{id}/retry", tag = "admin", security(("admin_token" = [])),
    params(("id" = i64, Path, description = "Id of the failed payout")),
    responses((status = 201, description = "The new pending payout", body = PayoutView), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn retry_payout(
    _admin: Admin,
    State(s): State<AppState>,
    Path(id): Path<i64>,
) -> Result<(StatusCode, Json<PayoutView>), ApiError> {
    let payout = match s.store.retry_payout(id).await {
        Ok(p) => p,
        Err(StoreError::InsufficientBalance {
            available,
            requested,
        }) => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "insufficient_balance",
                format!(
                    "payout {id} cannot be retried: its {requested} atomic units are no longer \
                     in the balance ({available} available)"
                ),
            ))
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(payout = payout.id, retry_of = id, coin = %payout.coin, miner = %payout.account, amount = %payout.amount, "failed payout retried by the operator");
    Ok((StatusCode::CREATED, Json(announce(&s, payout))))
}

/// The payout's view, also published on the live stream.
fn announce(s: &AppState, payout: PayoutRecord) -> PayoutView {
    let view = payout_view(payout);
    s.events.publish(Event::PayoutChanged {
        payout: view.clone(),
    });
    view
}
