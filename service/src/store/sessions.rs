//! Browser sessions (users group). The cookie carries a 256-bit secret; the row holds
//! its checksum, looked up by `(tenant_id, session_checksum)`, so a session of one
//! tenant never opens another.

use entity::session;
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

/// The live session with `session_checksum` in the tenant (read on the primary: a
/// logout must count at once).
pub async fn find_live(
    db: &impl ConnectionTrait,
    tenant_id: i64,
    session_checksum: &str,
) -> Result<Option<session::Model>, Error> {
    Ok(session::Entity::find()
        .filter(session::Column::TenantId.eq(tenant_id))
        .filter(session::Column::SessionChecksum.eq(session_checksum))
        .filter(session::Column::ExpiresAt.gt(now()))
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
