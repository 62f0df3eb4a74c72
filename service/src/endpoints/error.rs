//! Error responses. OAuth endpoints answer with RFC 6749 §5.2 bodies
//! (`{"error", "error_description"}`); internal causes are logged, never sent.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::Error;

/// An error body as RFC 6749 §5.2 shapes it.
#[derive(Debug, Serialize)]
pub struct ErrorBody {
    /// Machine-readable code.
    pub error: &'static str,
    /// One sentence for the developer.
    pub error_description: String,
}

/// An HTTP error answer.
#[derive(Debug)]
pub struct ApiError {
    /// Status code.
    pub status: StatusCode,
    /// Body.
    pub body: ErrorBody,
}

impl ApiError {
    /// An answer with `status`, `error` and a description.
    pub fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            body: ErrorBody {
                error,
                error_description: description.into(),
            },
        }
    }

    /// 404 for a tenant the directory does not hold.
    pub fn unknown_tenant(slug: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("unknown tenant {slug:?}"),
        )
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        tracing::error!(%error, "request failed");
        match error {
            // A pool that does not answer is temporary (RFC 6749 §5.2 has no code for
            // it; `temporarily_unavailable` is the authorization endpoint's).
            Error::Pool { .. }
            | Error::Database(sea_orm::DbErr::ConnectionAcquire(_) | sea_orm::DbErr::Conn(_)) => {
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    "a database is unavailable; retry later",
                )
            }
            _ => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "the server could not complete the request",
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            [(header::CACHE_CONTROL, "no-store")],
            Json(self.body),
        )
            .into_response()
    }
}

/// Fallback for paths outside every route.
pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}
