//! Data access per entity group. Every public function takes the tenant's data
//! ([`access::TenantData`]) and chooses its connection there — replica, primary (for
//! a security decision) or writer — so no layer above picks a pool; inside a store,
//! statements run on a connection or transaction passed as an argument
//! (`&impl ConnectionTrait`). Every query is scoped by `tenant_id`.

pub mod access;
pub mod applications;
pub mod authorization_codes;
pub mod authorized_tokens;
pub mod client_cache;
pub mod consents;
pub mod device_grants;
pub mod erasure;
pub mod expired;
pub mod interactions;
pub mod sessions;
pub mod signing_keys;
pub mod token_cache;
pub mod tokens;
pub mod users;

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect, QueryTrait,
};
use sea_orm::{RuntimeErr, SqlErr};

use crate::error::Error;

/// How many rows of `E` match `condition`, counting at most `limit` of them
/// (`SELECT COUNT(*) FROM (SELECT 1 … LIMIT n)`): a cap check reads no more index
/// entries than the cap, however many rows there are.
pub async fn bounded_count<E: EntityTrait>(
    db: &impl ConnectionTrait,
    condition: sea_orm::Condition,
    limit: u64,
) -> Result<u64, Error> {
    let capped = E::find()
        .select_only()
        .expr(Expr::val(1))
        .filter(condition)
        .limit(limit)
        .into_query();
    let query = Query::select()
        .expr(Expr::cust("COUNT(*)"))
        .from_subquery(capped, Alias::new("capped"))
        .to_owned();
    let row = db.query_one(&query).await?;
    let count: i64 = match row {
        Some(row) => row.try_get_by_index(0)?,
        None => 0,
    };
    Ok(u64::try_from(count).unwrap_or_default())
}

/// The tenant condition of a statement that names its row by a key — its primary
/// key, or a checksum that leads its unique index, `(key, tenant_id)`: the condition
/// `table.tenant_id + 0 = ?`. The tenant is still checked, but as an expression that
/// no `(tenant_id, …)` index can serve, so the key's index is the only one such a
/// statement can use, whatever the table's statistics say. (A generic plan on a
/// PostgreSQL table never analyzed — fresh, or without autovacuum — otherwise may
/// walk the tenant's entries of such an index: a code redemption read 3,000 of them
/// instead of one. `tests/tests/integration/plans.rs` holds it.) The column is named
/// with its table, so the condition also fits a join.
pub(crate) fn same_tenant_by_key<C: ColumnTrait>(tenant_id_column: C, tenant_id: i64) -> Expr {
    Expr::col((tenant_id_column.entity_name(), tenant_id_column))
        .add(0)
        .eq(tenant_id)
}

/// The SQL of [`same_tenant_by_key`] for a statement written by hand, with the
/// tenant's placeholder.
pub(crate) fn same_tenant_by_key_sql(placeholder: &str) -> String {
    format!("tenant_id + 0 = {placeholder}")
}

/// Whether a database error is a unique-constraint violation.
pub fn is_unique_violation(error: &DbErr) -> bool {
    matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

pub use crate::group_commit::is_transient;

/// Whether a database error says the database cannot be reached now (rather than
/// that the statement is wrong): no connection could be had from the pool in time,
/// the connection broke or was refused, or the server is shutting down or gone
/// (PostgreSQL SQLSTATE class `08` and `57P01`–`57P03`; MySQL/MariaDB 2002, 2003,
/// 2006, 2013, 1053). Such a request is answered 503 with `Retry-After`, not 500.
pub fn is_unavailable(error: &DbErr) -> bool {
    let sqlx = match error {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => return true,
        DbErr::Exec(RuntimeErr::SqlxError(error)) | DbErr::Query(RuntimeErr::SqlxError(error)) => {
            error
        }
        _ => return false,
    };
    match sqlx.as_ref() {
        sea_orm::sqlx::Error::Io(_)
        | sea_orm::sqlx::Error::PoolTimedOut
        | sea_orm::sqlx::Error::PoolClosed
        | sea_orm::sqlx::Error::WorkerCrashed
        | sea_orm::sqlx::Error::Tls(_) => true,
        sea_orm::sqlx::Error::Database(error) => {
            if let Some(mysql) =
                error.try_downcast_ref::<sea_orm::sqlx::mysql::MySqlDatabaseError>()
            {
                return matches!(mysql.number(), 1053 | 2002 | 2003 | 2006 | 2013);
            }
            let code = error.code();
            let code = code.as_deref().unwrap_or("");
            code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03")
        }
        _ => false,
    }
}
