//! Issued ID tokens (OpenID Connect Core §2), kept for logout and revocation.

use sea_orm::entity::prelude::*;

/// An issued ID token, identified by its `jti`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "id_tokens")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Owning tenant.
    pub tenant_id: i64,
    /// JWT ID (UUID text).
    pub jti: String,
    /// Audience client (soft reference).
    pub application_id: i64,
    /// Subject (soft reference).
    pub user_id: Option<i64>,
    /// Space-separated scopes.
    #[sea_orm(column_type = "Text")]
    pub scope: String,
    /// Expiry instant.
    pub expires_at: crate::Timestamp,
    /// Creation time.
    pub created_at: crate::Timestamp,
}

/// Soft references only.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
