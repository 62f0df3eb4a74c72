//! Browser sessions: a login stores one in the tenant's users pool and hands the
//! browser a 256-bit secret for its cookie. A session names one tenant only; it is
//! looked up on the primary with its user, so a logout or a deactivated user counts
//! at once.

use entity::user;

use crate::error::Error;
use crate::oauth::login_authority::LoginAuthority;
use crate::secrets::{self, checksum};
use crate::state::AppState;
use crate::store::sessions::{self, NewSession};
use crate::tenancy::Tenant;
use crate::time::{now, plus_seconds};

/// Prefix of session secrets.
pub const SESSION_PREFIX: &str = "tsx_";

/// A live session and its (active) user.
#[derive(Clone, Debug)]
pub struct SignedIn {
    /// The user.
    pub user: user::Model,
    /// When they authenticated (the login that started the session).
    pub authenticated_at: entity::Timestamp,
    /// Who accepted the login ([`LoginAuthority::session_key`]).
    pub authority: String,
    /// The cookie's secret (for the anti-CSRF token of the session's forms).
    pub secret: String,
}

impl SignedIn {
    /// Whether `authority` signed this session in: only then does it count for the
    /// sign-ins that authority decides.
    pub fn is_from(&self, authority: &LoginAuthority) -> bool {
        self.authority == authority.session_key()
    }
}

/// Starts a session of `user_id` signed in on Tessera's own pages at
/// `authenticated_at` (the instant the authorization's ID token says too); returns
/// the cookie's secret.
pub async fn start(
    state: &AppState,
    tenant: &Tenant,
    user_id: i64,
    authenticated_at: entity::Timestamp,
) -> Result<String, Error> {
    start_for(
        state,
        tenant,
        user_id,
        &LoginAuthority::Pages,
        tenant.settings.session_lifetime_secs,
        authenticated_at,
    )
    .await
}

/// Starts a session that `authority` signed in, lasting `lifetime` seconds (an
/// external login application's `remember_for`).
pub async fn start_for(
    state: &AppState,
    tenant: &Tenant,
    user_id: i64,
    authority: &LoginAuthority,
    lifetime: u64,
    authenticated_at: entity::Timestamp,
) -> Result<String, Error> {
    let secret = secrets::generate(SESSION_PREFIX)?;
    sessions::create(
        state.data(tenant),
        NewSession {
            session_checksum: checksum(&secret),
            user_id,
            authority: authority.session_key(),
            authenticated_at,
            expires_at: plus_seconds(now(), lifetime),
        },
    )
    .await?;
    Ok(secret)
}

/// The signed-in user of the session whose cookie holds `secret`, if it is live and
/// its user active.
pub async fn resume(
    state: &AppState,
    tenant: &Tenant,
    secret: &str,
) -> Result<Option<SignedIn>, Error> {
    if !secret.starts_with(SESSION_PREFIX) || secret.len() > 100 {
        return Ok(None);
    }
    Ok(
        sessions::find_live_user(state.data(tenant), &checksum(secret))
            .await?
            .map(|(user, session)| SignedIn {
                user,
                authenticated_at: session.authenticated_at,
                authority: session.authority,
                secret: secret.to_owned(),
            }),
    )
}

/// Ends the session (logout).
pub async fn end(state: &AppState, tenant: &Tenant, secret: &str) -> Result<(), Error> {
    sessions::delete(state.data(tenant), &checksum(secret)).await
}
