//! End users.

use crate::schema::{tenant_table, unique_per_tenant};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{boolean, date_time, string, string_null, text};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                tenant_table("users")
                    .col(string("username"))
                    .col(string_null("email"))
                    .col(text("password_hash"))
                    .col(boolean("is_active"))
                    .col(date_time("created_at"))
                    .col(date_time("updated_at"))
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
