//! `/admin/v1/tenants/{tenant}/applications`: register (a generated secret, shown
//! once), list, show, change (with `If-Match`), delete, rotate the secret. The
//! registration rules and the tenant's extension field declarations apply as in the
//! CLI and the management pages.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::administration::applications::{self as lifecycle, ApplicationChanges};
use crate::application_fields::Assignment;
use crate::registration::{
    self, AccessTokenFormat, ApplicationSummary, NewApplication, SecretSource,
};
use crate::state::AppState;
use crate::store::applications as stored_applications;
use crate::tenancy::Tenant;
use crate::time::version_at;

use super::common::{ListQuery, authorized, created, if_match, unchanged_since, with_etag};
use super::problem::Problem;
use super::{body, query};

/// A page of applications.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApplicationList {
    /// By client_id.
    pub items: Vec<ApplicationSummary>,
    /// `after` for the next page; `null` on the last.
    pub next: Option<String>,
}

/// A new application.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApplicationBody {
    /// Display name.
    pub name: String,
    /// `confidential` or `public` (RFC 6749 §2.1).
    pub client_type: String,
    /// RFC 7591 grant type names.
    pub grant_types: Vec<String>,
    /// Redirect URIs (matched exactly).
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// URIs allowed after logout.
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// CORS origins.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Scopes it may ask for (empty: the tenant's catalogue).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Skip the consent page.
    #[serde(default)]
    pub skip_authorization: bool,
    /// ID token algorithm: RS256 (default), ES256, EdDSA or HS256.
    pub algorithm: Option<String>,
    /// `opaque` (default) or `jwt` (RFC 9068).
    pub access_token_format: Option<String>,
    /// Extension fields the tenant declares.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub fields: BTreeMap<String, serde_json::Value>,
    /// Its own external login application.
    pub login_url: Option<String>,
    /// The client_id that login application authenticates with.
    pub login_client_id: Option<String>,
    /// Its home page (RFC 7591 `client_uri`), linked from error pages.
    pub client_uri: Option<String>,
}

/// A change of an application: only what is given changes (never its client_id,
/// type or secret).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplicationPatch {
    /// Display name.
    pub name: Option<String>,
    /// RFC 7591 grant type names (replaces the list).
    pub grant_types: Option<Vec<String>>,
    /// Redirect URIs (replaces the list).
    pub redirect_uris: Option<Vec<String>>,
    /// Post-logout redirect URIs.
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// CORS origins.
    pub allowed_origins: Option<Vec<String>>,
    /// Allowed scopes (`[]`: the tenant's catalogue).
    pub scopes: Option<Vec<String>>,
    /// Skip the consent page.
    pub skip_authorization: Option<bool>,
    /// ID token algorithm.
    pub algorithm: Option<String>,
    /// `opaque` or `jwt`.
    pub access_token_format: Option<String>,
    /// Extension fields to set; `null` removes one.
    #[schema(value_type = Option<Object>)]
    pub fields: Option<BTreeMap<String, serde_json::Value>>,
    /// Its own external login application (`""` removes it).
    pub login_url: Option<String>,
    /// The client_id that login application authenticates with.
    pub login_client_id: Option<String>,
    /// Its home page (`""` removes it).
    pub client_uri: Option<String>,
}

/// A registered application and, once, its generated secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApplication {
    /// The application.
    pub application: ApplicationSummary,
    /// The generated secret (confidential clients), shown only here.
    pub client_secret: Option<String>,
}

/// A new secret, shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewSecret {
    /// The application.
    pub client_id: String,
    /// Its new secret; the old one no longer works.
    pub client_secret: String,
}

/// JSON field values as the field declarations read them (`null` removes).
fn assignments(fields: BTreeMap<String, serde_json::Value>) -> Result<Vec<Assignment>, Problem> {
    fields
        .iter()
        .map(|(name, value)| Assignment::from_json(name, value))
        .collect::<Result<_, _>>()
        .map_err(|why| Problem::new(StatusCode::BAD_REQUEST, format!("fields: {why}")))
}

fn location(tenant: &Tenant, client_id: &str) -> String {
    format!("/admin/v1/tenants/{}/applications/{client_id}", tenant.slug)
}

fn summary(tenant: &Tenant, model: &entity::application::Model) -> ApplicationSummary {
    ApplicationSummary::new(model, &tenant.fields)
}

/// List a tenant's applications.
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/applications", tag = "applications",
    params(("tenant" = String, Path, description = "Tenant slug"), ListQuery),
    security(("bearer" = [])),
    responses((status = 200, body = ApplicationList), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(slug): Path<String>,
    asked: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    let asked = query(asked)?;
    let (tenant, _) = authorized(&state, &headers, &slug).await?;
    let limit = asked.limit()?;
    let rows = stored_applications::list_page(
        state.data(&tenant),
        asked.after.as_deref(),
        limit,
        asked.name.as_deref(),
    )
    .await?;
    let next = (rows.len() as u64 == limit)
        .then(|| rows.last().map(|row| row.client_id.clone()))
        .flatten();
    let items = rows.iter().map(|row| summary(&tenant, row)).collect();
    Ok(with_etag(
        StatusCode::OK,
        "list",
        ApplicationList { items, next },
    ))
}

/// Register an application (its secret is generated and shown once).
#[utoipa::path(post, path = "/admin/v1/tenants/{tenant}/applications", tag = "applications",
    params(("tenant" = String, Path, description = "Tenant slug")),
    request_body = NewApplicationBody, security(("bearer" = [])),
    responses((status = 201, body = CreatedApplication,
            headers(("ETag" = String), ("Location" = String))),
        (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 415, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(slug): Path<String>,
    new: Result<Json<NewApplicationBody>, JsonRejection>,
) -> Result<Response, Problem> {
    let new = body(new)?;
    let (tenant, caller) = authorized(&state, &headers, &slug).await?;
    let draft = NewApplication {
        redirect_uris: registration::parse_redirect_uris(
            "redirect URI",
            &new.redirect_uris.join(" "),
        )?,
        post_logout_redirect_uris: registration::parse_redirect_uris(
            "post-logout redirect URI",
            &new.post_logout_redirect_uris.join(" "),
        )?,
        allowed_origins: registration::parse_origins(&new.allowed_origins.join(" "))?,
        skip_authorization: new.skip_authorization,
        algorithm: registration::parse_algorithm(new.algorithm.as_deref())?,
        access_token_format: AccessTokenFormat::parse(new.access_token_format.as_deref())?,
        allowed_scopes: new.scopes,
        login_url: new.login_url.unwrap_or_default().trim().to_owned(),
        login_client_id: new.login_client_id.unwrap_or_default().trim().to_owned(),
        client_uri: new.client_uri.unwrap_or_default().trim().to_owned(),
        ..NewApplication::named(
            &new.name,
            new.client_type.parse()?,
            registration::parse_grant_types(&new.grant_types.join(","))?,
        )
    };
    let registered = registration::register(draft, SecretSource::Generate)?;
    let (application, client_secret) = lifecycle::create(
        &state.databases,
        &tenant,
        registered,
        &assignments(new.fields)?,
        &caller.actor,
    )
    .await?;
    Ok(created(
        &location(&tenant, &application.client_id),
        &version_at(application.updated_at),
        CreatedApplication {
            application: summary(&tenant, &application),
            client_secret,
        },
    ))
}

/// Show an application.
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/applications/{client_id}",
    tag = "applications",
    params(("tenant" = String, Path, description = "Tenant slug"),
        ("client_id" = String, Path, description = "The application's client_id")),
    security(("bearer" = [])),
    responses((status = 200, body = ApplicationSummary, headers(("ETag" = String))),
        (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((slug, client_id)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let (tenant, _) = authorized(&state, &headers, &slug).await?;
    let application = lifecycle::find(&state.databases, &tenant, &client_id).await?;
    Ok(with_etag(
        StatusCode::OK,
        &version_at(application.updated_at),
        summary(&tenant, &application),
    ))
}

/// Change an application. With `If-Match`, only if unchanged since; every node
/// drops its cached copy.
#[utoipa::path(patch, path = "/admin/v1/tenants/{tenant}/applications/{client_id}",
    tag = "applications",
    params(("tenant" = String, Path, description = "Tenant slug"),
        ("client_id" = String, Path, description = "The application's client_id"),
        ("If-Match" = Option<String>, Header, description = "The ETag of the last read")),
    request_body = ApplicationPatch, security(("bearer" = [])),
    responses((status = 200, body = ApplicationSummary, headers(("ETag" = String))),
        (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 412, body = Problem), (status = 415, body = Problem)))]
pub async fn update(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((slug, client_id)): Path<(String, String)>,
    patch: Result<Json<ApplicationPatch>, JsonRejection>,
) -> Result<Response, Problem> {
    let patch = body(patch)?;
    let expected = if_match(&headers)?;
    let (tenant, caller) = authorized(&state, &headers, &slug).await?;
    let stored = lifecycle::find(&state.databases, &tenant, &client_id).await?;
    unchanged_since(
        expected.as_deref(),
        &version_at(stored.updated_at),
        "application",
    )?;
    let changes = ApplicationChanges {
        name: patch.name,
        grant_types: patch.grant_types.map(|list| list.join(",")),
        redirect_uris: patch.redirect_uris.map(|list| list.join(" ")),
        post_logout_redirect_uris: patch.post_logout_redirect_uris.map(|list| list.join(" ")),
        allowed_origins: patch.allowed_origins.map(|list| list.join(" ")),
        scopes: patch.scopes.map(|list| list.join(" ")),
        skip_authorization: patch.skip_authorization,
        algorithm: patch.algorithm,
        access_token_format: patch.access_token_format,
        login_url: patch.login_url,
        login_client_id: patch.login_client_id,
        client_uri: patch.client_uri,
        token_endpoint_auth_method: None,
        fields: patch
            .fields
            .map(assignments)
            .transpose()?
            .unwrap_or_default(),
    };
    let updated =
        lifecycle::update(&state.databases, &tenant, &stored, &changes, &caller.actor).await?;
    Ok(with_etag(
        StatusCode::OK,
        &version_at(updated.updated_at),
        summary(&tenant, &updated),
    ))
}

/// Delete an application: its tokens stop working at once, on every node.
#[utoipa::path(delete, path = "/admin/v1/tenants/{tenant}/applications/{client_id}",
    tag = "applications",
    params(("tenant" = String, Path, description = "Tenant slug"),
        ("client_id" = String, Path, description = "The application's client_id")),
    security(("bearer" = [])),
    responses((status = 204, description = "Deleted"), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn delete(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((slug, client_id)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let (tenant, caller) = authorized(&state, &headers, &slug).await?;
    let stored = lifecycle::find(&state.databases, &tenant, &client_id).await?;
    lifecycle::delete(&state.databases, &tenant, &stored, &caller.actor).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Give a confidential application a new secret (shown once; the old one stops
/// working at once).
#[utoipa::path(post, path = "/admin/v1/tenants/{tenant}/applications/{client_id}/secret",
    tag = "applications",
    params(("tenant" = String, Path, description = "Tenant slug"),
        ("client_id" = String, Path, description = "The application's client_id")),
    security(("bearer" = [])),
    responses((status = 200, body = NewSecret), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((slug, client_id)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let (tenant, caller) = authorized(&state, &headers, &slug).await?;
    let stored = lifecycle::find(&state.databases, &tenant, &client_id).await?;
    let client_secret =
        lifecycle::rotate_secret(&state.databases, &tenant, &stored, &caller.actor).await?;
    Ok(with_etag(
        StatusCode::OK,
        "secret",
        NewSecret {
            client_id: stored.client_id,
            client_secret,
        },
    ))
}
