//! API errors: every failure becomes `{"error":{"code","message"}}` with a stable code.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use defpool_core::api::{ErrorBody, ErrorDetail};

use crate::payout::PayoutRequestError;
use crate::store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(m) => ApiError::not_found(m),
            StoreError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            other => {
                tracing::error!(error = %other, "storage error while serving the API");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the database is not available; try again",
                )
            }
        }
    }
}

impl From<PayoutRequestError> for ApiError {
    fn from(e: PayoutRequestError) -> Self {
        let message = e.to_string();
        match e {
            PayoutRequestError::UnknownCoin(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "unknown_coin", message)
            }
            PayoutRequestError::InvalidAddress(_) => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_address", message)
            }
            PayoutRequestError::InvalidAmount(_) => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_amount", message)
            }
            PayoutRequestError::BelowThreshold { .. } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "below_threshold", message)
            }
            PayoutRequestError::InsufficientBalance { .. } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "insufficient_balance",
                message,
            ),
            PayoutRequestError::Conflict(_) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", message)
            }
            PayoutRequestError::InvalidSettings(_) => {
                ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
            }
            PayoutRequestError::Store(s) => s.into(),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        let status = match r {
            JsonRejection::MissingJsonContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, "invalid_json", r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::bad_request(r.body_text())
    }
}
