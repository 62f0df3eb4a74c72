//! OAuth clients.

use crate::schema::{tenant_table, timestamp, unique_per_tenant};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer_null, boolean, string_len, text};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager
            .create_table(
                tenant_table(backend, "applications")
                    .col(string_len("client_id", 100))
                    .col(big_integer_null("owner_user_id"))
                    .col(string_len("name", 255))
                    .col(string_len("client_type", 32))
                    .col(text("grant_types"))
                    .col(text("redirect_uris"))
                    .col(text("post_logout_redirect_uris"))
                    .col(text("allowed_origins"))
                    .col(text("client_secret"))
                    .col(boolean("hash_client_secret"))
                    .col(boolean("skip_authorization"))
                    .col(string_len("algorithm", 16))
                    .col(text("allowed_scopes"))
                    .col(text("extensions"))
                    .col(timestamp(backend, "created_at"))
                    .col(timestamp(backend, "updated_at"))
                    .take(),
            )
            .await?;
        manager
            .create_index(unique_per_tenant("applications", "client_id"))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("applications").if_exists().take())
            .await
    }
}
