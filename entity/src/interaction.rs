//! Interactions: validated authorization requests waiting for login and/or consent.

use sea_orm::entity::prelude::*;

/// One pending interaction. The browser holds `interaction_key` (in URLs and forms)
/// and a secret in a cookie; only the secret's checksum is stored.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "interactions")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Owning tenant.
    pub tenant_id: i64,
    /// Public random id (base64url), unique per tenant.
    pub interaction_key: String,
    /// SHA-256 of the browser-binding secret, lowercase hex.
    pub secret_checksum: String,
    /// The client asking (soft reference); none for a plain login.
    pub application_id: Option<i64>,
    /// The validated request (JSON).
    #[sea_orm(column_type = "Text")]
    pub parameters: String,
    /// The subject, once a login or a live session named them.
    pub user_id: Option<i64>,
    /// The address (IPv4, or IPv6 /64 prefix) that made it, for the per-address cap.
    pub source_address: String,
    /// Expiry instant.
    pub expires_at: crate::Timestamp,
    /// Creation time.
    pub created_at: crate::Timestamp,
}

/// Soft references only.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
