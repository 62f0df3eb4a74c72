//! HTTP endpoints, one module per protocol concept. Each tenant is an issuer under
//! `/t/{tenant}` (DESIGN.md §3); service-wide probes live at the root.

pub mod cors;
pub mod error;
pub mod health;
pub mod introspect;
pub mod issuer;
pub mod metadata;
pub mod revoke;
pub mod token;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::db::Databases;
use crate::tenancy::Tenants;

/// Largest request body accepted (forms and JSON are small).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What every handler shares. Cloning is cheap (reference counts only).
#[derive(Clone, Debug)]
pub struct AppState {
    /// The loaded configuration.
    pub config: Arc<Config>,
    /// Every pool and the router.
    pub databases: Arc<Databases>,
    /// Loaded tenants.
    pub tenants: Arc<Tenants>,
    /// Redis, when configured.
    pub redis: Option<redis::aio::ConnectionManager>,
    /// Recently read client registrations (hot-path client authentication).
    pub clients: Arc<crate::oauth::client_cache::ClientCache>,
    /// Bounds concurrent slow-KDF work (argon2id, PBKDF2: ~19 MiB and ~50 ms each) so a
    /// flood of password attempts queues instead of exhausting memory and threads.
    pub slow_hashes: Arc<tokio::sync::Semaphore>,
}

impl AppState {
    /// Runs a slow hash on a blocking thread, at most [`AppState::slow_hashes`] at once.
    pub async fn slow_hash<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, crate::error::Error> {
        let _permit = self
            .slow_hashes
            .acquire()
            .await
            .map_err(|error| crate::error::Error::Hashing(format!("hash queue: {error}")))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|error| crate::error::Error::Hashing(format!("hash task: {error}")))
    }
}

/// The span of one request: method and path only. The query string is left out, as
/// it may carry secrets (RFC 6750 §2.3 `access_token`, `id_token_hint`).
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path()
    )
}

/// Answers the layers' own refusals (body too large, too slow) with RFC 6749 §5.2
/// JSON bodies like every other error, instead of their plain-text defaults.
async fn json_errors(response: axum::response::Response) -> axum::response::Response {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/json"));
    match response.status() {
        StatusCode::PAYLOAD_TOO_LARGE if !is_json => error::ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
            format!("the request body is larger than {MAX_BODY_BYTES} bytes"),
        )
        .into_response(),
        StatusCode::REQUEST_TIMEOUT if !is_json => error::ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "temporarily_unavailable",
            "the request took too long; retry",
        )
        .into_response(),
        _ => response,
    }
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/t/{tenant}", get(issuer::describe))
        .route(
            "/t/{tenant}/token",
            post(token::token)
                .options(cors::preflight)
                .fallback(issuer::wrong_method),
        )
        .route(
            "/t/{tenant}/revoke",
            post(revoke::revoke)
                .options(cors::preflight)
                .fallback(issuer::wrong_method),
        )
        .route(
            "/t/{tenant}/introspect",
            post(introspect::introspect)
                .options(cors::preflight)
                .fallback(issuer::wrong_method),
        )
        .route(
            "/t/{tenant}/.well-known/oauth-authorization-server",
            get(metadata::metadata),
        )
        .route(
            "/.well-known/oauth-authorization-server/t/{tenant}",
            get(metadata::metadata),
        )
        .route(
            "/t/{tenant}/{*rest}",
            get(issuer::unknown_endpoint).post(issuer::unknown_endpoint),
        )
        .fallback(error::not_found)
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(axum::middleware::map_response(json_errors))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .with_state(state)
}
