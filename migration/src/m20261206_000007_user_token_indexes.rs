//! A user's tokens by user (issue 19): disabling or deleting a user revokes every
//! token they hold, and the authorized-tokens page groups them by application. Without
//! these indexes each of those read the tenant's whole token tables.

use crate::schema::index_per_tenant;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: [(&str, &str); 2] = [
    ("access_tokens", "ix_access_tokens_user"),
    ("refresh_tokens", "ix_refresh_tokens_user"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, _) in INDEXES {
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

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, name) in INDEXES {
            manager
                .drop_index(Index::drop().name(name).table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
