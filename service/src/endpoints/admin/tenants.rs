//! `/admin/v1/tenants`: create (placed by the router's policies; the placement is
//! shown), list, show, change (name, settings stored over the configuration's,
//! disabled), with `ETag`/`If-Match`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::administration;
use crate::state::AppState;
use crate::store::erasure::Erased;
use crate::tenancy::{self, Tenant, TenantChanges};

use super::caller::authenticate;
use super::common::{ListQuery, authorized, created, if_match, with_etag};
use super::problem::Problem;
use super::{body, query};

/// A tenant.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantView {
    /// URL name.
    pub slug: String,
    /// Name shown to users.
    pub display_name: String,
    /// Its issuer identifier.
    pub issuer: String,
    /// Entity group → pool, chosen by the router's policies at creation, for good.
    pub placement: BTreeMap<String, String>,
    /// Disabled: its issuer answers 403 on every endpoint.
    pub disabled: bool,
    /// Settings stored over the configuration's `[oauth]` (key → value).
    #[schema(value_type = Object)]
    pub settings: serde_json::Map<String, serde_json::Value>,
    /// Creation time (RFC 3339).
    pub created_at: String,
}

/// A page of tenants.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantList {
    /// The tenants, by slug.
    pub items: Vec<TenantView>,
    /// `after` for the next page; `null` on the last.
    pub next: Option<String>,
}

/// A new tenant.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    /// URL name: lowercase letters, digits and `-`.
    pub slug: String,
    /// Name shown to users (default: the slug).
    pub display_name: Option<String>,
}

/// A change of a tenant: only what is given changes.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantPatch {
    /// A new name.
    pub display_name: Option<String>,
    /// Settings to store (`[oauth]` keys); `null` removes a stored value.
    #[schema(value_type = Option<Object>)]
    pub settings: Option<serde_json::Map<String, serde_json::Value>>,
    /// Disable (`true`) or enable (`false`); admin-tenant callers only.
    pub disabled: Option<bool>,
}

fn view(state: &AppState, tenant: &Tenant) -> TenantView {
    let summary = tenant.summary();
    TenantView {
        issuer: state.config.issuer(&tenant.slug),
        slug: summary.slug,
        display_name: summary.display_name,
        placement: summary.placement,
        disabled: summary.disabled,
        settings: summary.settings,
        created_at: crate::time::rfc3339(tenant.created_at),
    }
}

fn location(slug: &str) -> String {
    format!("/admin/v1/tenants/{slug}")
}

/// List tenants.
#[utoipa::path(get, path = "/admin/v1/tenants", tag = "tenants", params(ListQuery),
    security(("bearer" = [])),
    responses((status = 200, body = TenantList), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    asked: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    let asked = query(asked)?;
    authenticate(&state, &headers, None)
        .await?
        .require_every_tenant()?;
    let limit = asked.limit()?;
    let rows = tenancy::directory_page(
        &state.databases,
        asked.after.as_deref(),
        limit,
        asked.name.as_deref(),
    )
    .await?;
    let next = (rows.len() as u64 == limit)
        .then(|| rows.last().map(|row| row.slug.clone()))
        .flatten();
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        let tenant = tenancy::tenant_of_row(&state.databases, state.tenants.settings(), row)?;
        items.push(view(&state, &tenant));
    }
    Ok(with_etag(
        StatusCode::OK,
        "list",
        TenantList { items, next },
    ))
}

/// Create a tenant: the router's policies place it; its signing keys are made.
#[utoipa::path(post, path = "/admin/v1/tenants", tag = "tenants", request_body = NewTenant,
    security(("bearer" = [])),
    responses((status = 201, body = TenantView, headers(("ETag" = String), ("Location" = String))),
        (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 409, body = Problem),
        (status = 415, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    new: Result<Json<NewTenant>, JsonRejection>,
) -> Result<Response, Problem> {
    let new = body(new)?;
    let caller = authenticate(&state, &headers, None).await?;
    caller.require_every_tenant()?;
    let tenant = administration::tenants::create(
        &state.databases,
        state.tenants.settings(),
        state.keys.kek(),
        &new.slug,
        new.display_name.as_deref(),
        &caller.actor,
    )
    .await?;
    let tenant = state.tenants.insert(tenant);
    Ok(created(
        &location(tenant.slug.as_str()),
        &tenant.version,
        view(&state, &tenant),
    ))
}

/// Show a tenant.
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}", tag = "tenants",
    params(("tenant" = String, Path, description = "Tenant slug")),
    security(("bearer" = [])),
    responses((status = 200, body = TenantView, headers(("ETag" = String))),
        (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(slug): Path<String>,
) -> Result<Response, Problem> {
    let (tenant, _) = authorized(&state, &headers, &slug).await?;
    let tenant = fresh(&state, &tenant).await?;
    Ok(with_etag(
        StatusCode::OK,
        &tenant.version,
        view(&state, &tenant),
    ))
}

/// The tenant's row as it is now (another node or the CLI may have changed it).
async fn fresh(state: &AppState, tenant: &Tenant) -> Result<Tenant, Problem> {
    let row = tenancy::directory_row(&state.databases, &tenant.slug).await?;
    let row = row.ok_or_else(|| {
        Problem::new(
            StatusCode::NOT_FOUND,
            format!("no tenant {:?}", tenant.slug.as_str()),
        )
    })?;
    Ok(tenancy::tenant_of_row(
        &state.databases,
        state.tenants.settings(),
        row,
    )?)
}

/// Offboard a disabled tenant: every row it has in its pools is erased in batches,
/// then its signing keys and directory entry; the answer counts the rows. A tenant
/// of millions of rows is better offboarded with `tessera tenant delete` (progress,
/// no HTTP timeout); interrupted, either carries on when run again.
#[utoipa::path(delete, path = "/admin/v1/tenants/{tenant}", tag = "tenants",
    params(("tenant" = String, Path, description = "Tenant slug")),
    security(("bearer" = [])),
    responses((status = 200, body = Erased),
        (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn delete(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(slug): Path<String>,
) -> Result<Response, Problem> {
    let (tenant, caller) = authorized(&state, &headers, &slug).await?;
    caller.require_every_tenant()?;
    let tenant = fresh(&state, &tenant).await?;
    let erased = administration::tenants::delete(
        &state.databases,
        &tenant,
        state.config.keeps_tenant(&tenant.slug),
        administration::tenants::ERASE_BATCH,
        |_| {},
        &caller.actor,
    )
    .await?;
    Ok((StatusCode::OK, Json(erased)).into_response())
}

/// Change a tenant: name, settings (checked as the configuration's are, before
/// anything is written), disabled. With `If-Match`, only if unchanged since.
#[utoipa::path(patch, path = "/admin/v1/tenants/{tenant}", tag = "tenants",
    params(("tenant" = String, Path, description = "Tenant slug"),
        ("If-Match" = Option<String>, Header, description = "The ETag of the last read")),
    request_body = TenantPatch, security(("bearer" = [])),
    responses((status = 200, body = TenantView, headers(("ETag" = String))),
        (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 412, body = Problem), (status = 415, body = Problem)))]
pub async fn update(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(slug): Path<String>,
    patch: Result<Json<TenantPatch>, JsonRejection>,
) -> Result<Response, Problem> {
    let patch = body(patch)?;
    let expected = if_match(&headers)?;
    let (tenant, caller) = authorized(&state, &headers, &slug).await?;
    if patch.disabled.is_some() {
        caller.require_every_tenant()?;
    }
    let slug = tenant.slug.clone();
    let changes = TenantChanges {
        display_name: patch.display_name,
        settings: patch.settings.unwrap_or_default(),
        disabled: patch.disabled,
    };
    let changed = administration::tenants::update(
        &state.databases,
        state.tenants.settings(),
        &slug,
        &changes,
        expected.as_deref(),
        &caller.actor,
    )
    .await?;
    Ok(with_etag(
        StatusCode::OK,
        &changed.version,
        view(&state, &changed),
    ))
}
