//! Browser sessions (users group). The cookie carries a 256-bit secret; the row holds
//! its checksum, looked up by `(tenant_id, session_checksum)`, so a session of one
//! tenant never opens another.

use entity::{session, user};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, JoinType, QueryFilter,
    QuerySelect, RelationDef,
};

use router_policies::EntityGroup;

use crate::error::Error;
use crate::store::access::TenantData;
use crate::store::same_tenant_by_key;
use crate::time::now;

/// A session to store.
#[derive(Clone, Debug)]
pub struct NewSession {
    /// Checksum of the cookie's secret.
    pub session_checksum: String,
    /// The signed-in user.
    pub user_id: i64,
    /// Who accepted the login (empty: Tessera's pages).
    pub authority: String,
    /// When the user proved who they are (the ID tokens' `auth_time` says the same).
    pub authenticated_at: entity::Timestamp,
    /// Expiry.
    pub expires_at: entity::Timestamp,
}

/// Stores a new session.
pub async fn create(data: TenantData<'_>, new: NewSession) -> Result<session::Model, Error> {
    let writer = data.writer(EntityGroup::Users).await?;
    let tenant_id = data.tenant_id();
    let created = now();
    let NewSession {
        session_checksum,
        user_id,
        authority,
        authenticated_at,
        expires_at,
    } = new;
    Ok(session::ActiveModel {
        tenant_id: Set(tenant_id),
        session_checksum: Set(session_checksum),
        user_id: Set(user_id),
        authority: Set(authority),
        authenticated_at: Set(authenticated_at),
        expires_at: Set(expires_at),
        created_at: Set(created),
        ..Default::default()
    }
    .insert(writer.connection)
    .await?)
}

/// The active user of the live session with `session_checksum`, with the session
/// (when they authenticated, and who accepted it), in one query (users joined to their
/// session), on the primary: a logout or a deactivated user counts at once.
pub async fn find_live_user(
    data: TenantData<'_>,
    session_checksum: &str,
) -> Result<Option<(user::Model, session::Model)>, Error> {
    let db = data.primary(EntityGroup::Users)?;
    let tenant_id = data.tenant_id();
    let session_of_user = session::Entity::belongs_to(user::Entity)
        .from(session::Column::UserId)
        .to(user::Column::Id)
        .into();
    let found = user::Entity::find()
        .join(JoinType::InnerJoin, RelationDef::rev(session_of_user))
        .select_also(session::Entity)
        .filter(same_tenant_by_key(user::Column::TenantId, tenant_id))
        .filter(user::Column::IsActive.eq(true))
        .filter(session::Column::SessionChecksum.eq(session_checksum))
        .filter(same_tenant_by_key(session::Column::TenantId, tenant_id))
        .filter(session::Column::ExpiresAt.gt(now()))
        .one(db)
        .await?;
    Ok(found.and_then(|(user, session)| session.map(|session| (user, session))))
}

/// Ends the session (logout).
pub async fn delete(data: TenantData<'_>, session_checksum: &str) -> Result<(), Error> {
    let writer = data.writer(EntityGroup::Users).await?;
    session::Entity::delete_many()
        .filter(session::Column::SessionChecksum.eq(session_checksum))
        .filter(same_tenant_by_key(
            session::Column::TenantId,
            data.tenant_id(),
        ))
        .exec(writer.connection)
        .await?;
    Ok(())
}
