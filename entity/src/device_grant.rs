//! Device authorization grants (RFC 8628).

use sea_orm::entity::prelude::*;

/// A pending or decided device authorization. Both codes are stored as checksums.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "device_grants")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Owning tenant.
    pub tenant_id: i64,
    /// SHA-256 of the device code, lowercase hex.
    pub device_code_checksum: String,
    /// SHA-256 of the normalised user code, lowercase hex.
    pub user_code_checksum: String,
    /// Client (soft reference).
    pub application_id: i64,
    /// The user who approved or denied (soft reference).
    pub user_id: Option<i64>,
    /// Space-separated requested scopes.
    #[sea_orm(column_type = "Text")]
    pub scope: String,
    /// `pending`, `approved`, `denied` or `consumed`.
    pub status: String,
    /// Minimum polling interval in seconds (RFC 8628 §3.5).
    pub interval_seconds: i32,
    /// Last poll, for `slow_down`.
    pub last_polled_at: Option<crate::Timestamp>,
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
