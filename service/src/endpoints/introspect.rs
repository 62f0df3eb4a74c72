//! `POST /t/{tenant}/introspect` (RFC 7662). The caller authenticates as a
//! confidential client, or with a bearer access token holding the `introspection`
//! scope (§2.1). Anything inactive — unknown, expired, revoked, another tenant's, of a
//! deleted client or deactivated user — is exactly `{"active": false}` (§2.2).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use entity::{access_token, application, refresh_token};
use router_policies::{EntityGroup, Role};
use serde::Serialize;

use crate::endpoints::AppState;
use crate::endpoints::cors;
use crate::endpoints::error::ApiError;
use crate::endpoints::issuer::resolve_tenant;
use crate::endpoints::token::NO_STORE;
use crate::oauth::client_auth::{AuthMethod, authenticate};
use crate::oauth::form::Form;
use crate::oauth::scope::Scopes;
use crate::secrets::checksum;
use crate::store::{applications, tokens, users};
use crate::tenancy::Tenant;
use crate::time::{now, unix_seconds};

/// The scope a bearer token needs to call this endpoint.
pub const INTROSPECTION_SCOPE: &str = "introspection";

/// An introspection answer (RFC 7662 §2.2).
#[derive(Debug, Default, Serialize)]
pub struct Introspection {
    /// Whether the token is active.
    pub active: bool,
    /// Space-separated scopes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The client it was issued to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The resource owner's username.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The resource owner's id, or the client_id for client credentials tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// `Bearer` for access tokens, `refresh_token` for refresh tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    /// Expiry, seconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Issue time, seconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// The tenant's issuer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
}

/// The introspection endpoint.
pub async fn introspect(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut application = None;
    let result: Result<Introspection, ApiError> = async {
        let tenant = resolve_tenant(&state, &slug).await?;
        let form = Form::parse(&headers, &body)?;
        match bearer_token(&headers) {
            Some(bearer) => authorize_bearer(&state, &tenant, bearer).await?,
            None => {
                let client = authenticate(&state, &tenant, &headers, &form).await?;
                // A public client proves nothing: it may not introspect.
                if client.method == AuthMethod::None {
                    return Err(ApiError::invalid_client());
                }
                application = Some(client.application);
            }
        }
        let token = form.require("token")?;
        inspect(&state, &tenant, token, application.as_deref()).await
    }
    .await;
    let response = match result {
        Ok(answer) => (NO_STORE, Json(answer)).into_response(),
        Err(error) => error.into_response(),
    };
    cors::apply(&state, &slug, &headers, application.as_deref(), response).await
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// A bearer caller must hold a live access token of this tenant with the
/// `introspection` scope (RFC 6750 §3.1 errors otherwise).
async fn authorize_bearer(state: &AppState, tenant: &Tenant, bearer: &str) -> Result<(), ApiError> {
    let pool = tokens::token_pool(&state.databases, tenant)?;
    let token = tokens::find_access_token(pool, tenant.id, &checksum(bearer)).await?;
    let Some(token) = token.filter(is_live_access) else {
        return Err(ApiError::invalid_token());
    };
    if !Scopes::from_stored(&token.scope).contains(INTROSPECTION_SCOPE) {
        return Err(ApiError::insufficient_scope(INTROSPECTION_SCOPE));
    }
    Ok(())
}

fn is_live_access(token: &access_token::Model) -> bool {
    tokens::access_is_live(token, now())
}

fn is_live_refresh(token: &refresh_token::Model, tenant: &Tenant) -> bool {
    token.revoked_at.is_none() && tokens::refresh_unusable(token, &tenant.settings, now()).is_none()
}

/// Looks the token up — access tokens first unless its prefix says refresh token
/// (`token_type_hint` is not needed: the prefix is authoritative for tokens Tessera
/// minted, and both tables are tried for others) — and describes it when active.
/// Refresh tokens are described only to the client that holds them (RFC 7662 §4).
/// `caller` is the authenticated client, `None` for a bearer caller.
pub async fn inspect(
    state: &AppState,
    tenant: &Tenant,
    token: &str,
    caller: Option<&application::Model>,
) -> Result<Introspection, ApiError> {
    let pool = tokens::token_pool(&state.databases, tenant)?;
    let checksum = checksum(token);
    let refresh_first = token.starts_with(crate::secrets::prefix::REFRESH_TOKEN);
    let mut found = None;
    for look_in_refresh in [refresh_first, !refresh_first] {
        found = if look_in_refresh {
            tokens::find_refresh_token(pool, tenant.id, &checksum)
                .await?
                .map(Found::Refresh)
        } else {
            tokens::find_access_token(pool, tenant.id, &checksum)
                .await?
                .map(Found::Access)
        };
        if found.is_some() {
            break;
        }
    }
    let (application_id, user_id, scope, token_type, exp, iat) = match found {
        Some(Found::Access(access)) if is_live_access(&access) => (
            access.application_id,
            access.user_id,
            access.scope,
            "Bearer",
            Some(unix_seconds(access.expires_at)),
            unix_seconds(access.created_at),
        ),
        Some(Found::Refresh(refresh))
            if is_live_refresh(&refresh, tenant)
                && caller.is_some_and(|caller| caller.id == refresh.application_id) =>
        {
            (
                refresh.application_id,
                refresh.user_id,
                refresh.scope,
                "refresh_token",
                refresh.expires_at.map(unix_seconds),
                unix_seconds(refresh.created_at),
            )
        }
        _ => return Ok(Introspection::default()),
    };
    let client_id = match caller.filter(|caller| caller.id == application_id) {
        Some(caller) => caller.client_id.clone(),
        None => {
            let applications_pool = tenant.routes.connection(
                &state.databases,
                EntityGroup::Applications,
                Role::Read,
            )?;
            match applications::find_by_id(applications_pool, tenant.id, application_id).await? {
                Some(application) => application.client_id,
                None => return Ok(Introspection::default()),
            }
        }
    };
    let (username, sub) = match user_id {
        Some(user_id) => {
            let users_pool =
                tenant
                    .routes
                    .connection(&state.databases, EntityGroup::Users, Role::Read)?;
            match users::find_by_id(users_pool, tenant.id, user_id).await? {
                Some(user) if user.is_active => (Some(user.username), user.id.to_string()),
                _ => return Ok(Introspection::default()),
            }
        }
        None => (None, client_id.clone()),
    };
    Ok(Introspection {
        active: true,
        scope: Some(scope),
        client_id: Some(client_id),
        username,
        sub: Some(sub),
        token_type: Some(token_type),
        exp,
        iat: Some(iat),
        iss: Some(state.config.issuer(&tenant.slug)),
    })
}

enum Found {
    Access(access_token::Model),
    Refresh(refresh_token::Model),
}
