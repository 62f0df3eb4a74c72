//! A tenant can be disabled (issue 19): its issuer refuses every request until it is
//! enabled again; its rows stay. `updated_at` records the last change an operator
//! made (the admin API's `ETag` rests on it).

use crate::schema::timestamp_null;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        for column in ["disabled_at", "updated_at"] {
            manager
                .alter_table(
                    Table::alter()
                        .table("tenants")
                        .add_column(timestamp_null(backend, column))
                        .take(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in ["disabled_at", "updated_at"] {
            manager
                .alter_table(Table::alter().table("tenants").drop_column(column).take())
                .await?;
        }
        Ok(())
    }
}
