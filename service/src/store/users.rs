//! Users of a tenant.

use entity::user;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use serde::Serialize;

use router_policies::EntityGroup;

use crate::error::Error;
use crate::store::access::TenantData;
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
/// (`claims`, a JSON object, OIDC Core §5.1). The username is stored in NFKC; one
/// taken in this tenant (the same NFKC form, or with `ignore_case` the same but for
/// letter case) is [`Error::Conflict`].
pub async fn create(
    data: TenantData<'_>,
    username: &str,
    ignore_case: bool,
    email: Option<&str>,
    password_hash: String,
    claims: &serde_json::Map<String, serde_json::Value>,
) -> Result<user::Model, Error> {
    let username = crate::syntax::normalize_username(username);
    let taken = || Error::Conflict(format!("username {username:?} is taken in this tenant"));
    // The unique (tenant, username) index holds exact duplicates; one that differs
    // only in case is looked for first where case does not count (two sign-ups racing
    // with two spellings can still both pass: a rare, visible duplicate, not a hijack).
    let writer = data.writer(EntityGroup::Users).await?;
    let db = writer.connection;
    let tenant_id = data.tenant_id();
    if ignore_case && !same_key(db, tenant_id, &username).await?.is_empty() {
        return Err(taken());
    }
    let created = now();
    user::ActiveModel {
        tenant_id: Set(tenant_id),
        subject: Set(new_subject()?),
        username_key: Set(migration::usernames::username_key(&username)),
        username: Set(username.clone()),
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

/// Users whose lookup key is `username`'s (its NFKC form in lower case): the
/// spellings of one name. A handful at most (ten read).
async fn same_key(
    db: &impl ConnectionTrait,
    tenant_id: i64,
    username: &str,
) -> Result<Vec<user::Model>, Error> {
    Ok(user::Entity::find()
        .filter(user::Column::TenantId.eq(tenant_id))
        .filter(user::Column::UsernameKey.eq(migration::usernames::username_key(username)))
        .order_by_asc(user::Column::Id)
        .limit(10)
        .all(db)
        .await?)
}

/// The user named `username` in the tenant, compared in Unicode NFKC: exactly, or
/// with `ignore_case` whatever the letter case (then the exact spelling wins where
/// users from before that setting differ only in case, and several other spellings
/// name nobody).
pub async fn find_by_username(
    data: TenantData<'_>,
    username: &str,
    ignore_case: bool,
) -> Result<Option<user::Model>, Error> {
    // The primary: a password is checked against what it finds.
    let db = data.primary(EntityGroup::Users)?;
    let typed = crate::syntax::normalize_username(username);
    let mut spellings = same_key(db, data.tenant_id(), &typed).await?;
    if let Some(exact) = spellings
        .iter()
        .position(|user| crate::syntax::normalize_username(&user.username) == typed)
    {
        return Ok(Some(spellings.swap_remove(exact)));
    }
    Ok(if ignore_case && spellings.len() == 1 {
        spellings.pop()
    } else {
        None
    })
}

/// The user whose subject (`sub`) is `subject` in the tenant, from the primary (a
/// login application signs them in by it).
pub async fn find_by_subject(
    data: TenantData<'_>,
    subject: &str,
) -> Result<Option<user::Model>, Error> {
    Ok(user::Entity::find()
        .filter(user::Column::TenantId.eq(data.tenant_id()))
        .filter(user::Column::Subject.eq(subject))
        .one(data.primary(EntityGroup::Users)?)
        .await?)
}

/// Every user of the tenant, by username (a listing: a replica may answer).
pub async fn list(data: TenantData<'_>) -> Result<Vec<user::Model>, Error> {
    Ok(user::Entity::find()
        .filter(user::Column::TenantId.eq(data.tenant_id()))
        .order_by_asc(user::Column::Username)
        .all(data.replica(EntityGroup::Users)?)
        .await?)
}

/// The user with `user_id` in the tenant, from the primary: callers decide whether
/// the user may sign in or use a token by `is_active` (a deactivation counts at
/// once), or show what was just written.
pub async fn find_by_id(data: TenantData<'_>, user_id: i64) -> Result<Option<user::Model>, Error> {
    Ok(user::Entity::find_by_id(user_id)
        .filter(user::Column::TenantId.eq(data.tenant_id()))
        .one(data.primary(EntityGroup::Users)?)
        .await?)
}
