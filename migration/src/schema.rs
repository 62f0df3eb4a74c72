//! Column helpers shared by the migrations, so every table is declared the same way.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, big_pk_auto, string_len};

/// `CREATE TABLE IF NOT EXISTS name (id BIGINT PK AUTO, tenant_id BIGINT NOT NULL, …)`.
pub fn tenant_table(name: &'static str) -> TableCreateStatement {
    Table::create()
        .table(name)
        .if_not_exists()
        .col(big_pk_auto("id"))
        .col(big_integer("tenant_id"))
        .take()
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
