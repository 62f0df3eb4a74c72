//! Error responses. OAuth endpoints answer with RFC 6749 §5.2 bodies
//! (`{"error", "error_description"}`); this is where a protocol error
//! ([`OAuthError`]) becomes a status code and headers. Internal causes are logged,
//! never sent.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::Error;
use crate::oauth::error::OAuthError;

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
    /// `Retry-After` seconds, for 429 and 503 answers.
    pub retry_after_secs: Option<u64>,
    /// `Allow`, for 405 answers.
    pub allow: Option<&'static str>,
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
            retry_after_secs: None,
            allow: None,
        }
    }

    /// 405 for a method the endpoint does not serve, with the `Allow` header RFC 9110
    /// §15.5.6 requires.
    pub fn method_not_allowed(allow: &'static str) -> Self {
        let mut error = Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request",
            format!("this endpoint accepts {allow} only"),
        );
        error.allow = Some(allow);
        error
    }
}

/// The HTTP answer to a protocol error: RFC 6749 §5.2 (400, or 401 with a challenge
/// for client authentication), RFC 6750 §3.1 for bearer tokens, 429 or 503 with
/// `Retry-After` for limits. Internal causes are logged here and never sent.
impl From<OAuthError> for ApiError {
    fn from(error: OAuthError) -> Self {
        let status = match &error {
            OAuthError::InvalidClient | OAuthError::InvalidToken => StatusCode::UNAUTHORIZED,
            OAuthError::InsufficientScope(_) | OAuthError::Forbidden(_) => StatusCode::FORBIDDEN,
            OAuthError::UnknownTenant(_) | OAuthError::NotFound(_) => StatusCode::NOT_FOUND,
            OAuthError::TooManyAttempts { .. } | OAuthError::TooManyPending { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            OAuthError::Busy { .. } | OAuthError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            OAuthError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        match &error {
            OAuthError::Internal(cause) => tracing::error!(error = %cause, "request failed"),
            OAuthError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "request failed: unavailable")
            }
            _ => {}
        }
        let challenge = match &error {
            OAuthError::InvalidClient => Some("Basic realm=\"tessera\"".to_owned()),
            OAuthError::InvalidToken => Some("Bearer error=\"invalid_token\"".to_owned()),
            OAuthError::InsufficientScope(scope) => Some(format!(
                "Bearer error=\"insufficient_scope\", scope=\"{scope}\""
            )),
            _ => None,
        };
        let mut answer = Self::new(status, error.code(), error.description());
        answer.challenge = challenge;
        answer.retry_after_secs = error.retry_after_secs();
        answer
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        OAuthError::from(error).into()
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
        let headers = response.headers_mut();
        if let Some(challenge) = self
            .challenge
            .and_then(|challenge| header::HeaderValue::from_str(&challenge).ok())
        {
            headers.insert(header::WWW_AUTHENTICATE, challenge);
        }
        if let Some(seconds) = self.retry_after_secs {
            headers.insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
        }
        if let Some(allow) = self.allow {
            headers.insert(header::ALLOW, header::HeaderValue::from_static(allow));
        }
        response
    }
}

/// Fallback for paths outside every route.
pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}
