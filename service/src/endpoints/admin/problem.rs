//! RFC 9457 problem details: every admin API error is `application/problem+json`
//! with `type`, `title`, `status` and `detail` (what to fix).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::endpoints::error::classify;
use crate::error::Error;
use crate::oauth::error::OAuthError;

/// A problem (RFC 9457 §3).
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// `about:blank`: the status code says what kind of problem it is.
    #[serde(rename = "type")]
    pub kind: String,
    /// The status code's phrase.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What happened, and what to fix.
    pub detail: String,
    #[serde(skip)]
    #[schema(ignore)]
    challenge: Option<String>,
    #[serde(skip)]
    #[schema(ignore)]
    retry_after_secs: Option<u64>,
}

impl Problem {
    /// A problem with `status` and `detail`.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            kind: "about:blank".to_owned(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            challenge: None,
            retry_after_secs: None,
        }
    }
}

impl From<OAuthError> for Problem {
    fn from(error: OAuthError) -> Self {
        let failure = classify(&error);
        let mut problem = Problem::new(failure.status, error.description());
        problem.challenge = failure.challenge;
        problem.retry_after_secs = failure.retry_after_secs;
        problem
    }
}

impl From<Error> for Problem {
    fn from(error: Error) -> Self {
        match error {
            Error::InvalidInput(detail) => Problem::new(StatusCode::BAD_REQUEST, detail),
            Error::Conflict(detail) => Problem::new(StatusCode::CONFLICT, detail),
            Error::NotFound(detail) => Problem::new(StatusCode::NOT_FOUND, detail),
            Error::UnknownTenant(slug) => {
                Problem::new(StatusCode::NOT_FOUND, format!("no tenant {slug:?}"))
            }
            Error::StaleVersion(detail) => Problem::new(StatusCode::PRECONDITION_FAILED, detail),
            Error::Routing(_) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("the router refuses this placement: {error}"),
            ),
            other => OAuthError::from(other).into(),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, axum::Json(&self)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(challenge) = self
            .challenge
            .and_then(|value| HeaderValue::from_str(&value).ok())
        {
            headers.insert(header::WWW_AUTHENTICATE, challenge);
        }
        if let Some(seconds) = self.retry_after_secs {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
