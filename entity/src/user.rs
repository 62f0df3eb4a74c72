//! End users of a tenant.

use sea_orm::entity::prelude::*;

/// A user who signs in to a tenant. `username` is unique within the tenant only.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    /// Row id (per database: never shown outside; `subject` is).
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Owning tenant.
    pub tenant_id: i64,
    /// The OIDC `sub`: random, opaque, unique per tenant, never reassigned.
    pub subject: String,
    /// Login name, unique per tenant, in Unicode NFKC (as typed before that rule).
    pub username: String,
    /// What users are looked up by: the username's NFKC form in lower case
    /// (`migration::usernames::username_key`).
    pub username_key: String,
    /// Optional e-mail address.
    pub email: Option<String>,
    /// argon2id PHC string.
    #[sea_orm(column_type = "Text")]
    pub password_hash: String,
    /// Standard claims (OIDC Core §5.1) as a JSON object: `name`, `given_name`,
    /// `phone_number`, `address` (an object), ….
    #[sea_orm(column_type = "Text")]
    pub claims: String,
    /// Inactive users cannot sign in or use their tokens.
    pub is_active: bool,
    /// Creation time.
    pub created_at: crate::Timestamp,
    /// Last update time.
    pub updated_at: crate::Timestamp,
}

/// Other groups refer to users softly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
