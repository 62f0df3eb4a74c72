//! Remembered consent (issue 9): one row per (tenant, user, application) holding the
//! scopes the user approved and until when. In the tokens group, so that revoking an
//! application on the authorized-tokens page forgets its consent in the transaction
//! that revokes its tokens.

use crate::schema::{tenant_table, timestamp, timestamp_null};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, text};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager
            .create_table(
                tenant_table(backend, "consent_grants")
                    .col(big_integer("user_id"))
                    .col(big_integer("application_id"))
                    .col(text("scope"))
                    .col(timestamp_null(backend, "expires_at"))
                    .col(timestamp(backend, "created_at"))
                    .col(timestamp(backend, "updated_at"))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_consent_grants_user_application")
                    .table("consent_grants")
                    .col("tenant_id")
                    .col("user_id")
                    .col("application_id")
                    .unique()
                    .if_not_exists()
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("consent_grants").if_exists().take())
            .await
    }
}
