//! The tenant directory and per-tenant signing keys.

use crate::schema::{index_per_tenant, timestamp, timestamp_null, unique_per_tenant};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{string_len, string_len_uniq, text};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager
            .create_table(
                crate::schema::table(backend, "tenants")
                    .col(string_len_uniq("slug", 63))
                    .col(string_len("display_name", 255))
                    .col(text("placement"))
                    .col(text("settings"))
                    .col(timestamp(backend, "created_at"))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                crate::schema::tenant_table(backend, "signing_keys")
                    .col(string_len("kid", 64))
                    .col(string_len("algorithm", 16))
                    .col(text("private_key_pem"))
                    .col(text("public_jwk"))
                    .col(timestamp(backend, "created_at"))
                    .col(timestamp_null(backend, "retired_at"))
                    .col(timestamp_null(backend, "published_until"))
                    .take(),
            )
            .await?;
        manager
            .create_index(unique_per_tenant("signing_keys", "kid"))
            .await?;
        manager
            .create_index(index_per_tenant("signing_keys", "created", &["created_at"]))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("signing_keys").if_exists().take())
            .await?;
        manager
            .drop_table(Table::drop().table("tenants").if_exists().take())
            .await
    }
}
