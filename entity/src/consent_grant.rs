//! Remembered consent: what a user approved for an application, until when.

use sea_orm::entity::prelude::*;

/// One user's standing approval of one application's scopes.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "consent_grants")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Owning tenant.
    pub tenant_id: i64,
    /// The user who approved (soft reference).
    pub user_id: i64,
    /// The application approved (soft reference).
    pub application_id: i64,
    /// Space-separated scopes approved.
    #[sea_orm(column_type = "Text")]
    pub scope: String,
    /// Until when; `None`: until revoked.
    pub expires_at: Option<crate::Timestamp>,
    /// First approval.
    pub created_at: crate::Timestamp,
    /// Last approval.
    pub updated_at: crate::Timestamp,
}

/// Soft references only.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
