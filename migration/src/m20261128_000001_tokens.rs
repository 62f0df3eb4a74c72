//! Every table a token flow writes: access, refresh and ID tokens, authorization
//! codes and device grants. They share one pool per tenant (router invariant).

use crate::schema::{
    checksum, index_per_tenant, tenant_table, timestamp, timestamp_null, unique_per_tenant,
};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, big_integer_null, integer, string_len, string_len_null, text, text_null,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: [&str; 5] = [
    "access_tokens",
    "refresh_tokens",
    "id_tokens",
    "authorization_codes",
    "device_grants",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager
            .create_table(
                tenant_table(backend, "access_tokens")
                    .col(checksum("token_checksum"))
                    .col(big_integer("application_id"))
                    .col(big_integer_null("user_id"))
                    .col(text("scope"))
                    .col(big_integer_null("source_refresh_token_id"))
                    .col(big_integer_null("id_token_id"))
                    .col(big_integer_null("authorization_code_id"))
                    .col(timestamp(backend, "expires_at"))
                    .col(timestamp_null(backend, "revoked_at"))
                    .col(timestamp(backend, "created_at"))
                    .take(),
            )
            .await?;
        manager
            .create_index(unique_per_tenant("access_tokens", "token_checksum"))
            .await?;
        manager
            .create_index(index_per_tenant("access_tokens", "expiry", &["expires_at"]))
            .await?;
        manager
            .create_index(index_per_tenant(
                "access_tokens",
                "code",
                &["authorization_code_id"],
            ))
            .await?;
        manager
            .create_index(index_per_tenant(
                "access_tokens",
                "source",
                &["source_refresh_token_id"],
            ))
            .await?;

        manager
            .create_table(
                tenant_table(backend, "refresh_tokens")
                    .col(checksum("token_checksum"))
                    .col(big_integer_null("access_token_id"))
                    .col(big_integer("application_id"))
                    .col(big_integer_null("user_id"))
                    .col(string_len("family_id", 36))
                    .col(text("scope"))
                    .col(timestamp_null(backend, "expires_at"))
                    .col(timestamp_null(backend, "revoked_at"))
                    .col(text_null("successor_sealed"))
                    .col(timestamp(backend, "created_at"))
                    .col(timestamp_null(backend, "last_used_at"))
                    .take(),
            )
            .await?;
        manager
            .create_index(unique_per_tenant("refresh_tokens", "token_checksum"))
            .await?;
        manager
            .create_index(index_per_tenant("refresh_tokens", "family", &["family_id"]))
            .await?;
        manager
            .create_index(index_per_tenant(
                "refresh_tokens",
                "access",
                &["access_token_id"],
            ))
            .await?;

        manager
            .create_table(
                tenant_table(backend, "id_tokens")
                    .col(string_len("jti", 36))
                    .col(big_integer("application_id"))
                    .col(big_integer_null("user_id"))
                    .col(text("scope"))
                    .col(timestamp(backend, "expires_at"))
                    .col(timestamp(backend, "created_at"))
                    .take(),
            )
            .await?;
        manager
            .create_index(unique_per_tenant("id_tokens", "jti"))
            .await?;

        manager
            .create_table(
                tenant_table(backend, "authorization_codes")
                    .col(checksum("code_checksum"))
                    .col(big_integer("application_id"))
                    .col(big_integer("user_id"))
                    .col(text("redirect_uri"))
                    .col(text("scope"))
                    .col(string_len_null("code_challenge", 128))
                    .col(string_len_null("code_challenge_method", 16))
                    .col(text_null("nonce"))
                    .col(text_null("claims"))
                    .col(text_null("resource"))
                    .col(timestamp(backend, "expires_at"))
                    .col(timestamp_null(backend, "consumed_at"))
                    .col(timestamp(backend, "created_at"))
                    .take(),
            )
            .await?;
        manager
            .create_index(unique_per_tenant("authorization_codes", "code_checksum"))
            .await?;

        manager
            .create_table(
                tenant_table(backend, "device_grants")
                    .col(checksum("device_code_checksum"))
                    .col(checksum("user_code_checksum"))
                    .col(big_integer("application_id"))
                    .col(big_integer_null("user_id"))
                    .col(text("scope"))
                    .col(string_len("status", 16))
                    .col(integer("interval_seconds"))
                    .col(timestamp_null(backend, "last_polled_at"))
                    .col(timestamp(backend, "expires_at"))
                    .col(timestamp(backend, "created_at"))
                    .take(),
            )
            .await?;
        manager
            .create_index(unique_per_tenant("device_grants", "device_code_checksum"))
            .await?;
        manager
            .create_index(unique_per_tenant("device_grants", "user_code_checksum"))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in TABLES.iter().rev() {
            manager
                .drop_table(Table::drop().table(*table).if_exists().take())
                .await?;
        }
        Ok(())
    }
}
