//! The management pages list a user's own applications: an index on
//! `(tenant_id, owner_user_id)` finds them without reading the tenant's others.

use crate::schema::index_per_tenant;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(index_per_tenant(
                "applications",
                "owner",
                &["owner_user_id"],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_applications_owner")
                    .table("applications")
                    .to_owned(),
            )
            .await
    }
}
