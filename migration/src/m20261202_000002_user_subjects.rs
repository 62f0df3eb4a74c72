//! OpenID Connect subjects and claims of users (OIDC Core §2, §5.1).
//!
//! `subject` is the `sub` claim: random, opaque, unique per tenant and stored, so it
//! survives a move of the tenant's users to another pool (row ids do not) and says
//! nothing about how many users there are. Existing users get one from the database's
//! own random source. `claims` holds the user's standard claims as a JSON object.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager
            .alter_table(
                Table::alter()
                    .table("users")
                    .add_column(
                        ColumnDef::new("subject")
                            .string_len(64)
                            .not_null()
                            .default("")
                            .take(),
                    )
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("users")
                    .add_column(
                        ColumnDef::new("claims")
                            .text()
                            .not_null()
                            .default("{}")
                            .take(),
                    )
                    .take(),
            )
            .await?;
        // 128 random bits as 32 lowercase hex digits, as `store::users` generates them.
        let random_hex = match backend {
            DbBackend::Postgres => "replace(gen_random_uuid()::text, '-', '')",
            DbBackend::MySql => "LOWER(HEX(RANDOM_BYTES(16)))",
            _ => "lower(hex(randomblob(16)))",
        };
        manager
            .get_connection()
            .execute_raw(Statement::from_string(
                backend,
                format!("UPDATE users SET subject = {random_hex} WHERE subject = ''"),
            ))
            .await?;
        manager
            .create_index(crate::schema::unique_per_tenant("users", "subject"))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ux_users_tenant_subject")
                    .table("users")
                    .to_owned(),
            )
            .await?;
        for column in ["claims", "subject"] {
            manager
                .alter_table(Table::alter().table("users").drop_column(column).take())
                .await?;
        }
        Ok(())
    }
}
