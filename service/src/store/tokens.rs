//! The token store: every write of a token flow runs in **one transaction on the
//! tenant's token pool** (DESIGN.md §2 invariant), so an access token and its refresh
//! token commit or roll back together.
//!
//! Only SHA-256 checksums of tokens are stored; lookups go by `(tenant_id, checksum)`.

use entity::{access_token, refresh_token};
use router_policies::{EntityGroup, Role};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    TransactionTrait,
};

use crate::db::Databases;
use crate::error::Error;
use crate::tenancy::Tenant;
use crate::time::now;

/// An access token to store (its checksum, never the token).
#[derive(Clone, Debug)]
pub struct NewAccessToken {
    /// SHA-256 hex of the token.
    pub token_checksum: String,
    /// Client it is issued to.
    pub application_id: i64,
    /// Resource owner, if any.
    pub user_id: Option<i64>,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// Expiry.
    pub expires_at: entity::Timestamp,
    /// Refresh token it was minted from.
    pub source_refresh_token_id: Option<i64>,
    /// Authorization code it was minted from.
    pub authorization_code_id: Option<i64>,
}

/// A refresh token to store alongside an access token.
#[derive(Clone, Debug)]
pub struct NewRefreshToken {
    /// SHA-256 hex of the token.
    pub token_checksum: String,
    /// Rotation family (new UUID for a fresh grant, inherited on rotation).
    pub family_id: String,
}

/// What [`issue`] stored.
#[derive(Clone, Debug)]
pub struct IssuedTokens {
    /// The access token row.
    pub access: access_token::Model,
    /// The refresh token row, when one was requested.
    pub refresh: Option<refresh_token::Model>,
}

/// Stores an access token and, optionally, its refresh token in one transaction on
/// the tenant's token pool. Either both rows exist afterwards or neither does.
pub async fn issue(
    databases: &Databases,
    tenant: &Tenant,
    access: NewAccessToken,
    refresh: Option<NewRefreshToken>,
) -> Result<IssuedTokens, Error> {
    let pool = tenant
        .routes
        .connection(databases, EntityGroup::Tokens, Role::Write)?;
    let transaction = pool.begin().await?;
    let issued = insert_pair(&transaction, tenant.id, access, refresh).await;
    match issued {
        Ok(issued) => {
            transaction.commit().await?;
            Ok(issued)
        }
        Err(error) => {
            // Dropping the transaction rolls back too; rolling back explicitly returns
            // the connection to the pool at once.
            if let Err(rollback) = transaction.rollback().await {
                tracing::warn!(error = %rollback, "rollback failed");
            }
            Err(error)
        }
    }
}

/// Inserts the pair on `db` (a transaction in [`issue`]).
pub async fn insert_pair(
    db: &impl ConnectionTrait,
    tenant_id: i64,
    access: NewAccessToken,
    refresh: Option<NewRefreshToken>,
) -> Result<IssuedTokens, Error> {
    let created = now();
    let access = access_token::ActiveModel {
        tenant_id: Set(tenant_id),
        token_checksum: Set(access.token_checksum),
        application_id: Set(access.application_id),
        user_id: Set(access.user_id),
        scope: Set(access.scope),
        source_refresh_token_id: Set(access.source_refresh_token_id),
        id_token_id: Set(None),
        authorization_code_id: Set(access.authorization_code_id),
        expires_at: Set(access.expires_at),
        revoked_at: Set(None),
        created_at: Set(created),
        ..Default::default()
    }
    .insert(db)
    .await?;
    let refresh = match refresh {
        Some(refresh) => Some(
            refresh_token::ActiveModel {
                tenant_id: Set(tenant_id),
                token_checksum: Set(refresh.token_checksum),
                access_token_id: Set(Some(access.id)),
                application_id: Set(access.application_id),
                user_id: Set(access.user_id),
                family_id: Set(refresh.family_id),
                scope: Set(access.scope.clone()),
                revoked_at: Set(None),
                created_at: Set(created),
                last_used_at: Set(None),
                ..Default::default()
            }
            .insert(db)
            .await?,
        ),
        None => None,
    };
    Ok(IssuedTokens { access, refresh })
}

/// The access token with `checksum` in the tenant, read from the token pool's primary.
pub async fn find_access_token(
    db: &impl ConnectionTrait,
    tenant_id: i64,
    checksum: &str,
) -> Result<Option<access_token::Model>, Error> {
    Ok(access_token::Entity::find()
        .filter(access_token::Column::TenantId.eq(tenant_id))
        .filter(access_token::Column::TokenChecksum.eq(checksum))
        .one(db)
        .await?)
}

/// The refresh token with `checksum` in the tenant.
pub async fn find_refresh_token(
    db: &impl ConnectionTrait,
    tenant_id: i64,
    checksum: &str,
) -> Result<Option<refresh_token::Model>, Error> {
    Ok(refresh_token::Entity::find()
        .filter(refresh_token::Column::TenantId.eq(tenant_id))
        .filter(refresh_token::Column::TokenChecksum.eq(checksum))
        .one(db)
        .await?)
}
