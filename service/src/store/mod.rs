//! Data access per entity group. Every function takes the connection as an argument
//! (`&impl ConnectionTrait`), so it runs on a pool or inside a transaction, and every
//! query is scoped by `tenant_id`.

pub mod applications;
pub mod tokens;
pub mod users;

use sea_orm::{DbErr, SqlErr};

/// Whether a database error is a unique-constraint violation.
pub fn is_unique_violation(error: &DbErr) -> bool {
    matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}
