//! The tenant directory: one row per tenant, with its sticky database placement.

use sea_orm::entity::prelude::*;

/// A tenant: its own issuer, users, applications and tokens.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tenants")]
pub struct Model {
    /// Directory id; every other table refers to it as `tenant_id`.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// URL-safe name; the issuer is `{public_url}/t/{slug}`.
    #[sea_orm(unique)]
    pub slug: String,
    /// Human name shown on login and consent pages.
    pub display_name: String,
    /// Pools of each entity group, decided once at creation (JSON object group → pool).
    #[sea_orm(column_type = "Text")]
    pub placement: String,
    /// Per-tenant settings (JSON object): lifetimes, scopes, policies.
    #[sea_orm(column_type = "Text")]
    pub settings: String,
    /// When the tenant was created.
    pub created_at: crate::Timestamp,
    /// When an operator disabled it; `None` while it serves.
    pub disabled_at: Option<crate::Timestamp>,
    /// The last change an operator made (`None`: none since creation).
    pub updated_at: Option<crate::Timestamp>,
}

/// The directory has no relations: other groups refer to it softly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
