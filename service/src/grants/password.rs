//! Resource owner password credentials grant (RFC 6749 §4.3). Only for applications
//! that list it; a tenant can switch it off (`allow_password_grant = false`).
//!
//! Brute force (§4.3.2: the server MUST protect the endpoint): failures are counted
//! per (tenant, username as typed) and per source address, the same for a username
//! that does not exist; a key over its limit is refused before the password hash is
//! computed. The user is read from the users group's primary, so a changed password
//! or a deactivation counts at once, whatever a replica's lag.

use std::net::IpAddr;

use router_policies::{EntityGroup, Role};

use crate::grants::{TokenResponse, mint};
use crate::limits::failures::FailureKey;
use crate::oauth::brute_force::Guard;
use crate::oauth::client_auth::Client;
use crate::oauth::error::OAuthError;
use crate::oauth::scope::Scopes;
use crate::secrets;
use crate::state::AppState;
use crate::store::applications::GrantType;
use crate::store::users;
use crate::tenancy::Tenant;

/// An argon2id hash no password matches, verified for unknown users so that timing
/// does not reveal which usernames exist.
const DUMMY_PASSWORD_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Yy5bPBxTFmMKq2HTxIHa2zJvzpuW4kvQpzeV6C8xQ/E";

/// The resource owner's credentials as presented, and where they came from.
pub struct Attempt<'a> {
    /// Username as typed.
    pub username: &'a str,
    /// Password (never logged).
    pub password: String,
    /// The client's address.
    pub address: IpAddr,
}

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
    let refused = || OAuthError::invalid_grant("invalid resource owner credentials");
    if attempt.username.len() > 150 || attempt.username.chars().any(char::is_control) {
        return Err(refused());
    }
    let guard = Guard::new(
        state,
        tenant,
        FailureKey::Username {
            tenant_id: tenant.id,
            username: attempt.username,
        },
        settings.max_failures_per_username,
        attempt.address,
    );
    guard.check()?;
    let users_pool = tenant
        .routes
        .connection(&state.databases, EntityGroup::Users, Role::Write)?;
    let user = users::find_by_username(users_pool, tenant.id, attempt.username).await?;
    let stored_hash = user
        .as_ref()
        .map(|user| user.password_hash.clone())
        .unwrap_or_else(|| DUMMY_PASSWORD_HASH.to_owned());
    let password = attempt.password;
    let matches = state
        .slow_hashes
        .run(move || secrets::verify_password(&stored_hash, &password))
        .await?;
    let user = match user {
        Some(user) if matches && user.is_active => user,
        _ => {
            guard.failed();
            return Err(refused());
        }
    };
    guard.succeeded();
    let with_refresh = client.holds(GrantType::RefreshToken);
    mint(state, tenant, client, Some(user.id), &scopes, with_refresh).await
}
