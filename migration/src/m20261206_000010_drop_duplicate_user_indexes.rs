//! `m20261206_000007` created `ix_access_tokens_user` and `ix_refresh_tokens_user` on
//! `(tenant_id, user_id, application_id)`, which `m20261201_000004` had already
//! created as `ix_…_user_application`: every token write maintained the same index
//! twice. This drops the second copies (the by-user reads keep the first).

use crate::schema::index_per_tenant;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const DUPLICATES: [(&str, &str); 2] = [
    ("access_tokens", "ix_access_tokens_user"),
    ("refresh_tokens", "ix_refresh_tokens_user"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, name) in DUPLICATES {
            manager
                .drop_index(Index::drop().name(name).table(table).to_owned())
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, _) in DUPLICATES {
            manager
                .create_index(index_per_tenant(
                    table,
                    "user",
                    &["user_id", "application_id"],
                ))
                .await?;
        }
        Ok(())
    }
}
