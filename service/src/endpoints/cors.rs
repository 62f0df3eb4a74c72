//! CORS for the token, revocation, introspection and UserInfo endpoints: an origin is
//! allowed when the calling application lists it in `allowed_origins` (before the
//! client is known — preflight, failed authentication, UserInfo, whose caller is a
//! bearer token — when any application of the tenant does), as DOT's
//! `CorsMiddleware` does.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use entity::application;

use crate::endpoints::issuer::resolve_tenant;
use crate::error::Error;
use crate::state::AppState;
use crate::tenancy::Tenant;

/// Whether `application` lists `origin`.
pub fn application_allows(application: &application::Model, origin: &str) -> bool {
    application
        .allowed_origins
        .split_whitespace()
        .any(|allowed| allowed == origin)
}

/// Whether any application of the tenant lists `origin`.
async fn tenant_allows(state: &AppState, tenant: &Tenant, origin: &str) -> Result<bool, Error> {
    state
        .clients
        .any_lists_origin(state.data(tenant), origin)
        .await
}

/// Adds CORS headers to `response` when the request's origin is allowed: by the
/// authenticated application when there is one, else by the tenant.
pub async fn apply(
    state: &AppState,
    slug: &str,
    headers: &HeaderMap,
    application: Option<&application::Model>,
    mut response: Response,
) -> Response {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return response;
    };
    let allowed = match (origin.to_str(), application) {
        (Ok(origin), Some(application)) => application_allows(application, origin),
        (Ok(origin), None) => match resolve_tenant(state, slug).await {
            Ok(tenant) => tenant_allows(state, &tenant, origin).await.unwrap_or(false),
            Err(_) => false,
        },
        (Err(_), _) => false,
    };
    let headers = response.headers_mut();
    vary_on_origin(headers);
    if allowed {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    }
    response
}

/// Adds `Origin` to the answer's `Vary` (RFC 9110 §12.5.5), keeping any value already
/// there: an answer that also varies on something else must say so to caches.
fn vary_on_origin(headers: &mut axum::http::HeaderMap) {
    let listed = headers.get_all(header::VARY).iter().any(|value| {
        value.to_str().is_ok_and(|value| {
            value
                .split(',')
                .any(|name| name.trim().eq_ignore_ascii_case("origin") || name.trim() == "*")
        })
    });
    if !listed {
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    }
}

/// `OPTIONS` preflight for the token, revocation and introspection endpoints.
pub async fn preflight(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Response {
    preflight_allowing(&state, &slug, &headers, "POST, OPTIONS").await
}

/// `OPTIONS` preflight for UserInfo (OIDC Core §5.3: GET and POST).
pub async fn userinfo_preflight(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Response {
    preflight_allowing(&state, &slug, &headers, "GET, POST, OPTIONS").await
}

async fn preflight_allowing(
    state: &AppState,
    slug: &str,
    headers: &HeaderMap,
    methods: &'static str,
) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let Some(origin) = headers.get(header::ORIGIN).cloned() else {
        return response;
    };
    let allowed = match (origin.to_str(), resolve_tenant(state, slug).await) {
        (Ok(origin), Ok(tenant)) => tenant_allows(state, &tenant, origin).await.unwrap_or(false),
        _ => false,
    };
    let headers = response.headers_mut();
    vary_on_origin(headers);
    if allowed {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(methods),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("Authorization, Content-Type"),
        );
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
    }
    response
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn vary_keeps_what_was_there() {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        vary_on_origin(&mut headers);
        let values: Vec<&str> = headers
            .get_all(header::VARY)
            .iter()
            .map(|value| value.to_str().unwrap())
            .collect();
        assert_eq!(values, ["Accept-Encoding", "Origin"]);
        vary_on_origin(&mut headers);
        assert_eq!(headers.get_all(header::VARY).iter().count(), 2, "once");
        let mut fresh = axum::http::HeaderMap::new();
        vary_on_origin(&mut fresh);
        assert_eq!(fresh[header::VARY], "Origin");
    }
}
