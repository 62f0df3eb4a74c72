//! Who calls the admin API, and over which tenants: the holder of a live access
//! token of this service with the `tessera:admin` scope (RFC 6750 bearer). A token
//! of the admin tenant (`admin.tenant`, else the bootstrap tenant) reaches every
//! tenant; a token of another tenant reaches that tenant only.

use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};

use crate::administration::Actor;
use crate::endpoints::request::bearer_token;
use crate::oauth::error::OAuthError;
use crate::oauth::introspection::bearer_client_with_scope;
use crate::oauth::scope::ADMIN_SCOPE;
use crate::state::AppState;
use crate::tenancy::Tenant;

use super::problem::Problem;

/// An authenticated admin caller.
#[derive(Debug)]
pub struct Caller {
    /// For the audit log.
    pub actor: Actor,
    /// Whether it administers every tenant (else only its own).
    pub every_tenant: bool,
}

impl Caller {
    /// Refuses a caller that does not administer every tenant (creating and listing
    /// tenants, disabling one).
    pub fn require_every_tenant(&self) -> Result<(), Problem> {
        if self.every_tenant {
            Ok(())
        } else {
            Err(Problem::new(
                StatusCode::FORBIDDEN,
                "this needs an admin client of the admin tenant; a tenant's own admin \
                 client manages that tenant only",
            ))
        }
    }
}

/// Authenticates the caller of an operation on `target` (`None`: service-wide).
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    target: Option<&Tenant>,
) -> Result<Caller, Problem> {
    let bearer = bearer_token(headers).ok_or(OAuthError::InvalidToken)?;
    let admin_tenant = match state.config.admin_tenant() {
        Some(slug) => state.tenant(slug).await?,
        None => None,
    };
    let mut refusal = OAuthError::InvalidToken;
    if let Some(target) = target
        && admin_tenant
            .as_ref()
            .is_none_or(|admin| admin.id != target.id)
    {
        match bearer_client_with_scope(state, target, bearer, ADMIN_SCOPE).await {
            Ok(client_id) => {
                return Ok(Caller {
                    actor: Actor::AdminClient {
                        tenant: target.slug.to_string(),
                        client_id,
                    },
                    every_tenant: false,
                });
            }
            Err(OAuthError::InvalidToken) => {}
            Err(other) => refusal = other,
        }
    }
    if let Some(admin) = admin_tenant.as_ref().map(Arc::as_ref) {
        match bearer_client_with_scope(state, admin, bearer, ADMIN_SCOPE).await {
            Ok(client_id) => {
                return Ok(Caller {
                    actor: Actor::AdminClient {
                        tenant: admin.slug.to_string(),
                        client_id,
                    },
                    every_tenant: true,
                });
            }
            Err(OAuthError::InvalidToken) => {}
            Err(other) => refusal = other,
        }
    }
    Err(refusal.into())
}
