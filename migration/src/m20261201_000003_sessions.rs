//! Browser sessions of signed-in users (issue 7). They live in the users group: a
//! session is a fact about a user, and the login that creates it reads that group.

use crate::schema::{checksum, index_per_tenant, tenant_table, timestamp, unique_per_tenant};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::big_integer;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager
            .create_table(
                tenant_table(backend, "sessions")
                    .col(checksum("session_checksum"))
                    .col(big_integer("user_id"))
                    .col(timestamp(backend, "authenticated_at"))
                    .col(timestamp(backend, "expires_at"))
                    .col(timestamp(backend, "created_at"))
                    .take(),
            )
            .await?;
        manager
            .create_index(unique_per_tenant("sessions", "session_checksum"))
            .await?;
        manager
            .create_index(index_per_tenant("sessions", "expiry", &["expires_at"]))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("sessions").if_exists().take())
            .await
    }
}
