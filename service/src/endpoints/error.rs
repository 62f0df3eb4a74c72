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
    /// `WWW-Authenticate` challenge, for 401 answers.
    pub challenge: Option<String>,
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
            challenge: None,
        }
    }

    /// `invalid_request` (RFC 6749 §5.2): malformed, missing or repeated parameter.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    /// `invalid_client` (RFC 6749 §5.2): every client authentication failure gets this
    /// one answer, whatever failed, with a `WWW-Authenticate` challenge.
    pub fn invalid_client() -> Self {
        let mut error = Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed",
        );
        error.challenge = Some("Basic realm=\"tessera\"".to_owned());
        error
    }

    /// `invalid_grant` (RFC 6749 §5.2): bad, expired, revoked or foreign grant.
    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", description)
    }

    /// `unauthorized_client` (RFC 6749 §5.2): the client may not use this grant type.
    pub fn unauthorized_client(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "unauthorized_client", description)
    }

    /// `unsupported_grant_type` (RFC 6749 §5.2).
    pub fn unsupported_grant_type(description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            description,
        )
    }

    /// `invalid_scope` (RFC 6749 §5.2).
    pub fn invalid_scope(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_scope", description)
    }

    /// `invalid_token` (RFC 6750 §3.1): a bearer token that does not authorize.
    pub fn invalid_token() -> Self {
        let mut error = Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "the access token is invalid, expired or revoked",
        );
        error.challenge = Some("Bearer error=\"invalid_token\"".to_owned());
        error
    }

    /// `insufficient_scope` (RFC 6750 §3.1).
    pub fn insufficient_scope(scope: &str) -> Self {
        let mut error = Self::new(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            format!("the access token lacks the {scope:?} scope"),
        );
        error.challenge = Some(format!(
            "Bearer error=\"insufficient_scope\", scope=\"{scope}\""
        ));
        error
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
        let mut response = (
            self.status,
            [
                (header::CACHE_CONTROL, "no-store"),
                (header::PRAGMA, "no-cache"),
            ],
            Json(self.body),
        )
            .into_response();
        if let Some(challenge) = self
            .challenge
            .and_then(|challenge| header::HeaderValue::from_str(&challenge).ok())
        {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

/// Fallback for paths outside every route.
pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}
