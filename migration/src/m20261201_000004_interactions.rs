//! Stored interactions (issue 7): a validated authorization request waiting for a
//! login and/or a consent. They live in the tokens group, so finishing one (delete the
//! interaction, store the code) is one transaction. Access tokens get an index on
//! `(tenant_id, user_id, application_id)` for the authorized-tokens page and
//! `approval_prompt=auto`.

use crate::schema::{checksum, index_per_tenant, tenant_table, timestamp, unique_per_tenant};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer_null, string_len, text};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager
            .create_table(
                tenant_table(backend, "interactions")
                    .col(string_len("interaction_key", 43))
                    .col(checksum("secret_checksum"))
                    .col(big_integer_null("application_id"))
                    .col(text("parameters"))
                    .col(big_integer_null("user_id"))
                    .col(timestamp(backend, "expires_at"))
                    .col(timestamp(backend, "created_at"))
                    .take(),
            )
            .await?;
        manager
            .create_index(unique_per_tenant("interactions", "interaction_key"))
            .await?;
        manager
            .create_index(index_per_tenant("interactions", "expiry", &["expires_at"]))
            .await?;
        manager
            .create_index(index_per_tenant(
                "access_tokens",
                "user_application",
                &["user_id", "application_id"],
            ))
            .await?;
        manager
            .create_index(index_per_tenant(
                "refresh_tokens",
                "user_application",
                &["user_id", "application_id"],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, index) in [
            ("access_tokens", "ix_access_tokens_user_application"),
            ("refresh_tokens", "ix_refresh_tokens_user_application"),
        ] {
            manager
                .drop_index(Index::drop().name(index).table(table).to_owned())
                .await?;
        }
        manager
            .drop_table(Table::drop().table("interactions").if_exists().take())
            .await
    }
}
