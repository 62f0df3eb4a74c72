//! The resource owner's password check, shared by the password grant (RFC 6749
//! §4.3) and the login page.
//!
//! Brute force (§4.3.2: the server MUST protect the endpoint): failures are counted
//! per (tenant, username in its NFKC lower-case form) and per source address, the same for a username
//! that does not exist; a key over its limit is refused before the password hash is
//! computed. The user is read from the users group's primary, so a changed password
//! or a deactivation counts at once, whatever a replica's lag.

use std::net::IpAddr;

use entity::user;

use crate::limits::failures::FailureKey;
use crate::oauth::brute_force::Guard;
use crate::oauth::error::OAuthError;
use crate::secrets;
use crate::state::AppState;
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

/// The active user whose password `attempt` presents. Wrong credentials, an unknown
/// or inactive user are one answer: `invalid_grant`; over a limit: `TooManyAttempts`.
/// The argon2id verification runs on the bounded slow-hash pool.
pub async fn check(
    state: &AppState,
    tenant: &Tenant,
    attempt: Attempt<'_>,
) -> Result<user::Model, OAuthError> {
    let refused = || OAuthError::invalid_grant("invalid resource owner credentials");
    if attempt.username.chars().count() > crate::syntax::MAX_USERNAME_CHARS
        || attempt.username.chars().any(char::is_control)
    {
        return Err(refused());
    }
    // Failures count per spelling-independent name (NFKC, lower case): `alice`,
    // `ALICE` and a fullwidth `ａlice` share one counter.
    let counted_as = migration::usernames::username_key(attempt.username);
    let guard = Guard::new(
        state,
        tenant,
        FailureKey::Username {
            tenant_id: tenant.id,
            username: &counted_as,
        },
        tenant.settings.max_failures_per_username,
        attempt.address,
    );
    guard.check().await?;
    let user = users::find_by_username(
        state.data(tenant),
        attempt.username,
        tenant.settings.usernames_ignore_case,
    )
    .await?;
    let stored_hash = user
        .as_ref()
        .map(|user| user.password_hash.clone())
        .unwrap_or_else(|| DUMMY_PASSWORD_HASH.to_owned());
    let password = attempt.password;
    let matches = state
        .slow_hashes
        .run(move || secrets::verify_password(&stored_hash, &password))
        .await?;
    match user {
        Some(user) if matches && user.is_active => {
            guard.succeeded().await;
            Ok(user)
        }
        _ => {
            guard.failed().await;
            Err(refused())
        }
    }
}
