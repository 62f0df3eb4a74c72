//! Resource owner password credentials grant (RFC 6749 §4.3). Only for applications
//! that list it; a tenant can switch it off (`allow_password_grant = false`). The
//! credential check and its brute-force limits are [`crate::oauth::credentials`].

use crate::grants::{TokenResponse, mint};
use crate::oauth::client_auth::Client;
use crate::oauth::credentials::{self, Attempt};
use crate::oauth::error::OAuthError;
use crate::oauth::scope::Scopes;
use crate::registration::GrantType;
use crate::state::AppState;
use crate::tenancy::Tenant;

/// Checks the user's password (argon2id, on a blocking thread) and issues tokens; a
/// refresh token when the client holds the `refresh_token` grant.
pub async fn grant(
    state: &AppState,
    tenant: &Tenant,
    client: &Client,
    attempt: Attempt<'_>,
    requested: Option<Scopes>,
) -> Result<TokenResponse, OAuthError> {
    let settings = &tenant.settings;
    if !settings.allow_password_grant {
        return Err(OAuthError::unsupported_grant_type(
            "the password grant is disabled for this tenant",
        ));
    }
    let allowed = Scopes::from_stored(&client.application.allowed_scopes);
    let scopes = Scopes::grant(requested, settings, &allowed)?;
    let user = credentials::check(state, tenant, attempt).await?;
    let with_refresh =
        state
            .policies
            .allows_grant_type(tenant, &client.application, GrantType::RefreshToken);
    mint(state, tenant, client, Some(user.id), &scopes, with_refresh).await
}
