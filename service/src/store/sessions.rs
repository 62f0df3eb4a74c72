//! Browser sessions (users group). The cookie carries a 256-bit secret; the row holds
//! its checksum, looked up by `(tenant_id, session_checksum)`, so a session of one
//! tenant never opens another.

use entity::{session, user};
use sea_orm::sea_query::Query;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
};

use crate::error::Error;
use crate::time::now;

/// Stores a new session of `user_id` lasting until `expires_at`.
pub async fn create(
    db: &impl ConnectionTrait,
    tenant_id: i64,
    session_checksum: String,
    user_id: i64,
    expires_at: entity::Timestamp,
) -> Result<session::Model, Error> {
    let created = now();
    Ok(session::ActiveModel {
        tenant_id: Set(tenant_id),
        session_checksum: Set(session_checksum),
        user_id: Set(user_id),
        authenticated_at: Set(created),
        expires_at: Set(expires_at),
        created_at: Set(created),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

/// The active user of the live session with `session_checksum`, in one query (the
/// session as a subquery of the user lookup), on the primary.
pub async fn find_live_user(
    db: &impl ConnectionTrait,
    tenant_id: i64,
    session_checksum: &str,
) -> Result<Option<user::Model>, Error> {
    let live_session = Query::select()
        .column(session::Column::UserId)
        .from(session::Entity)
        .and_where(session::Column::TenantId.eq(tenant_id))
        .and_where(session::Column::SessionChecksum.eq(session_checksum))
        .and_where(session::Column::ExpiresAt.gt(now()))
        .to_owned();
    Ok(user::Entity::find()
        .filter(user::Column::TenantId.eq(tenant_id))
        .filter(user::Column::IsActive.eq(true))
        .filter(user::Column::Id.in_subquery(live_session))
        .one(db)
        .await?)
}

/// Ends the session (logout).
pub async fn delete(
    db: &impl ConnectionTrait,
    tenant_id: i64,
    session_checksum: &str,
) -> Result<(), Error> {
    session::Entity::delete_many()
        .filter(session::Column::TenantId.eq(tenant_id))
        .filter(session::Column::SessionChecksum.eq(session_checksum))
        .exec(db)
        .await?;
    Ok(())
}
