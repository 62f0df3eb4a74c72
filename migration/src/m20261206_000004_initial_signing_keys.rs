//! A tenant's first key of each algorithm is created once, however many nodes start
//! at the same moment: such a key records its algorithm in `initial_for`, unique per
//! tenant, so a second node's insert fails and that node loads the winner's key.
//! Rotated-in keys leave it empty (NULL never conflicts). Tenants that already hold
//! two keys of an algorithm (nodes started together before this) keep them until the
//! next `tessera keys rotate`, which retires both.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("signing_keys")
                    .add_column(ColumnDef::new("initial_for").string_len(16).null().take())
                    .take(),
            )
            .await?;
        manager
            .create_index(crate::schema::unique_per_tenant(
                "signing_keys",
                "initial_for",
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ux_signing_keys_tenant_initial_for")
                    .table("signing_keys")
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("signing_keys")
                    .drop_column("initial_for")
                    .take(),
            )
            .await
    }
}
