//! Column helpers shared by the migrations, so every table is declared the same way.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, big_pk_auto, string_len};
use sea_orm_migration::sea_orm::DbBackend;

/// `CREATE TABLE IF NOT EXISTS name (id BIGINT PK AUTO, …)`. On MySQL/MariaDB the table
/// uses `utf8mb4_bin`, so identifiers compare exactly (case and trailing spaces
/// matter) as they do on PostgreSQL and SQLite.
pub fn table(backend: DbBackend, name: &'static str) -> TableCreateStatement {
    let mut table = Table::create();
    table.table(name).if_not_exists().col(big_pk_auto("id"));
    if backend == DbBackend::MySql {
        table.character_set("utf8mb4").collate("utf8mb4_bin");
    }
    table
}

/// [`table`] plus `tenant_id BIGINT NOT NULL`: every table but the directory.
pub fn tenant_table(backend: DbBackend, name: &'static str) -> TableCreateStatement {
    let mut table = table(backend, name);
    table.col(big_integer("tenant_id"));
    table
}

/// A UTC timestamp. MySQL's `DATETIME` keeps whole seconds: ask for microseconds there,
/// as PostgreSQL and SQLite keep.
pub fn timestamp(backend: DbBackend, name: &'static str) -> ColumnDef {
    let mut column = ColumnDef::new(name);
    if backend == DbBackend::MySql {
        column.custom(Alias::new("DATETIME(6)"));
    } else {
        column.date_time();
    }
    column.not_null().take()
}

/// A nullable [`timestamp`].
pub fn timestamp_null(backend: DbBackend, name: &'static str) -> ColumnDef {
    let mut column = timestamp(backend, name);
    column.null();
    column
}

/// A SHA-256 checksum column: 64 lowercase hex characters.
pub fn checksum(name: &'static str) -> ColumnDef {
    string_len(name, 64)
}

/// A unique index over `(tenant_id, column)`: the lookup path of every scoped name.
pub fn unique_per_tenant(table: &'static str, column: &'static str) -> IndexCreateStatement {
    Index::create()
        .name(format!("ux_{table}_tenant_{column}"))
        .table(table)
        .col("tenant_id")
        .col(column)
        .unique()
        .if_not_exists()
        .take()
}

/// A unique index over `(column, tenant_id)`: the key first, for lookups by key
/// (`column = ? AND tenant_id + 0 = ?`), which no `(tenant_id, …)` index can serve,
/// so a plan cannot pick one of those, whatever the statistics (docs/decisions.md).
pub fn unique_by_key(table: &'static str, column: &'static str) -> IndexCreateStatement {
    Index::create()
        .name(format!("ux_{table}_{column}_tenant"))
        .table(table)
        .col(column)
        .col("tenant_id")
        .unique()
        .if_not_exists()
        .take()
}

/// A plain index over `(column, tenant_id)`: [`unique_by_key`] for a key several rows
/// may share (a username's lookup key: its spellings).
pub fn index_by_key(table: &'static str, column: &'static str) -> IndexCreateStatement {
    index_by_keys(table, column, &[column])
}

/// A plain index over `(columns…, tenant_id)` named `ix_{table}_{name}_tenant`: the
/// key-first twin of [`index_per_tenant`]'s `(tenant_id, columns…)`, for lookups that
/// name the key and compare the tenant as `tenant_id + 0`.
pub fn index_by_keys(
    table: &'static str,
    name: &'static str,
    columns: &[&'static str],
) -> IndexCreateStatement {
    let mut index = Index::create();
    index
        .name(format!("ix_{table}_{name}_tenant"))
        .table(table)
        .if_not_exists();
    for column in columns {
        index.col(*column);
    }
    index.col("tenant_id").take()
}

/// A plain index that [`lead_indexes_with_keys`] turns key-first: its table, the name
/// [`index_per_tenant`] gave it, and its columns after `tenant_id`.
pub type PlainIndex = (&'static str, &'static str, &'static [&'static str]);

/// Replaces each [`index_per_tenant`] index of `indexes` by [`index_by_keys`]'s
/// key-first one (built before the old one is dropped, so lookups always have one).
pub async fn lead_indexes_with_keys(
    manager: &SchemaManager<'_>,
    indexes: &[PlainIndex],
) -> Result<(), DbErr> {
    for (table, name, columns) in indexes {
        let old = format!("ix_{table}_{name}");
        replace_index(manager, table, index_by_keys(table, name, columns), old).await?;
    }
    Ok(())
}

/// Undoes [`lead_indexes_with_keys`].
pub async fn lead_indexes_with_tenants(
    manager: &SchemaManager<'_>,
    indexes: &[PlainIndex],
) -> Result<(), DbErr> {
    for (table, name, columns) in indexes {
        let old = format!("ix_{table}_{name}_tenant");
        replace_index(manager, table, index_per_tenant(table, name, columns), old).await?;
    }
    Ok(())
}

/// Replaces each `(tenant_id, column)` unique index of `keys` (table, column) by
/// [`unique_by_key`]'s `(column, tenant_id)`.
pub async fn lead_with_keys(
    manager: &SchemaManager<'_>,
    keys: &[(&'static str, &'static str)],
) -> Result<(), DbErr> {
    for (table, column) in keys {
        let old = format!("ux_{table}_tenant_{column}");
        replace_index(manager, table, unique_by_key(table, column), old).await?;
    }
    Ok(())
}

/// Undoes [`lead_with_keys`].
pub async fn lead_with_tenants(
    manager: &SchemaManager<'_>,
    keys: &[(&'static str, &'static str)],
) -> Result<(), DbErr> {
    for (table, column) in keys {
        let old = format!("ux_{table}_{column}_tenant");
        replace_index(manager, table, unique_per_tenant(table, column), old).await?;
    }
    Ok(())
}

/// Builds `index` of `table`, then drops its index `old` (lookups always have one).
async fn replace_index(
    manager: &SchemaManager<'_>,
    table: &'static str,
    index: IndexCreateStatement,
    old: String,
) -> Result<(), DbErr> {
    manager.create_index(index).await?;
    drop_index(manager, table, old).await
}

/// Drops index `name` of `table`.
pub async fn drop_index(
    manager: &SchemaManager<'_>,
    table: &'static str,
    name: String,
) -> Result<(), DbErr> {
    manager
        .drop_index(Index::drop().name(name).table(table).to_owned())
        .await
}

/// A plain index over `(tenant_id, columns…)`.
pub fn index_per_tenant(
    table: &'static str,
    name: &'static str,
    columns: &[&'static str],
) -> IndexCreateStatement {
    let mut index = Index::create();
    index
        .name(format!("ix_{table}_{name}"))
        .table(table)
        .col("tenant_id")
        .if_not_exists();
    for column in columns {
        index.col(*column);
    }
    index.take()
}
