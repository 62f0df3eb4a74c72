//! People creating their own account (OpenID Connect Prompt Create 1.0), in tenants
//! with `allow_sign_up`. The sign-up page reaches it directly, or a client asks for
//! it with `prompt=create`; afterwards the interaction goes on as after a login
//! ([`crate::oauth::authorize::resume_with_login`]).
//!
//! What a creation may cost an attacker: each attempt whose fields are well formed
//! counts against its source address (`max_sign_ups_per_address` per
//! `failure_window_secs`), checked before the user lookup and the argon2id hash,
//! which runs on the bounded slow-hash pool like every password check. That also
//! bounds how fast "username taken" answers can enumerate usernames from one
//! address. The new user's e-mail is unverified (`email_verified: false`).

use std::net::IpAddr;

use entity::user;

use crate::error::Error;
use crate::limits::failures::{FailureKey, Limit};
use crate::oauth::error::OAuthError;
use crate::secrets;
use crate::state::AppState;
use crate::store::users;
use crate::syntax;
use crate::tenancy::Tenant;

/// Shortest password accepted (NIST SP 800-63B §5.1.1.1: at least 8 characters).
pub const MIN_PASSWORD_CHARS: usize = 8;

/// Longest password accepted (SP 800-63B asks for at least 64; the hash input stays
/// small).
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// An account as the sign-up form presents it.
pub struct NewAccount<'a> {
    /// The username wanted.
    pub username: &'a str,
    /// An e-mail address, if given.
    pub email: Option<&'a str>,
    /// The password (never logged).
    pub password: String,
    /// The client's address.
    pub address: IpAddr,
}

/// Why no account was created, in words the form can show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The tenant does not offer sign-up.
    Closed,
    /// The username is empty, too long or has spaces.
    InvalidUsername,
    /// The e-mail address is malformed.
    InvalidEmail,
    /// The password is shorter than [`MIN_PASSWORD_CHARS`] or longer than the maximum.
    InvalidPassword,
    /// Another user of the tenant has the username.
    UsernameTaken,
    /// This address created too many accounts lately.
    TooMany,
    /// The hash pool is full: try again in a moment.
    Busy,
}

impl Refusal {
    /// Every refusal.
    pub const ALL: [Refusal; 7] = [
        Refusal::Closed,
        Refusal::InvalidUsername,
        Refusal::InvalidEmail,
        Refusal::InvalidPassword,
        Refusal::UsernameTaken,
        Refusal::TooMany,
        Refusal::Busy,
    ];

    /// The short code the form's redirect carries (`?error=`).
    pub fn code(self) -> &'static str {
        match self {
            Refusal::Closed => "closed",
            Refusal::InvalidUsername => "username",
            Refusal::InvalidEmail => "email",
            Refusal::InvalidPassword => "password",
            Refusal::UsernameTaken => "taken",
            Refusal::TooMany => "too_many",
            Refusal::Busy => "busy",
        }
    }

    /// The refusal a code names; `None` for anything else.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|refusal| refusal.code() == code)
    }

    /// What the person should do.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::Closed => "This service does not offer sign-up.",
            Refusal::InvalidUsername => "Choose a username of 1 to 150 characters, without spaces.",
            Refusal::InvalidEmail => "That is not an e-mail address. Leave it empty or fix it.",
            Refusal::InvalidPassword => {
                "Choose a password of at least 8 characters (at most 1024)."
            }
            Refusal::UsernameTaken => "That username is taken. Choose another one.",
            Refusal::TooMany => "Too many accounts were created from here. Try again later.",
            Refusal::Busy => "The service is busy. Try again in a moment.",
        }
    }
}

/// What [`create_account`] ends in, besides an account.
#[derive(Debug)]
pub enum SignUpError {
    /// Nothing was created; tell the person why.
    Refused(Refusal),
    /// A database or another part failed.
    Failed(OAuthError),
}

impl From<Error> for SignUpError {
    fn from(error: Error) -> Self {
        match error {
            Error::Overloaded { .. } => SignUpError::Refused(Refusal::Busy),
            Error::Conflict(_) => SignUpError::Refused(Refusal::UsernameTaken),
            other => SignUpError::Failed(other.into()),
        }
    }
}

/// Creates an active user of `tenant` from `account` (fields checked first, then the
/// address's limit, then the argon2id hash and the insert; a taken username is a
/// refusal, found by the unique index, so two concurrent sign-ups for one name make
/// one user).
pub async fn create_account(
    state: &AppState,
    tenant: &Tenant,
    account: NewAccount<'_>,
) -> Result<user::Model, SignUpError> {
    let refuse = |refusal| Err(SignUpError::Refused(refusal));
    let settings = &tenant.settings;
    if !settings.allow_sign_up {
        return refuse(Refusal::Closed);
    }
    let username = syntax::normalize_username(account.username);
    if syntax::check_username(&username).is_err() {
        return refuse(Refusal::InvalidUsername);
    }
    if account
        .email
        .is_some_and(|email| syntax::check_email(email).is_err())
    {
        return refuse(Refusal::InvalidEmail);
    }
    let password_chars = account.password.chars().count();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&password_chars) {
        return refuse(Refusal::InvalidPassword);
    }
    let key = FailureKey::SignUp {
        tenant_id: tenant.id,
        address: account.address,
    };
    let limit = Limit::new(
        settings.max_sign_ups_per_address,
        settings.failure_window_secs,
    );
    if state.failures.count_creation(key, limit).await.is_err() {
        return refuse(Refusal::TooMany);
    }
    // A taken name is refused before the hash is spent on it; the unique index
    // still decides a race.
    if users::find_by_username(
        state.data(tenant),
        &username,
        settings.usernames_ignore_case,
    )
    .await?
    .is_some()
    {
        return refuse(Refusal::UsernameTaken);
    }
    let password = account.password;
    let hash = state
        .slow_hashes
        .run(move || secrets::hash_password(&password))
        .await??;
    let mut claims = serde_json::Map::new();
    if account.email.is_some() {
        claims.insert("email_verified".to_owned(), serde_json::Value::Bool(false));
    }
    Ok(users::create(
        state.data(tenant),
        &username,
        settings.usernames_ignore_case,
        account.email,
        hash,
        &claims,
    )
    .await?)
}

#[cfg(test)]
mod tests {
    use super::Refusal;

    #[test]
    fn every_refusal_round_trips_through_its_code() {
        for refusal in Refusal::ALL {
            assert_eq!(Refusal::from_code(refusal.code()), Some(refusal));
        }
        assert_eq!(Refusal::from_code("<script>"), None);
        let codes: std::collections::BTreeSet<_> = Refusal::ALL.iter().map(|r| r.code()).collect();
        assert_eq!(codes.len(), Refusal::ALL.len(), "codes are distinct");
    }
}
