//! Resource owner password credentials grant (RFC 6749 §4.3). Only for applications
//! that list it; a tenant can switch it off (`allow_password_grant = false`).

use router_policies::{EntityGroup, Role};

use crate::endpoints::AppState;
use crate::endpoints::error::ApiError;
use crate::grants::{TokenResponse, mint};
use crate::oauth::client_auth::Client;
use crate::oauth::scope::Scopes;
use crate::secrets;
use crate::store::applications::GrantType;
use crate::store::users;
use crate::tenancy::Tenant;

/// An argon2id hash no password matches, verified for unknown users so that timing
/// does not reveal which usernames exist.
const DUMMY_PASSWORD_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Yy5bPBxTFmMKq2HTxIHa2zJvzpuW4kvQpzeV6C8xQ/E";

/// Checks the user's password (argon2id, on a blocking thread) and issues tokens; a
/// refresh token when the client holds the `refresh_token` grant.
pub async fn grant(
    state: &AppState,
    tenant: &Tenant,
    client: &Client,
    username: &str,
    password: String,
    requested: Option<Scopes>,
) -> Result<TokenResponse, ApiError> {
    if !tenant.settings.allow_password_grant {
        return Err(ApiError::unsupported_grant_type(
            "the password grant is disabled for this tenant",
        ));
    }
    let allowed = Scopes::from_stored(&client.application.allowed_scopes);
    let scopes = Scopes::grant(requested, &tenant.settings, &allowed)?;
    if username.len() > 150 || username.chars().any(char::is_control) {
        return Err(ApiError::invalid_grant(
            "invalid resource owner credentials",
        ));
    }
    let users_pool = tenant
        .routes
        .connection(&state.databases, EntityGroup::Users, Role::Read)?;
    let user = users::find_by_username(users_pool, tenant.id, username).await?;
    let stored_hash = user
        .as_ref()
        .map(|user| user.password_hash.clone())
        .unwrap_or_else(|| DUMMY_PASSWORD_HASH.to_owned());
    let matches = state
        .slow_hash(move || secrets::verify_password(&stored_hash, &password))
        .await?;
    let user = match user {
        Some(user) if matches && user.is_active => user,
        _ => {
            return Err(ApiError::invalid_grant(
                "invalid resource owner credentials",
            ));
        }
    };
    let with_refresh = client.holds(GrantType::RefreshToken);
    mint(state, tenant, client, Some(user.id), &scopes, with_refresh).await
}
