//! Access tokens (opaque), stored as checksums.

use sea_orm::entity::prelude::*;

/// An issued access token. Looked up by `(tenant_id, token_checksum)`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "access_tokens")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Owning tenant.
    pub tenant_id: i64,
    /// The token's key (`tessera::secrets::checksum`): its SHA-256 in lowercase hex, led by
    /// `t` and its issue second for a time-ordered token.
    pub token_checksum: String,
    /// Client the token was issued to (soft reference).
    pub application_id: i64,
    /// Resource owner, absent for client credentials (soft reference).
    pub user_id: Option<i64>,
    /// Space-separated granted scopes.
    #[sea_orm(column_type = "Text")]
    pub scope: String,
    /// The refresh token this one was minted from, if any.
    pub source_refresh_token_id: Option<i64>,
    /// The ID token issued alongside, if any.
    pub id_token_id: Option<i64>,
    /// The authorization code that minted it, so a replayed code can revoke it.
    pub authorization_code_id: Option<i64>,
    /// Expiry instant.
    pub expires_at: crate::Timestamp,
    /// Revocation instant; a revoked token is inactive.
    pub revoked_at: Option<crate::Timestamp>,
    /// Creation time.
    pub created_at: crate::Timestamp,
}

/// Soft references only.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
