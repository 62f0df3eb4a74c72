//! A user's life: create, find, change (e-mail, claims), disable and enable, set a
//! password, delete.
//!
//! Disabling a user ends their sessions in the users pool's transaction that marks
//! them inactive, then revokes every token they hold in one transaction on the token
//! pool. The two groups may live on two databases, so these are two transactions, in
//! this order: if the second fails, the user is already inactive, and an inactive
//! user's tokens are refused wherever they are checked (introspection, refresh, code
//! redemption, userinfo); the command can simply be run again.

use entity::user;
use serde::Serialize;

use crate::db::Databases;
use crate::error::Error;
use crate::oauth::sign_up::{MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS};
use crate::store::access::TenantData;
use crate::store::users::{self, AccountChanges};
use crate::store::{applications, authorized_tokens};
use crate::syntax;
use crate::tenancy::Tenant;

use super::{Actor, audit};

/// A user as operators see it: never the row id or the password hash.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct UserView {
    /// The OIDC subject (`sub`): how the admin API names a user.
    pub subject: String,
    /// Login name.
    pub username: String,
    /// E-mail, if any.
    pub email: Option<String>,
    /// Whether the user may sign in and use tokens.
    pub active: bool,
    /// Standard claims (OIDC Core §5.1).
    #[schema(value_type = Object)]
    pub claims: serde_json::Map<String, serde_json::Value>,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

impl From<&user::Model> for UserView {
    fn from(model: &user::Model) -> Self {
        Self {
            subject: model.subject.clone(),
            username: model.username.clone(),
            email: model.email.clone(),
            active: model.is_active,
            claims: serde_json::from_str(&model.claims).unwrap_or_default(),
            created_at: crate::time::rfc3339(model.created_at),
            updated_at: crate::time::rfc3339(model.updated_at),
        }
    }
}

/// The rule every new password meets, whoever sets it (sign-up, operators).
pub fn check_password(password: &str) -> Result<(), Error> {
    let chars = password.chars().count();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&chars) {
        return Err(Error::InvalidInput(format!(
            "the password is {chars} characters long: use {MIN_PASSWORD_CHARS} to \
             {MAX_PASSWORD_CHARS}"
        )));
    }
    Ok(())
}

/// A new user's fields, checked by [`create`].
#[derive(Clone, Debug)]
pub struct NewUser {
    /// Login name (stored in Unicode NFKC).
    pub username: String,
    /// E-mail address.
    pub email: Option<String>,
    /// The argon2id hash of the password ([`check_password`] it first).
    pub password_hash: String,
    /// Standard claims.
    pub claims: serde_json::Map<String, serde_json::Value>,
}

/// Checks a username and e-mail as sign-up does; the error names the field.
pub fn check_identity(username: &str, email: Option<&str>) -> Result<String, Error> {
    let username = syntax::normalize_username(username);
    syntax::check_username(&username)
        .map_err(|error| Error::InvalidInput(format!("username: {error}")))?;
    if let Some(email) = email {
        syntax::check_email(email)
            .map_err(|error| Error::InvalidInput(format!("email: {error}")))?;
    }
    Ok(username)
}

/// Creates an active user (a taken username is [`Error::Conflict`]).
pub async fn create(
    databases: &Databases,
    tenant: &Tenant,
    new: NewUser,
    actor: &Actor,
) -> Result<user::Model, Error> {
    let username = check_identity(&new.username, new.email.as_deref())?;
    let created = users::create(
        TenantData::new(databases, tenant),
        &username,
        tenant.settings.usernames_ignore_case,
        new.email.as_deref(),
        new.password_hash,
        &new.claims,
    )
    .await?;
    audit(actor, tenant.slug.as_str(), "user.create", &created.subject);
    Ok(created)
}

/// The user named by `reference`: a subject, or else a username (as sign-in
/// compares it). [`Error::NotFound`] says how to list them.
pub async fn find(
    databases: &Databases,
    tenant: &Tenant,
    reference: &str,
) -> Result<user::Model, Error> {
    let data = TenantData::new(databases, tenant);
    if let Some(found) = users::find_by_subject(data, reference).await? {
        return Ok(found);
    }
    users::find_by_username(data, reference, tenant.settings.usernames_ignore_case)
        .await?
        .ok_or_else(|| {
            Error::NotFound(format!(
                "no user {reference:?} in tenant {}: `tessera user list --tenant {}` lists them",
                tenant.slug, tenant.slug
            ))
        })
}

/// Changes a user's account. Deactivation and a new password end the user's
/// sessions in the same transaction; deactivation then revokes every token the user
/// holds (module documentation).
pub async fn change(
    databases: &Databases,
    tenant: &Tenant,
    user: &user::Model,
    changes: &AccountChanges,
    actor: &Actor,
) -> Result<user::Model, Error> {
    if let Some(Some(email)) = &changes.email {
        syntax::check_email(email)
            .map_err(|error| Error::InvalidInput(format!("email: {error}")))?;
    }
    let data = TenantData::new(databases, tenant);
    let Some(changed) = users::change_account(data, user.id, changes).await? else {
        return Err(
            if changes.expected_version.is_some()
                && users::find_by_id(data, user.id).await?.is_some()
            {
                Error::StaleVersion(format!(
                    "user {:?} changed since it was read: read it again and retry",
                    user.username
                ))
            } else {
                gone(tenant, user)
            },
        );
    };
    if changes.active == Some(false) {
        authorized_tokens::revoke_user(data, user.id, false).await?;
    }
    let action = match (changes.active, changes.password_hash.is_some()) {
        (Some(false), _) => "user.disable",
        (Some(true), _) => "user.enable",
        (None, true) => "user.set_password",
        (None, false) => "user.update",
    };
    audit(actor, tenant.slug.as_str(), action, &user.subject);
    Ok(changed)
}

/// Deletes a user: marks them inactive (so nothing they hold works from here on),
/// revokes their tokens and forgets their consents (token pool), removes them from
/// the applications they own (which keep working), then deletes the user and their
/// sessions (users pool). Run again after a failure, it finishes the job.
pub async fn delete(
    databases: &Databases,
    tenant: &Tenant,
    user: &user::Model,
    actor: &Actor,
) -> Result<(), Error> {
    let data = TenantData::new(databases, tenant);
    users::change_account(
        data,
        user.id,
        &AccountChanges {
            active: Some(false),
            ..AccountChanges::default()
        },
    )
    .await?
    .ok_or_else(|| gone(tenant, user))?;
    authorized_tokens::revoke_user(data, user.id, true).await?;
    applications::disown(data, user.id).await?;
    users::delete(data, user.id).await?;
    audit(actor, tenant.slug.as_str(), "user.delete", &user.subject);
    Ok(())
}

fn gone(tenant: &Tenant, user: &user::Model) -> Error {
    Error::NotFound(format!(
        "user {:?} of tenant {} was deleted meanwhile",
        user.username, tenant.slug
    ))
}
