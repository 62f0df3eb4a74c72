//! The tenant directory and per-tenant signing keys.

use crate::schema::{index_per_tenant, unique_per_tenant};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_pk_auto, date_time, date_time_null, string, string_len_uniq, text,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("tenants")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(string_len_uniq("slug", 63))
                    .col(string("display_name"))
                    .col(text("placement"))
                    .col(text("settings"))
                    .col(date_time("created_at"))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                crate::schema::tenant_table("signing_keys")
                    .col(string("kid"))
                    .col(string("algorithm"))
                    .col(text("private_key_pem"))
                    .col(text("public_jwk"))
                    .col(date_time("created_at"))
                    .col(date_time_null("retired_at"))
                    .col(date_time_null("published_until"))
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
