//! Error responses: the one place a protocol error ([`OAuthError`]) becomes a status
//! code and headers ([`classify`]). The API answers with RFC 6749 §5.2 bodies
//! (`{"error", "error_description"}`, [`ApiError`]); the browser endpoints render
//! the same classification as a page ([`crate::endpoints::page::failure_page`]).
//! Internal causes are logged, never sent.

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

/// What a protocol error is over HTTP: the one table, read by the JSON answers of
/// the API ([`ApiError`]) and by the error pages of the browser endpoints
/// ([`crate::endpoints::page::failure_page`]). RFC 6749 §5.2 (400, or 401 with a
/// challenge for client authentication), RFC 6750 §3.1 for bearer tokens, 429 or
/// 503 with `Retry-After` for limits.
#[derive(Debug)]
pub struct HttpFailure {
    /// Status code.
    pub status: StatusCode,
    /// `WWW-Authenticate` challenge, for 401 and bearer-token 403 answers (API only).
    pub challenge: Option<String>,
    /// `Retry-After` seconds, for 429 and 503 answers.
    pub retry_after_secs: Option<u64>,
    /// A page's title.
    pub title: &'static str,
    /// A page's sentence for a person (the API sends `error_description`).
    pub message: String,
}

/// Classifies `error` ([`HttpFailure`]). Internal causes are logged here, once, and
/// never sent.
pub fn classify(error: &OAuthError) -> HttpFailure {
    let busy = "The service cannot answer right now. Try again in a moment.";
    let (status, title, message) = match error {
        OAuthError::InvalidClient | OAuthError::InvalidToken => (
            StatusCode::UNAUTHORIZED,
            "Not signed in",
            error.description(),
        ),
        OAuthError::InsufficientScope(_) | OAuthError::Forbidden(_) => {
            (StatusCode::FORBIDDEN, "Not allowed", error.description())
        }
        OAuthError::UnknownTenant(_) => (
            StatusCode::NOT_FOUND,
            "Not found",
            "There is no such organisation on this service.".to_owned(),
        ),
        OAuthError::NotFound(_) => (StatusCode::NOT_FOUND, "Not found", error.description()),
        OAuthError::TooManyAttempts { .. } => (
            StatusCode::TOO_MANY_REQUESTS,
            "Too many attempts",
            error.description(),
        ),
        OAuthError::TooManyPending { .. } => (
            StatusCode::TOO_MANY_REQUESTS,
            "Too many sign-ins in progress",
            "Too many sign-ins are waiting to be finished from your network. Try again in a \
             minute."
                .to_owned(),
        ),
        OAuthError::Busy { .. } => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Temporarily unavailable",
            busy.to_owned(),
        ),
        OAuthError::Unavailable(cause) => {
            tracing::warn!(error = %cause, "request failed: unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                busy.to_owned(),
            )
        }
        OAuthError::Internal(cause) => {
            tracing::error!(error = %cause, "request failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "The service could not complete this step. Try again.".to_owned(),
            )
        }
        _ => (
            StatusCode::BAD_REQUEST,
            "Invalid request",
            error.description(),
        ),
    };
    let challenge = match error {
        OAuthError::InvalidClient => Some("Basic realm=\"tessera\"".to_owned()),
        OAuthError::InvalidToken => Some("Bearer error=\"invalid_token\"".to_owned()),
        OAuthError::InsufficientScope(scope) => Some(format!(
            "Bearer error=\"insufficient_scope\", scope=\"{scope}\""
        )),
        _ => None,
    };
    HttpFailure {
        status,
        challenge,
        retry_after_secs: error.retry_after_secs(),
        title,
        message,
    }
}

/// The JSON answer to a protocol error ([`classify`]).
impl From<OAuthError> for ApiError {
    fn from(error: OAuthError) -> Self {
        let failure = classify(&error);
        let mut answer = Self::new(failure.status, error.code(), error.description());
        answer.challenge = failure.challenge;
        answer.retry_after_secs = failure.retry_after_secs;
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
