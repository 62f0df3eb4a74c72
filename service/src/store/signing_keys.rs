//! Tenants' signing keys (tenants group, on the directory pool, which these functions
//! pick). Private keys are stored sealed; this module only moves rows,
//! `jose::keyring` seals and opens them.

use entity::signing_key;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait,
    QueryFilter, QueryOrder,
};

use sea_orm::TransactionTrait;

use crate::db::Databases;
use crate::error::Error;
use crate::shared::changes::Change;
use crate::time::now;

/// A key to store.
#[derive(Clone, Debug)]
pub struct NewSigningKey {
    /// RFC 7638 thumbprint.
    pub kid: String,
    /// JWA name.
    pub algorithm: String,
    /// The sealed PKCS#8 private key.
    pub sealed_private_key: String,
    /// Public JWK (JSON).
    pub public_jwk: String,
    /// When it starts to sign.
    pub signs_from: entity::Timestamp,
    /// The tenant's first key of its algorithm (then a second one is a conflict).
    pub initial: bool,
}

/// Stores a key on the directory pool. A first key of an algorithm the tenant has
/// one of already (another node created it a moment ago) is [`Error::Conflict`].
pub async fn insert(
    databases: &Databases,
    tenant_id: i64,
    key: NewSigningKey,
) -> Result<signing_key::Model, Error> {
    let stored = insert_in(databases.directory()?, tenant_id, key).await?;
    databases
        .changes()
        .announce(Change::SigningKeys { tenant_id })
        .await;
    Ok(stored)
}

async fn insert_in(
    db: &impl ConnectionTrait,
    tenant_id: i64,
    key: NewSigningKey,
) -> Result<signing_key::Model, Error> {
    signing_key::ActiveModel {
        tenant_id: Set(tenant_id),
        kid: Set(key.kid),
        initial_for: Set(key.initial.then(|| key.algorithm.clone())),
        algorithm: Set(key.algorithm),
        sealed_private_key: Set(key.sealed_private_key),
        public_jwk: Set(key.public_jwk),
        created_at: Set(now()),
        signs_from: Set(Some(key.signs_from)),
        retired_at: Set(None),
        published_until: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(|error| {
        if crate::store::is_unique_violation(&error) {
            Error::Conflict("the tenant has its first key of this algorithm already".to_owned())
        } else {
            Error::Database(error)
        }
    })
}

/// The tenant's keys still published at `at` (not past `published_until`), oldest
/// first. A tenant has a handful: one per algorithm plus those being rotated out.
pub async fn published(
    databases: &Databases,
    tenant_id: i64,
    at: entity::Timestamp,
) -> Result<Vec<signing_key::Model>, Error> {
    let db = databases.directory()?;
    Ok(signing_key::Entity::find()
        .filter(signing_key::Column::TenantId.eq(tenant_id))
        .filter(published_at(at))
        .order_by_asc(signing_key::Column::Id)
        .all(db)
        .await?)
}

/// The keys of every tenant still published at `at`, by id, `limit` after
/// `after_id`: the start reads the directory's keys a page at a time, so a directory
/// of 10,000 tenants is a few dozen reads, not one per tenant.
pub async fn published_page(
    databases: &Databases,
    after_id: i64,
    at: entity::Timestamp,
    limit: u64,
) -> Result<Vec<signing_key::Model>, Error> {
    use sea_orm::QuerySelect;
    let db = databases.directory()?;
    Ok(signing_key::Entity::find()
        .filter(signing_key::Column::Id.gt(after_id))
        .filter(published_at(at))
        .order_by_asc(signing_key::Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}

/// Keys in the JWKS at `at`: not past `published_until`.
fn published_at(at: entity::Timestamp) -> Condition {
    Condition::any()
        .add(signing_key::Column::PublishedUntil.is_null())
        .add(signing_key::Column::PublishedUntil.gt(at))
}

/// Every key of the tenant, expired ones included (for `tessera keys list`).
pub async fn all(databases: &Databases, tenant_id: i64) -> Result<Vec<signing_key::Model>, Error> {
    let db = databases.directory()?;
    Ok(signing_key::Entity::find()
        .filter(signing_key::Column::TenantId.eq(tenant_id))
        .order_by_asc(signing_key::Column::Id)
        .all(db)
        .await?)
}

/// Rotates the tenant's keys: in one transaction on the directory pool, for each new
/// key the current keys of its algorithm retire at `retired_at` (they sign until
/// then) and stay published until `published_until`, and the new key is stored;
/// then every node is told.
pub async fn rotate(
    databases: &Databases,
    tenant_id: i64,
    keys: Vec<NewSigningKey>,
    retired_at: entity::Timestamp,
    published_until: entity::Timestamp,
) -> Result<(), Error> {
    let transaction = databases.directory()?.begin().await?;
    for key in keys {
        retire(
            &transaction,
            tenant_id,
            &key.algorithm,
            retired_at,
            published_until,
        )
        .await?;
        insert_in(&transaction, tenant_id, key).await?;
    }
    transaction.commit().await?;
    databases
        .changes()
        .announce(Change::SigningKeys { tenant_id })
        .await;
    Ok(())
}

/// Marks the tenant's keys of `algorithm` that would sign after `retired_at` (not
/// retired, or retiring later: a key published ahead by an earlier rotation) as
/// retiring at `retired_at` (they sign until then) and published until
/// `published_until`.
async fn retire(
    db: &impl ConnectionTrait,
    tenant_id: i64,
    algorithm: &str,
    retired_at: entity::Timestamp,
    published_until: entity::Timestamp,
) -> Result<u64, Error> {
    Ok(signing_key::Entity::update_many()
        .set(signing_key::ActiveModel {
            retired_at: Set(Some(retired_at)),
            published_until: Set(Some(published_until)),
            ..Default::default()
        })
        .filter(signing_key::Column::TenantId.eq(tenant_id))
        .filter(signing_key::Column::Algorithm.eq(algorithm))
        .filter(
            Condition::any()
                .add(signing_key::Column::RetiredAt.is_null())
                .add(signing_key::Column::RetiredAt.gt(retired_at)),
        )
        .exec(db)
        .await?
        .rows_affected)
}
