//! Users of a tenant.

use entity::user;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, ExprTrait,
    JoinType, Order, QueryFilter, QueryOrder, QuerySelect, RelationDef, Select,
};

use router_policies::EntityGroup;

use crate::error::Error;
use crate::shared::revocations::Revoked;
use crate::store::access::TenantData;
use crate::store::{is_unique_violation, same_tenant_by_key};
use crate::time::now;

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
/// spellings of one name. A handful at most (ten read). Found through
/// `(username_key, tenant_id)` only: the tenant is compared as `tenant_id + 0` and the
/// order is `id + 0`, so neither a `(tenant_id, …)` index nor the primary key's order
/// can serve it, whatever plan a pooled connection settled while the table was small
/// (`m20261207_000014`).
async fn same_key(
    db: &impl ConnectionTrait,
    tenant_id: i64,
    username: &str,
) -> Result<Vec<user::Model>, Error> {
    Ok(user::Entity::find()
        .filter(user::Column::UsernameKey.eq(migration::usernames::username_key(username)))
        .filter(same_tenant_by_key(user::Column::TenantId, tenant_id))
        .order_by(Expr::col(user::Column::Id).add(0), Order::Asc)
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
        .filter(same_tenant_by_key(user::Column::TenantId, data.tenant_id()))
        .one(data.primary(EntityGroup::Users)?)
        .await?)
}

/// The row `select` finds on `group`'s primary and the user its `user_id` column
/// names (`user_of` reads it; `None` when the row names no user or that user is
/// gone), from the users' primary: one statement, the user joined to the row, where
/// the router placed the tenant's `group` and users on one pool; else two.
pub(in crate::store) async fn one_with_user<E: EntityTrait>(
    data: TenantData<'_>,
    group: EntityGroup,
    select: Select<E>,
    user_id: E::Column,
    user_of: impl Fn(&E::Model) -> Option<i64>,
) -> Result<Option<(E::Model, Option<user::Model>)>, Error> {
    let Some(db) = data.shared_primary(group, EntityGroup::Users)? else {
        let Some(row) = select.one(data.primary(group)?).await? else {
            return Ok(None);
        };
        let user = match user_of(&row) {
            Some(user_id) => find_by_id(data, user_id).await?,
            None => None,
        };
        return Ok(Some((row, user)));
    };
    let row_of_user: RelationDef = E::belongs_to(user::Entity)
        .from(user_id)
        .to(user::Column::Id)
        .into();
    let found = select
        .join(JoinType::LeftJoin, row_of_user)
        .select_also(user::Entity)
        .one(db)
        .await?;
    // Row ids are unique in the database; the user must also be this tenant's.
    let tenant_id = data.tenant_id();
    Ok(found.map(|(row, user)| (row, user.filter(|user| user.tenant_id == tenant_id))))
}

/// What an operator changes of a user's account (`None` keeps a field).
#[derive(Clone, Debug, Default)]
pub struct AccountChanges {
    /// Allow (`true`) or stop (`false`) sign-ins and token use.
    pub active: Option<bool>,
    /// A new argon2id password hash.
    pub password_hash: Option<String>,
    /// A new e-mail address (`Some(None)` removes it).
    pub email: Option<Option<String>>,
    /// New standard claims (replacing the object).
    pub claims: Option<serde_json::Map<String, serde_json::Value>>,
    /// Only if the row's `updated_at` is still this (`If-Match`): compare and set.
    pub expected_version: Option<entity::Timestamp>,
}

/// Changes a user's account in one transaction on the users pool. Deactivating the
/// user or setting a password also ends every session the user holds (the same
/// transaction: no session outlives the change). Returns the row as written, or
/// `None` if the user is gone (or, with `expected_version`, changed since).
pub async fn change_account(
    data: TenantData<'_>,
    user_id: i64,
    changes: &AccountChanges,
) -> Result<Option<user::Model>, Error> {
    let tenant_id = data.tenant_id();
    let transaction = data.transaction(EntityGroup::Users).await?;
    let result = async {
        let mut update = user::ActiveModel {
            updated_at: Set(now()),
            ..Default::default()
        };
        if let Some(active) = changes.active {
            update.is_active = Set(active);
        }
        if let Some(hash) = &changes.password_hash {
            update.password_hash = Set(hash.clone());
        }
        if let Some(email) = &changes.email {
            update.email = Set(email.clone());
        }
        if let Some(claims) = &changes.claims {
            update.claims = Set(serde_json::Value::Object(claims.clone()).to_string());
        }
        let mut statement = user::Entity::update_many()
            .set(update)
            .filter(user::Column::Id.eq(user_id))
            .filter(same_tenant_by_key(user::Column::TenantId, tenant_id));
        if let Some(expected) = changes.expected_version {
            statement = statement.filter(user::Column::UpdatedAt.eq(expected));
        }
        let changed = statement.exec(&transaction.inner).await?;
        if changed.rows_affected == 0 {
            return Ok(None);
        }
        if changes.active == Some(false) || changes.password_hash.is_some() {
            end_sessions(&transaction.inner, tenant_id, user_id).await?;
        }
        Ok(user::Entity::find_by_id(user_id)
            .filter(same_tenant_by_key(user::Column::TenantId, tenant_id))
            .one(&transaction.inner)
            .await?)
    }
    .await;
    let changed = transaction.finish(result).await?;
    // Whether active, the e-mail and the claims are in introspection's and
    // UserInfo's answers (cached until this stamp changes).
    data.revoked(Revoked::User(user_id)).await;
    Ok(changed)
}

/// Deletes the user and every session they hold, in one transaction on the users
/// pool. Whether anything was deleted.
pub async fn delete(data: TenantData<'_>, user_id: i64) -> Result<bool, Error> {
    let tenant_id = data.tenant_id();
    let transaction = data.transaction(EntityGroup::Users).await?;
    let result = async {
        end_sessions(&transaction.inner, tenant_id, user_id).await?;
        let deleted = user::Entity::delete_many()
            .filter(user::Column::Id.eq(user_id))
            .filter(same_tenant_by_key(user::Column::TenantId, tenant_id))
            .exec(&transaction.inner)
            .await?;
        Ok(deleted.rows_affected == 1)
    }
    .await;
    let deleted = transaction.finish(result).await?;
    data.revoked(Revoked::User(user_id)).await;
    Ok(deleted)
}

/// Ends every session of the user (one statement on the `(user, tenant)` index; the
/// tenant compared as `tenant_id + 0`, so no other index can serve it).
async fn end_sessions(
    db: &impl ConnectionTrait,
    tenant_id: i64,
    user_id: i64,
) -> Result<(), Error> {
    entity::session::Entity::delete_many()
        .filter(entity::session::Column::UserId.eq(user_id))
        .filter(same_tenant_by_key(
            entity::session::Column::TenantId,
            tenant_id,
        ))
        .exec(db)
        .await?;
    Ok(())
}

/// One page of the tenant's users by username, after `after` (a username; keyset
/// pagination: the page costs the same wherever it starts), at most `limit`; with
/// `name`, only usernames starting with it (compared on the lookup key: NFKC, lower
/// case). From the primary (an operator edits what they list).
pub async fn list_page(
    data: TenantData<'_>,
    after: Option<&str>,
    limit: u64,
    name: Option<&str>,
) -> Result<Vec<user::Model>, Error> {
    let mut query = user::Entity::find().filter(user::Column::TenantId.eq(data.tenant_id()));
    if let Some(after) = after {
        query = query.filter(user::Column::Username.gt(after));
    }
    if let Some(name) = name.filter(|name| !name.is_empty()) {
        query = query.filter(
            user::Column::UsernameKey.starts_with(migration::usernames::username_key(name)),
        );
    }
    Ok(query
        .order_by_asc(user::Column::Username)
        .limit(limit)
        .all(data.primary(EntityGroup::Users)?)
        .await?)
}
