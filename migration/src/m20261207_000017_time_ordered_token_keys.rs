//! Room for time-ordered token keys: `token_checksum` of access and refresh tokens
//! grows from 64 to 80 characters. A token issued from this version on is stored
//! under `t` + its issue second (8 hex digits) + its SHA-256 (64 hex digits), so a
//! pool's new keys sort after its older ones and each insert lands on the last pages
//! of `ux_*_token_checksum_tenant` rather than on a random page of an index larger
//! than memory (`tessera::secrets::checksum`, docs/decisions.md). Keys already
//! stored keep their 64 characters and are looked up as before.
//!
//! PostgreSQL widens a `varchar` without rewriting the table or its indexes, MariaDB
//! in place (a `utf8mb4` `varchar(64)` already has two length bytes). SQLite does not
//! enforce a `varchar` length: nothing to change there.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::string_len;
use sea_orm_migration::sea_orm::DbBackend;

const TABLES: &[&str] = &["access_tokens", "refresh_tokens"];

#[derive(DeriveMigrationName)]
pub struct Migration;

async fn key_length(manager: &SchemaManager<'_>, length: u32) -> Result<(), DbErr> {
    if manager.get_database_backend() == DbBackend::Sqlite {
        return Ok(());
    }
    for table in TABLES {
        manager
            .alter_table(
                Table::alter()
                    .table(*table)
                    .modify_column(string_len("token_checksum", length))
                    .take(),
            )
            .await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        key_length(manager, 80).await
    }

    /// Fails while a time-ordered key is stored (it does not fit in 64 characters).
    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        key_length(manager, 64).await
    }
}
