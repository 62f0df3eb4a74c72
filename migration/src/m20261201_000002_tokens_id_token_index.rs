//! The back reference from access tokens to ID tokens gets its index, so the
//! "ID token still in use" check of `cleartokens` is an index lookup on every backend.

use crate::schema::index_per_tenant;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(index_per_tenant(
                "access_tokens",
                "id_token",
                &["id_token_id"],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_access_tokens_id_token")
                    .table("access_tokens")
                    .to_owned(),
            )
            .await
    }
}
