//! One access log line per request, at info (`target: "tessera::access"`): method,
//! route name, status, duration, tenant, the authenticated client where there is
//! one, and a request id. Never the query string or a body (they may carry codes,
//! tokens and passwords).
//!
//! The request id is the caller's `X-Request-Id` when it is a short token (a load
//! balancer's), else a new random one; it is echoed in the response's
//! `X-Request-Id` so an operator can find the line of a request a user reports.

use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

use crate::route_names::RouteName;
use crate::state::AppState;

/// The request id header (de facto standard of load balancers and proxies).
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The client a handler authenticated, put in the response's extensions for the
/// access log.
#[derive(Clone, Debug)]
pub struct AuthenticatedClient(pub String);

/// `response`, noting the client the handler authenticated (if any) for the log.
pub fn with_client(mut response: Response, client_id: Option<&str>) -> Response {
    if let Some(client_id) = client_id {
        response
            .extensions_mut()
            .insert(AuthenticatedClient(client_id.to_owned()));
    }
    response
}

/// Records one request's line around the rest of the stack.
pub async fn record(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let tenant = tenant_of(request.uri().path()).map(str::to_owned);
    let id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|value| is_request_id(value))
        .map_or_else(new_request_id, str::to_owned);
    if let Ok(value) = HeaderValue::from_str(&id) {
        request.headers_mut().insert(REQUEST_ID, value);
    }
    let mut response = next.run(request).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    let route = response
        .extensions()
        .get::<RouteName>()
        .map_or("unknown", |name| name.as_str());
    let client = response
        .extensions()
        .get::<AuthenticatedClient>()
        .map(|client| client.0.as_str());
    let elapsed = started.elapsed();
    state
        .metrics
        .record_request(route, response.status().as_u16(), elapsed);
    tracing::info!(
        target: "tessera::access",
        method = %method,
        route,
        status = response.status().as_u16(),
        duration_ms = %format_args!("{:.3}", elapsed.as_secs_f64() * 1000.0),
        tenant = tenant.as_deref(),
        client,
        request_id = %id,
        "request"
    );
    response
}

/// The tenant slug of a `/t/{tenant}/…` path (or the RFC 8414 form
/// `/.well-known/oauth-authorization-server/t/{tenant}`), if it looks like one.
fn tenant_of(path: &str) -> Option<&str> {
    let rest = path
        .strip_prefix("/t/")
        .or_else(|| path.strip_prefix("/.well-known/oauth-authorization-server/t/"))?;
    let slug = rest.split('/').next()?;
    let plausible = !slug.is_empty()
        && slug.len() <= 63
        && slug
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-');
    plausible.then_some(slug)
}

/// A caller's id is kept if it is 1 to 64 characters of `A-Za-z0-9._-`.
fn is_request_id(value: &str) -> bool {
    (1..=64).contains(&value.len())
        && value
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-'))
}

/// 64 random bits as 16 hex digits (a counter would do, but ids from several nodes
/// must not collide).
fn new_request_id() -> String {
    crate::secrets::random_bytes(8)
        .map(|bytes| bytes.iter().map(|byte| format!("{byte:02x}")).collect())
        .unwrap_or_else(|_| "0000000000000000".to_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tenants_and_request_ids() {
        assert_eq!(tenant_of("/t/acme/token"), Some("acme"));
        assert_eq!(tenant_of("/t/acme"), Some("acme"));
        assert_eq!(
            tenant_of("/.well-known/oauth-authorization-server/t/acme"),
            Some("acme")
        );
        assert_eq!(tenant_of("/t/Bad_Slug/token"), None);
        assert_eq!(tenant_of("/healthz"), None);
        assert!(is_request_id("lb-1234.abc_DEF"));
        assert!(!is_request_id(""));
        assert!(!is_request_id("has space"));
        assert!(!is_request_id(&"x".repeat(65)));
        assert_eq!(new_request_id().len(), 16);
    }
}
