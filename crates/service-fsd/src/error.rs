//! One JSON error for every refusal: `{"error": CODE, "message": TEXT}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ledger::{Error, StoreError};

/// Every error code the daemon answers with (docs/openapi.yaml lists the same).
pub const CODES: &[&str] = &[
    "unauthorized",
    "forbidden",
    "not_found",
    "rate_limited",
    "unavailable",
    "empty_record",
    "record_too_large",
    "body_too_large",
    "no_records",
    "bad_framing",
    "unsupported_media_type",
    "bad_idempotency_key",
    "idempotency_key_reused",
    "bad_argument",
    "out_of_range",
    "read_limit_too_small",
    "full",
    "corrupt",
    "internal",
];

/// A refused request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// A stable machine-readable code (`docs/http.md`).
    pub code: &'static str,
    /// What went wrong, for a person.
    pub message: String,
}

impl ApiError {
    /// A refusal.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        debug_assert!(CODES.contains(&code), "undocumented error code {code}");
        ApiError { status, code, message: message.into() }
    }

    /// 400 with `code`.
    pub fn bad(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 404: no such route, tenant or object (the same answer for a tenant
    /// that exists but is not the caller's).
    pub fn not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such resource")
    }

    /// 503: the tenant's ledger is not available now.
    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    /// The refusal for an engine error.
    pub fn from_ledger<E: std::fmt::Display>(e: &Error<E>) -> ApiError {
        let msg = e.to_string();
        match e {
            Error::EmptyEntry => ApiError::bad("empty_record", msg),
            Error::EntryTooLarge { .. } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "record_too_large", msg)
            }
            Error::NoEntries => ApiError::bad("no_records", msg),
            Error::OutOfRange { .. } => ApiError::bad("out_of_range", msg),
            Error::InvalidArgument(_) => ApiError::bad("bad_argument", msg),
            Error::ReadLimitTooSmall { .. } => ApiError::bad("read_limit_too_small", msg),
            Error::TreeFull | Error::Store(StoreError::Full) => {
                ApiError::new(StatusCode::INSUFFICIENT_STORAGE, "full", msg)
            }
            Error::Corrupt { .. } | Error::Store(StoreError::Corrupt) => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "corrupt", msg)
            }
            Error::Poisoned | Error::Store(_) => ApiError::unavailable(msg),
            Error::BadCaller | Error::BufferTooSmall { .. } | Error::Missing { .. } => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", msg)
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.code, "message": self.message });
        (self.status, Json(body)).into_response()
    }
}
