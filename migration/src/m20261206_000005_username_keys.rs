//! Usernames are compared in Unicode NFKC (Django's `normalize_username`), with or
//! without their letter case as the tenant says (`oauth.usernames_ignore_case`), so
//! `alice`, `alice` + U+200B and a fullwidth `ａlice` are not three accounts.
//! `username_key` ([`crate::usernames::username_key`]: NFKC, lower case) is what
//! users are looked up by; this migration fills it for existing users, 500 rows a
//! statement batch, and indexes it per tenant. Stored usernames are left as they were
//! typed: a lookup compares their NFKC form, so existing users sign in as before.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, Statement, Value};

use crate::usernames::username_key;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Users read per round of the backfill.
const BATCH: i64 = 500;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("users")
                    .add_column(
                        ColumnDef::new("username_key")
                            .string_len(255)
                            .not_null()
                            .default("")
                            .take(),
                    )
                    .take(),
            )
            .await?;
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        let mut after = i64::MIN;
        loop {
            let rows = db
                .query_all_raw(Statement::from_sql_and_values(
                    backend,
                    match backend {
                        sea_orm_migration::sea_orm::DbBackend::Postgres => {
                            "SELECT id, username FROM users WHERE id > $1 ORDER BY id LIMIT $2"
                        }
                        _ => "SELECT id, username FROM users WHERE id > ? ORDER BY id LIMIT ?",
                    },
                    [Value::from(after), Value::from(BATCH)],
                ))
                .await?;
            let Some(last) = rows.last() else { break };
            after = last.try_get_by_index::<i64>(0)?;
            for row in &rows {
                let id: i64 = row.try_get_by_index(0)?;
                let username: String = row.try_get_by_index(1)?;
                let key: String = username_key(&username).chars().take(255).collect();
                db.execute_raw(Statement::from_sql_and_values(
                    backend,
                    match backend {
                        sea_orm_migration::sea_orm::DbBackend::Postgres => {
                            "UPDATE users SET username_key = $1 WHERE id = $2"
                        }
                        _ => "UPDATE users SET username_key = ? WHERE id = ?",
                    },
                    [Value::from(key), Value::from(id)],
                ))
                .await?;
            }
        }
        manager
            .create_index(crate::schema::index_per_tenant(
                "users",
                "username_key",
                &["username_key"],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_users_username_key")
                    .table("users")
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("users")
                    .drop_column("username_key")
                    .take(),
            )
            .await
    }
}
