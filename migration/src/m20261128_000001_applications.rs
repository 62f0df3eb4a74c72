//! OAuth clients.

use crate::schema::{tenant_table, unique_per_tenant};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer_null, boolean, date_time, string, text};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                tenant_table("applications")
                    .col(string("client_id"))
                    .col(big_integer_null("owner_user_id"))
                    .col(string("name"))
                    .col(string("client_type"))
                    .col(text("grant_types"))
                    .col(text("redirect_uris"))
                    .col(text("post_logout_redirect_uris"))
                    .col(text("allowed_origins"))
                    .col(text("client_secret"))
                    .col(boolean("hash_client_secret"))
                    .col(boolean("skip_authorization"))
                    .col(string("algorithm"))
                    .col(text("allowed_scopes"))
                    .col(text("extensions"))
                    .col(date_time("created_at"))
                    .col(date_time("updated_at"))
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
