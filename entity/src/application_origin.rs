//! One CORS origin of an application (`applications.allowed_origins` keeps the list
//! as DOT stores it; this table makes "which application lists this origin" an exact
//! indexed lookup).

use sea_orm::entity::prelude::*;

/// An origin (`scheme://host[:port]`) an application lists.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "application_origins")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Owning tenant.
    pub tenant_id: i64,
    /// The origin, exactly as validated.
    pub origin: String,
    /// The application listing it (same pool: the applications group).
    pub application_id: i64,
}

/// No relations are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
