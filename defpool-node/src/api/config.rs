//! The running configuration: shown with secrets redacted, and reloaded from its file
//! for the keys that can change without a restart (see [`crate::live_config`]).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use defpool_core::api::{ConfigReload, EffectiveConfig, ErrorBody};

use super::auth::Admin;
use super::{ApiError, AppState};
use crate::live_config::{ReloadError, RELOADABLE};

/// The effective configuration (file, environment and flags), secrets redacted.
#[utoipa::path(get, path = "/api/v1/config", tag = "admin", security(("admin_token" = [])),
    responses((status = 200, body = EffectiveConfig), (status = 401, body = ErrorBody)))]
pub async fn show_config(
    _admin: Admin,
    State(s): State<AppState>,
) -> Result<Json<EffectiveConfig>, ApiError> {
    let toml_text = s.live.current().to_redacted_toml();
    let config = toml::from_str::<toml::Value>(&toml_text)
        .ok()
        .and_then(|v| serde_json::to_value(v).ok())
        .unwrap_or(serde_json::Value::Null);
    Ok(Json(EffectiveConfig {
        source: s.live.source().map(|p| p.display().to_string()),
        toml: toml_text,
        config,
        reloadable: RELOADABLE.iter().map(|k| k.to_string()).collect(),
    }))
}

/// Reads the config file again and applies it when only reloadable keys changed
/// (`coins[].min_payout`, `coins[].auto_payout`, `[payouts]`); otherwise applies
/// nothing and answers 409 `restart_required` naming the keys that changed.
#[utoipa::path(post, path = "/api/v1/config/reload", tag = "admin", security(("admin_token" = [])),
    responses((status = 200, body = ConfigReload), (status = 401, body = ErrorBody),
              (status = 409, description = "A changed key needs a restart, or no file to read", body = ErrorBody),
              (status = 422, description = "The file is not a valid config", body = ErrorBody)))]
pub async fn reload_config(
    _admin: Admin,
    State(s): State<AppState>,
) -> Result<Json<ConfigReload>, ApiError> {
    let live = s.live.clone();
    // Reading and validating the file (a TLS port's certificate too) is blocking I/O.
    let result = tokio::task::spawn_blocking(move || live.reload())
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                format!("the reload did not finish: {e}"),
            )
        })?;
    let source = s
        .live
        .source()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    match result {
        Ok(changed) => {
            tracing::info!(file = %source, changed = ?changed, "config reloaded");
            Ok(Json(ConfigReload { source, changed }))
        }
        Err(e @ ReloadError::Invalid(_)) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_config",
            e.to_string(),
        )),
        Err(e @ ReloadError::NeedsRestart(_)) => {
            tracing::warn!(file = %source, error = %e, "config reload refused");
            Err(ApiError::new(
                StatusCode::CONFLICT,
                "restart_required",
                e.to_string(),
            ))
        }
        Err(e @ ReloadError::NoFile) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            e.to_string(),
        )),
    }
}
