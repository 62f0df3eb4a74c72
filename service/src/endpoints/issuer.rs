//! Tenant resolution by path: `/t/{tenant}` is the tenant's issuer (docs/router.md).
//! Protocol endpoints nest under it in later modules; this one answers for the issuer
//! itself and refuses unknown tenants with a JSON 404.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::endpoints::error::ApiError;
use crate::oauth::error::OAuthError;
use crate::state::AppState;
use crate::tenancy::Tenant;

/// Finds the tenant named in the path, or answers 404; a tenant an operator
/// disabled answers 403 on every endpoint of its issuer.
pub async fn resolve_tenant(state: &AppState, slug: &str) -> Result<Arc<Tenant>, OAuthError> {
    let tenant = state
        .tenant(slug)
        .await?
        .ok_or_else(|| OAuthError::UnknownTenant(slug.to_owned()))?;
    if tenant.disabled {
        return Err(OAuthError::Forbidden(format!(
            "tenant {slug:?} is disabled by its operator"
        )));
    }
    Ok(tenant)
}

/// `GET /t/{tenant}`: the tenant's issuer identifier.
pub async fn describe(
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let tenant = resolve_tenant(&state, &slug).await?;
    Ok(Json(json!({
        "tenant": tenant.slug.as_str(),
        "display_name": tenant.display_name,
        "issuer": state.config.issuer(&tenant.slug),
    })))
}

/// Any other path under a tenant: 404 naming the tenant when it is unknown, else
/// "no such endpoint".
pub async fn unknown_endpoint(
    State(state): State<AppState>,
    Path((slug, _rest)): Path<(String, String)>,
) -> ApiError {
    match resolve_tenant(&state, &slug).await {
        Ok(_) => ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint"),
        Err(error) => error.into(),
    }
}

/// A method the endpoint does not serve (`GET /t/{tenant}/token`): 404 for an unknown
/// tenant, else 405 with a JSON body and `Allow` (RFC 9110 §15.5.6).
pub async fn wrong_method(State(state): State<AppState>, Path(slug): Path<String>) -> ApiError {
    match resolve_tenant(&state, &slug).await {
        Ok(_) => ApiError::method_not_allowed("POST, OPTIONS"),
        Err(error) => error.into(),
    }
}
