//! Client credentials grant (RFC 6749 §4.4): a confidential client acting on its own
//! behalf. No refresh token (§4.4.3).

use crate::grants::{TokenResponse, mint};
use crate::oauth::client_auth::{AuthMethod, Client};
use crate::oauth::error::OAuthError;
use crate::oauth::scope::Scopes;
use crate::state::AppState;
use crate::tenancy::Tenant;

/// Issues an access token to the client itself.
pub async fn grant(
    state: &AppState,
    tenant: &Tenant,
    client: &Client,
    requested: Option<Scopes>,
) -> Result<TokenResponse, OAuthError> {
    // §4.4: "MUST only be used by confidential clients".
    if client.method == AuthMethod::None {
        return Err(OAuthError::unauthorized_client(
            "client_credentials needs a confidential client",
        ));
    }
    let allowed = Scopes::from_stored(&client.application.allowed_scopes);
    let scopes = Scopes::grant(requested, &tenant.settings, &allowed)?;
    mint(state, tenant, client, None, &scopes, false).await
}
