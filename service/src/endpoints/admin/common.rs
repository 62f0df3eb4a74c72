//! What the admin API's resources share: keyset pagination, `ETag`/`If-Match`,
//! and finding the tenant a path names.

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::state::AppState;
use crate::tenancy::Tenant;

use super::problem::Problem;

/// The most items a page holds.
pub const MAX_LIMIT: u64 = 500;

/// `?after=…&limit=…&name=…` of a listing.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// The `next` of the previous page (keyset pagination: each page costs the same,
    /// and a row added meanwhile is neither skipped nor repeated).
    pub after: Option<String>,
    /// Items per page, 1 to 500 (default 100).
    pub limit: Option<u64>,
    /// Only items whose name contains (tenants) or starts with (users) this.
    pub name: Option<String>,
}

impl ListQuery {
    /// The page size asked for, checked.
    pub fn limit(&self) -> Result<u64, Problem> {
        match self.limit {
            None => Ok(100),
            Some(limit) if (1..=MAX_LIMIT).contains(&limit) => Ok(limit),
            Some(limit) => Err(Problem::new(
                StatusCode::BAD_REQUEST,
                format!("limit {limit}: give 1 to {MAX_LIMIT}"),
            )),
        }
    }
}

/// The tenant a path names, loaded or from the directory, disabled ones included
/// (an operator manages them); 404 if there is none.
pub async fn path_tenant(state: &AppState, slug: &str) -> Result<Arc<Tenant>, Problem> {
    state
        .tenant(slug)
        .await?
        .ok_or_else(|| Problem::new(StatusCode::NOT_FOUND, format!("no tenant {slug:?}")))
}

/// The tenant a path names and its authenticated admin caller.
pub async fn authorized(
    state: &AppState,
    headers: &HeaderMap,
    slug: &str,
) -> Result<(Arc<Tenant>, super::caller::Caller), Problem> {
    let tenant = path_tenant(state, slug).await?;
    let caller = super::caller::authenticate(state, headers, Some(&tenant)).await?;
    Ok((tenant, caller))
}

/// Refuses a change whose `If-Match` (`expected`) is not the row's version now
/// (`current`, [`crate::time::version_at`]): 412, naming `what` changed.
pub fn unchanged_since(expected: Option<&str>, current: &str, what: &str) -> Result<(), Problem> {
    match expected {
        Some(version) if version != current => Err(Problem::new(
            StatusCode::PRECONDITION_FAILED,
            format!("the {what} changed since it was read: read it again and retry"),
        )),
        _ => Ok(()),
    }
}

/// The version an `If-Match` header asks for: `None` without the header or with
/// `*`; a malformed header is 400.
pub fn if_match(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| Problem::new(StatusCode::BAD_REQUEST, "If-Match is not text"))?
        .trim();
    if value == "*" {
        return Ok(None);
    }
    let tag = value.trim_start_matches("W/");
    match tag.strip_prefix('"').and_then(|tag| tag.strip_suffix('"')) {
        Some(version) if !version.is_empty() && !version.contains('"') => {
            Ok(Some(version.to_owned()))
        }
        _ => Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "If-Match: give the ETag of the last read, quoted (\"…\")",
        )),
    }
}

/// `body` as JSON with its `ETag`.
pub fn with_etag(status: StatusCode, version: &str, body: impl serde::Serialize) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&format!("\"{version}\"")) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A 201 with `Location`, `ETag` and the created thing.
pub fn created(location: &str, version: &str, body: impl serde::Serialize) -> Response {
    let mut response = with_etag(StatusCode::CREATED, version, body);
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}
