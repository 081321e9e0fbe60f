//! Stratum bans: list, ban an address for a while, lift a ban (admin).
//!
//! Bans live in memory (the stratum side bans addresses that send invalid shares);
//! they end with their duration or a restart.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use defpool_core::api::{BanList, BanRequest, BanView, ErrorBody};

use super::auth::Admin;
use super::{ApiError, ApiJson, AppState};
use crate::store::now_ms;
use crate::stratum::StratumShared;

/// Longest ban the API sets.
const MAX_BAN: Duration = Duration::from_secs(365 * 24 * 3600);

fn stratum(s: &AppState) -> Result<&Arc<StratumShared>, ApiError> {
    s.stratum.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            "this node serves no stratum ports ([[ports]]), so there is nothing to ban from",
        )
    })
}

fn parse_ip(ip: &str) -> Result<IpAddr, ApiError> {
    ip.trim()
        .parse()
        .map_err(|_| ApiError::bad_request(format!("{ip:?} is not an IPv4 or IPv6 address")))
}

fn ban_view(ip: IpAddr, until: Instant, now: Instant, now_ms: i64) -> BanView {
    let left = until.saturating_duration_since(now);
    BanView {
        ip: ip.to_string(),
        expires_at: now_ms + left.as_millis() as i64,
        remaining_secs: left.as_secs() + u64::from(left.subsec_nanos() > 0),
    }
}

/// Addresses banned from the stratum ports now, soonest expiry first. A node without
/// stratum ports has none.
#[utoipa::path(get, path = "/api/v1/bans", tag = "admin", security(("admin_token" = [])),
    responses((status = 200, body = BanList), (status = 401, body = ErrorBody)))]
pub async fn list_bans(_admin: Admin, State(s): State<AppState>) -> Json<BanList> {
    let (now, ms) = (Instant::now(), now_ms());
    let mut bans: Vec<BanView> = s
        .stratum
        .as_ref()
        .map(|shared| shared.bans())
        .unwrap_or_default()
        .into_iter()
        .map(|(ip, until)| ban_view(ip, until, now, ms))
        .collect();
    bans.sort_by(|a, b| a.expires_at.cmp(&b.expires_at).then(a.ip.cmp(&b.ip)));
    Json(BanList { bans })
}

/// Bans an address from every stratum port for `duration_secs` (replacing a ban of
/// the same address). Open sessions from it are not closed; new connections are
/// refused.
#[utoipa::path(post, path = "/api/v1/bans", tag = "admin", security(("admin_token" = [])),
    request_body = BanRequest,
    responses((status = 201, body = BanView), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn add_ban(
    _admin: Admin,
    State(s): State<AppState>,
    ApiJson(req): ApiJson<BanRequest>,
) -> Result<(StatusCode, Json<BanView>), ApiError> {
    let ip = parse_ip(&req.ip)?;
    let duration = Duration::from_secs(req.duration_secs);
    if duration.is_zero() || duration > MAX_BAN {
        return Err(ApiError::bad_request(format!(
            "duration_secs must be between 1 and {}, got {}",
            MAX_BAN.as_secs(),
            req.duration_secs
        )));
    }
    let shared = stratum(&s)?;
    let (now, ms) = (Instant::now(), now_ms());
    shared.ban(ip, duration);
    tracing::info!(%ip, seconds = req.duration_secs, "address banned by the operator");
    Ok((
        StatusCode::CREATED,
        Json(ban_view(ip, now + duration, now, ms)),
    ))
}

/// Lifts a ban.
#[utoipa::path(delete, path = "/api/v1/bans/{ip}", tag = "admin", security(("admin_token" = [])),
    params(("ip" = String, Path, description = "The banned address")),
    responses((status = 200, description = "The ban that was lifted", body = BanView), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn remove_ban(
    _admin: Admin,
    State(s): State<AppState>,
    Path(ip): Path<String>,
) -> Result<Json<BanView>, ApiError> {
    let ip = parse_ip(&ip)?;
    let (now, ms) = (Instant::now(), now_ms());
    match s.stratum.as_ref().and_then(|shared| shared.unban(ip)) {
        Some(until) => {
            tracing::info!(%ip, "ban lifted by the operator");
            Ok(Json(ban_view(ip, until, now, ms)))
        }
        None => Err(ApiError::not_found(format!("{ip} is not banned"))),
    }
}
