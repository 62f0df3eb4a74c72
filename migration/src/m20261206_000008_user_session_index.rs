//! A user's sessions by user (issue 19): disabling a user, deleting one or setting a
//! password ends every session they hold, one indexed statement.

use crate::schema::index_per_tenant;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(index_per_tenant("sessions", "user", &["user_id"]))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_sessions_user")
                    .table("sessions")
                    .to_owned(),
            )
            .await
    }
}
