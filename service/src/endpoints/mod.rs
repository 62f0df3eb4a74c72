//! HTTP endpoints, one module per protocol concept. Each tenant is an issuer under
//! `/t/{tenant}` (docs/router.md); service-wide probes live at the root.

pub mod access_log;
pub mod admin;
pub mod applications;
pub mod authorize;
pub mod authorized_tokens;
pub mod browser;
pub mod client_registration;
pub mod consent;
pub mod cors;
pub mod device;
pub mod end_session;
pub mod error;
pub mod health;
pub mod interactions;
pub mod introspect;
pub mod issuer;
pub mod jwks;
pub mod landing;
pub mod login;
pub mod metadata;
pub mod metrics;
pub mod page;
pub mod request;
pub mod revoke;
pub mod route_paths;
pub mod routes;
pub mod sign_up;
pub mod token;
pub mod userinfo;

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::state::AppState;

/// Largest request body accepted (forms and JSON are small).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The span of one request: method and path only. The query string is left out, as
/// it may carry secrets (RFC 6750 §2.3 `access_token`, `id_token_hint`).
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path()
    )
}

/// Answers the layers' own refusals (body too large, too slow, wrong method) with
/// RFC 6749 §5.2 JSON bodies like every other error, instead of their plain-text
/// defaults. A refused body (413, 408) may be partly unread: the answer says
/// `Connection: close`, so a keep-alive client opens a new connection instead of
/// writing its next request into one the server is closing.
async fn json_errors(response: axum::response::Response) -> axum::response::Response {
    use axum::http::{HeaderValue, StatusCode, header};
    use axum::response::IntoResponse;
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/json"));
    let status = response.status();
    let mut response = match status {
        StatusCode::METHOD_NOT_ALLOWED if !is_json => {
            let allow = response.headers().get(header::ALLOW).cloned();
            let mut answer = error::ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "invalid_request",
                "this endpoint does not accept that method",
            )
            .into_response();
            if let Some(allow) = allow {
                answer.headers_mut().insert(header::ALLOW, allow);
            }
            answer
        }
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
    };
    if matches!(
        status,
        StatusCode::PAYLOAD_TOO_LARGE | StatusCode::REQUEST_TIMEOUT
    ) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// The whole HTTP application: every built-in route, less those the configuration
/// switches off (`[routes]`).
pub fn router(state: AppState) -> Router {
    let off = state.config.routes.disabled();
    routes::Routes::built_in()
        .disable_all(off)
        .into_router(state)
}

/// `/metrics` alone, for `metrics.listen`.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics::scrape))
        .with_state(state)
}

/// The catch-alls and the layers every route gets: unknown paths answer a JSON 404;
/// body size and time limits; protocol errors as JSON; request spans.
fn finish(router: Router<AppState>, state: AppState) -> Router {
    router
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
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            access_log::record,
        ))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .with_state(state)
}
