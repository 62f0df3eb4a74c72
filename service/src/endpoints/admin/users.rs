//! `/admin/v1/tenants/{tenant}/users`: create, list, show, change (active, e-mail,
//! claims, password), delete; a user's authorized applications (list, revoke).

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::administration::consents::{self, AuthorizedApplicationView};
use crate::administration::users::{self, NewUser, UserView};
use crate::state::AppState;
use crate::store::users::AccountChanges;
use crate::time::version_at;

use super::common::{ListQuery, authorized, created, if_match, unchanged_since, with_etag};
use super::problem::Problem;
use super::{body, query};

/// A page of users.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    /// The users, by username.
    pub items: Vec<UserView>,
    /// `after` for the next page; `null` on the last.
    pub next: Option<String>,
}

/// A new user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserBody {
    /// Login name, unique in the tenant (compared in Unicode NFKC).
    pub username: String,
    /// 8 to 1,024 characters; stored as an argon2id hash.
    pub password: String,
    /// E-mail address.
    pub email: Option<String>,
    /// Standard claims (OIDC Core §5.1).
    #[schema(value_type = Option<Object>)]
    pub claims: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A change of a user: only what is given changes.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    /// `false` disables the user: their sessions end and every token they hold is
    /// revoked; `true` lets them sign in again.
    pub active: Option<bool>,
    /// A new e-mail address; `null` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    /// New standard claims (replacing them).
    #[schema(value_type = Option<Object>)]
    pub claims: Option<serde_json::Map<String, serde_json::Value>>,
    /// A new password (ends the user's sessions).
    pub password: Option<String>,
}

/// A field that is present (even as `null`) is `Some`.
fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

/// The applications a user authorized.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthorizationList {
    /// By client_id.
    pub items: Vec<AuthorizedApplicationView>,
}

fn user_path(tenant: &str, subject: &str) -> String {
    format!("/admin/v1/tenants/{tenant}/users/{subject}")
}

async fn hash(state: &AppState, password: String) -> Result<String, Problem> {
    users::check_password(&password)?;
    Ok(state
        .slow_hashes
        .run(move || crate::secrets::hash_password(&password))
        .await??)
}

/// List a tenant's users.
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/users", tag = "users",
    params(("tenant" = String, Path, description = "Tenant slug"), ListQuery),
    security(("bearer" = [])),
    responses((status = 200, body = UserList), (status = 400, body = Problem),
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
    let rows = crate::store::users::list_page(
        state.data(&tenant),
        asked.after.as_deref(),
        limit,
        asked.name.as_deref(),
    )
    .await?;
    let next = (rows.len() as u64 == limit)
        .then(|| rows.last().map(|row| row.username.clone()))
        .flatten();
    let items = rows.iter().map(UserView::from).collect();
    Ok(with_etag(StatusCode::OK, "list", UserList { items, next }))
}

/// Create a user.
#[utoipa::path(post, path = "/admin/v1/tenants/{tenant}/users", tag = "users",
    params(("tenant" = String, Path, description = "Tenant slug")),
    request_body = NewUserBody, security(("bearer" = [])),
    responses((status = 201, body = UserView, headers(("ETag" = String), ("Location" = String))),
        (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 415, body = Problem),
        (status = 503, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(slug): Path<String>,
    new: Result<Json<NewUserBody>, JsonRejection>,
) -> Result<Response, Problem> {
    let new = body(new)?;
    let (tenant, caller) = authorized(&state, &headers, &slug).await?;
    users::check_identity(&new.username, new.email.as_deref())?;
    let password_hash = hash(&state, new.password).await?;
    let user = users::create(
        &state.databases,
        &tenant,
        NewUser {
            username: new.username,
            email: new.email,
            password_hash,
            claims: new.claims.unwrap_or_default(),
        },
        &caller.actor,
    )
    .await?;
    Ok(created(
        &user_path(tenant.slug.as_str(), &user.subject),
        &version_at(user.updated_at),
        UserView::from(&user),
    ))
}

/// Show a user (by subject, or username).
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/users/{user}", tag = "users",
    params(("tenant" = String, Path, description = "Tenant slug"),
        ("user" = String, Path, description = "The user's subject (or username)")),
    security(("bearer" = [])),
    responses((status = 200, body = UserView, headers(("ETag" = String))),
        (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((slug, reference)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let (tenant, _) = authorized(&state, &headers, &slug).await?;
    let user = users::find(&state.databases, &tenant, &reference).await?;
    Ok(with_etag(
        StatusCode::OK,
        &version_at(user.updated_at),
        UserView::from(&user),
    ))
}

/// Change a user. `active: false` ends their sessions and revokes every token they
/// hold. With `If-Match`, only if unchanged since.
#[utoipa::path(patch, path = "/admin/v1/tenants/{tenant}/users/{user}", tag = "users",
    params(("tenant" = String, Path, description = "Tenant slug"),
        ("user" = String, Path, description = "The user's subject (or username)"),
        ("If-Match" = Option<String>, Header, description = "The ETag of the last read")),
    request_body = UserPatch, security(("bearer" = [])),
    responses((status = 200, body = UserView, headers(("ETag" = String))),
        (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 412, body = Problem), (status = 415, body = Problem),
        (status = 503, body = Problem)))]
pub async fn update(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((slug, reference)): Path<(String, String)>,
    patch: Result<Json<UserPatch>, JsonRejection>,
) -> Result<Response, Problem> {
    let patch = body(patch)?;
    let expected = if_match(&headers)?;
    let (tenant, caller) = authorized(&state, &headers, &slug).await?;
    let user = users::find(&state.databases, &tenant, &reference).await?;
    unchanged_since(expected.as_deref(), &version_at(user.updated_at), "user")?;
    let expected_version = expected.is_some().then_some(user.updated_at);
    let password_hash = match patch.password {
        Some(password) => Some(hash(&state, password).await?),
        None => None,
    };
    let changes = AccountChanges {
        active: patch.active,
        password_hash,
        email: patch.email,
        claims: patch.claims,
        expected_version,
    };
    let changed = users::change(&state.databases, &tenant, &user, &changes, &caller.actor).await?;
    Ok(with_etag(
        StatusCode::OK,
        &version_at(changed.updated_at),
        UserView::from(&changed),
    ))
}

/// Delete a user: their tokens are revoked, their consents forgotten, their
/// sessions ended; applications they own keep working without an owner.
#[utoipa::path(delete, path = "/admin/v1/tenants/{tenant}/users/{user}", tag = "users",
    params(("tenant" = String, Path, description = "Tenant slug"),
        ("user" = String, Path, description = "The user's subject (or username)")),
    security(("bearer" = [])),
    responses((status = 204, description = "Deleted"), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn delete(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((slug, reference)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let (tenant, caller) = authorized(&state, &headers, &slug).await?;
    let user = users::find(&state.databases, &tenant, &reference).await?;
    users::delete(&state.databases, &tenant, &user, &caller.actor).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The applications the user authorized (live tokens or a remembered consent).
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/users/{user}/authorizations",
    tag = "users",
    params(("tenant" = String, Path, description = "Tenant slug"),
        ("user" = String, Path, description = "The user's subject (or username)")),
    security(("bearer" = [])),
    responses((status = 200, body = AuthorizationList), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn authorizations(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((slug, reference)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let (tenant, _) = authorized(&state, &headers, &slug).await?;
    let user = users::find(&state.databases, &tenant, &reference).await?;
    let items = consents::list(&state.databases, &tenant, &user).await?;
    Ok(with_etag(
        StatusCode::OK,
        "list",
        AuthorizationList { items },
    ))
}

/// Revoke every token the user holds for one application and forget the consent.
#[utoipa::path(delete,
    path = "/admin/v1/tenants/{tenant}/users/{user}/authorizations/{client_id}",
    tag = "users",
    params(("tenant" = String, Path, description = "Tenant slug"),
        ("user" = String, Path, description = "The user's subject (or username)"),
        ("client_id" = String, Path, description = "The application's client_id")),
    security(("bearer" = [])),
    responses((status = 204, description = "Revoked"), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((slug, reference, client_id)): Path<(String, String, String)>,
) -> Result<Response, Problem> {
    let (tenant, caller) = authorized(&state, &headers, &slug).await?;
    let user = users::find(&state.databases, &tenant, &reference).await?;
    consents::revoke(&state.databases, &tenant, &user, &client_id, &caller.actor).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
