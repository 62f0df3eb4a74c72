//! Stored interactions (tokens group): an authorization request between its
//! validation and its answer. Finishing one deletes the row in the transaction that
//! stores what it produced, so it answers at most once.

use entity::interaction;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait,
    QueryFilter,
};

use router_policies::EntityGroup;

use crate::error::Error;
use crate::store::access::{TenantData, Writer};
use crate::store::same_tenant_by_key;
use crate::time::now;

/// An interaction to store.
#[derive(Clone, Debug)]
pub struct NewInteraction {
    /// Public random id.
    pub interaction_key: String,
    /// Checksum of the browser-binding secret.
    pub secret_checksum: String,
    /// The client asking, if any.
    pub application_id: Option<i64>,
    /// The validated request, JSON.
    pub parameters: String,
    /// The subject, when a live session already names them.
    pub user_id: Option<i64>,
    /// The requesting address (IPv4, or IPv6 /64 prefix), counted for its cap.
    pub source_address: String,
    /// Expiry.
    pub expires_at: entity::Timestamp,
}

/// Stores an interaction with `writer` (the token pool, its turn held since the
/// caller counted what it may store).
pub async fn create(writer: &Writer<'_>, new: NewInteraction) -> Result<(), Error> {
    interaction::Entity::insert(interaction::ActiveModel {
        tenant_id: Set(writer.tenant_id),
        interaction_key: Set(new.interaction_key),
        secret_checksum: Set(new.secret_checksum),
        application_id: Set(new.application_id),
        parameters: Set(new.parameters),
        user_id: Set(new.user_id),
        source_address: Set(new.source_address),
        expires_at: Set(new.expires_at),
        created_at: Set(now()),
        ..Default::default()
    })
    .exec_without_returning(writer.connection)
    .await?;
    Ok(())
}

/// The unexpired interaction `interaction_key` of the tenant, from the primary: what
/// it says decides who signs in (and it was written a moment ago).
pub async fn find_live(
    data: TenantData<'_>,
    interaction_key: &str,
) -> Result<Option<interaction::Model>, Error> {
    Ok(interaction::Entity::find()
        .filter(interaction::Column::InteractionKey.eq(interaction_key))
        .filter(same_tenant_by_key(
            interaction::Column::TenantId,
            data.tenant_id(),
        ))
        .filter(interaction::Column::ExpiresAt.gt(now()))
        .one(data.primary(EntityGroup::Tokens)?)
        .await?)
}

/// Records the subject a login named, with the parameters updated by the login
/// (its authentication time).
pub async fn set_user(
    data: TenantData<'_>,
    id: i64,
    user_id: i64,
    parameters: String,
) -> Result<(), Error> {
    let writer = data.writer(EntityGroup::Tokens).await?;
    interaction::ActiveModel {
        id: sea_orm::ActiveValue::Unchanged(id),
        tenant_id: sea_orm::ActiveValue::Unchanged(data.tenant_id()),
        user_id: Set(Some(user_id)),
        parameters: Set(parameters),
        ..Default::default()
    }
    .update(writer.connection)
    .await?;
    Ok(())
}

/// Replaces the parameters of interaction `id` (and names its user, when given).
pub async fn set_parameters(
    data: TenantData<'_>,
    id: i64,
    user_id: Option<i64>,
    parameters: String,
) -> Result<(), Error> {
    let writer = data.writer(EntityGroup::Tokens).await?;
    interaction::ActiveModel {
        id: sea_orm::ActiveValue::Unchanged(id),
        tenant_id: sea_orm::ActiveValue::Unchanged(data.tenant_id()),
        user_id: match user_id {
            Some(user_id) => Set(Some(user_id)),
            None => sea_orm::ActiveValue::NotSet,
        },
        parameters: Set(parameters),
        ..Default::default()
    }
    .update(writer.connection)
    .await?;
    Ok(())
}

/// Deletes the interaction; `true` if this call deleted it (it was still there), so
/// of two concurrent finishes exactly one goes on.
pub async fn take(data: TenantData<'_>, id: i64) -> Result<bool, Error> {
    let writer = data.writer(EntityGroup::Tokens).await?;
    take_in(writer.connection, data.tenant_id(), id).await
}

/// [`take`] inside a transaction (one that stores what the interaction produced).
pub(crate) async fn take_in(
    db: &impl ConnectionTrait,
    tenant_id: i64,
    id: i64,
) -> Result<bool, Error> {
    let deleted = interaction::Entity::delete_many()
        .filter(same_tenant_by_key(interaction::Column::TenantId, tenant_id))
        .filter(interaction::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(deleted.rows_affected == 1)
}

/// How many unexpired interactions of the tenant `source_address` holds (when given),
/// or the tenant holds in all, counting at most `limit` — with `writer`, so the insert
/// it admits follows under the same turn.
pub async fn count_live(
    writer: &Writer<'_>,
    source_address: Option<&str>,
    limit: u64,
) -> Result<u64, Error> {
    let mut condition = Condition::all()
        .add(interaction::Column::TenantId.eq(writer.tenant_id))
        .add(interaction::Column::ExpiresAt.gt(now()));
    if let Some(source) = source_address {
        condition = condition.add(interaction::Column::SourceAddress.eq(source));
    }
    super::bounded_count::<interaction::Entity>(writer.connection, condition, limit).await
}
