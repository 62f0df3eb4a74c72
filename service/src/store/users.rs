//! Users of a tenant.

use entity::user;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder,
};
use serde::Serialize;

use crate::error::Error;
use crate::store::is_unique_violation;
use crate::time::now;

/// A user as shown by the CLI (never the password hash).
#[derive(Clone, Debug, Serialize)]
pub struct UserSummary {
    /// Row id.
    pub id: i64,
    /// The OIDC subject (`sub`).
    pub subject: String,
    /// Login name.
    pub username: String,
    /// E-mail, if any.
    pub email: Option<String>,
}

impl From<&user::Model> for UserSummary {
    fn from(model: &user::Model) -> Self {
        Self {
            id: model.id,
            subject: model.subject.clone(),
            username: model.username.clone(),
            email: model.email.clone(),
        }
    }
}

/// A new subject: 128 random bits as 32 lowercase hex digits, opaque and never
/// reassigned (OIDC Core §2 `sub`: "locally unique and never reassigned").
pub fn new_subject() -> Result<String, Error> {
    Ok(crate::secrets::random_bytes(16)?
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect())
}

/// Creates a user whose password is already hashed (argon2id), with standard claims
/// (`claims`, a JSON object, OIDC Core §5.1). A username taken in this tenant is
/// [`Error::Conflict`].
pub async fn create(
    db: &impl ConnectionTrait,
    tenant_id: i64,
    username: &str,
    email: Option<&str>,
    password_hash: String,
    claims: &serde_json::Map<String, serde_json::Value>,
) -> Result<user::Model, Error> {
    let taken = || Error::Conflict(format!("username {username:?} is taken in this tenant"));
    let created = now();
    user::ActiveModel {
        tenant_id: Set(tenant_id),
        subject: Set(new_subject()?),
        username: Set(username.to_owned()),
        claims: Set(serde_json::Value::Object(claims.clone()).to_string()),
        email: Set(email.map(str::to_owned)),
        password_hash: Set(password_hash),
        is_active: Set(true),
        created_at: Set(created),
        updated_at: Set(created),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(|error| {
        if is_unique_violation(&error) {
            taken()
        } else {
            Error::Database(error)
        }
    })
}

/// The user named `username` in the tenant.
pub async fn find_by_username(
    db: &impl ConnectionTrait,
    tenant_id: i64,
    username: &str,
) -> Result<Option<user::Model>, Error> {
    Ok(user::Entity::find()
        .filter(user::Column::TenantId.eq(tenant_id))
        .filter(user::Column::Username.eq(username))
        .one(db)
        .await?)
}

/// The user whose subject (`sub`) is `subject` in the tenant.
pub async fn find_by_subject(
    db: &impl ConnectionTrait,
    tenant_id: i64,
    subject: &str,
) -> Result<Option<user::Model>, Error> {
    Ok(user::Entity::find()
        .filter(user::Column::TenantId.eq(tenant_id))
        .filter(user::Column::Subject.eq(subject))
        .one(db)
        .await?)
}

/// Every user of the tenant, by username.
pub async fn list(db: &impl ConnectionTrait, tenant_id: i64) -> Result<Vec<user::Model>, Error> {
    Ok(user::Entity::find()
        .filter(user::Column::TenantId.eq(tenant_id))
        .order_by_asc(user::Column::Username)
        .all(db)
        .await?)
}

/// Whether the user exists in the tenant and is active (refresh and introspection
/// refuse tokens of deactivated users).
pub async fn is_active(
    db: &impl ConnectionTrait,
    tenant_id: i64,
    user_id: i64,
) -> Result<bool, Error> {
    Ok(find_by_id(db, tenant_id, user_id)
        .await?
        .is_some_and(|user| user.is_active))
}

/// The user with `user_id` in the tenant.
pub async fn find_by_id(
    db: &impl ConnectionTrait,
    tenant_id: i64,
    user_id: i64,
) -> Result<Option<user::Model>, Error> {
    Ok(user::Entity::find_by_id(user_id)
        .filter(user::Column::TenantId.eq(tenant_id))
        .one(db)
        .await?)
}
