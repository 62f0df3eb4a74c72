//! Browser sessions of signed-in users, stored as checksums of the cookie value.

use sea_orm::entity::prelude::*;

/// A signed-in browser. The cookie carries the secret; only its checksum is stored.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Owning tenant: a session of tenant A never signs anyone in to tenant B.
    pub tenant_id: i64,
    /// SHA-256 of the session cookie's value, lowercase hex.
    pub session_checksum: String,
    /// The signed-in user (soft reference).
    pub user_id: i64,
    /// When the user last proved who they are (OIDC `auth_time`).
    pub authenticated_at: crate::Timestamp,
    /// Who accepted the login: empty for Tessera's own pages, else the client_id of
    /// the external login application. The session counts only where the same
    /// authority decides sign-ins.
    pub authority: String,
    /// Expiry instant.
    pub expires_at: crate::Timestamp,
    /// Creation time.
    pub created_at: crate::Timestamp,
}

/// Soft references only.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
