//! End users.

use crate::schema::{tenant_table, timestamp, unique_per_tenant};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{boolean, string_len, string_len_null, text};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager
            .create_table(
                tenant_table(backend, "users")
                    .col(string_len("username", 150))
                    .col(string_len_null("email", 254))
                    .col(text("password_hash"))
                    .col(boolean("is_active"))
                    .col(timestamp(backend, "created_at"))
                    .col(timestamp(backend, "updated_at"))
                    .take(),
            )
            .await?;
        manager
            .create_index(unique_per_tenant("users", "username"))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("users").if_exists().take())
            .await
    }
}
