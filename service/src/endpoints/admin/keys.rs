//! `/admin/v1/tenants/{tenant}/keys`: the signing keys and their rotation.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::administration::keys::{self, KeyView, Rotation};
use crate::state::AppState;

use super::body;
use super::common::{authorized, with_etag};
use super::problem::Problem;

/// A tenant's signing keys.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    /// Oldest first.
    pub items: Vec<KeyView>,
}

/// What to rotate.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateBody {
    /// Only this algorithm (`RS256`, `ES256`, `EdDSA`); default: all.
    pub algorithm: Option<String>,
    /// Seconds the new keys are published before they sign (default: the tenant's
    /// `key_publish_ahead_secs`; at least 300 + `key_cache_ttl_secs`; 0 after a
    /// compromise).
    pub publish_ahead_secs: Option<u64>,
}

/// List a tenant's signing keys and their states.
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/keys", tag = "keys",
    params(("tenant" = String, Path, description = "Tenant slug")),
    security(("bearer" = [])),
    responses((status = 200, body = KeyList), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(slug): Path<String>,
) -> Result<Response, Problem> {
    let (tenant, _) = authorized(&state, &headers, &slug).await?;
    let items = keys::list(&state.databases, &tenant).await?;
    Ok(with_etag(StatusCode::OK, "list", KeyList { items }))
}

/// Rotate a tenant's signing keys: the new ones are published at once and sign
/// after the publish-ahead time.
#[utoipa::path(post, path = "/admin/v1/tenants/{tenant}/keys/rotate", tag = "keys",
    params(("tenant" = String, Path, description = "Tenant slug")),
    request_body = RotateBody, security(("bearer" = [])),
    responses((status = 200, body = Rotation), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 415, body = Problem)))]
pub async fn rotate(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(slug): Path<String>,
    asked: Result<Json<RotateBody>, JsonRejection>,
) -> Result<Response, Problem> {
    let asked = body(asked)?;
    let (tenant, caller) = authorized(&state, &headers, &slug).await?;
    let algorithms = keys::algorithms(asked.algorithm.as_deref())?;
    let rotation = keys::rotate(
        &state.databases,
        state.keys.kek(),
        state.config.key_cache_ttl_secs,
        &tenant,
        &algorithms,
        asked.publish_ahead_secs,
        &caller.actor,
    )
    .await?;
    Ok(with_etag(StatusCode::OK, "rotation", rotation))
}
