//! An application may name its own external login and consent application (over the
//! tenant's `oauth.login_url`); empty: the tenant's, or Tessera's pages.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("applications")
                    .add_column(
                        ColumnDef::new("login_url")
                            .string_len(2048)
                            .not_null()
                            .default("")
                            .take(),
                    )
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("applications")
                    .drop_column("login_url")
                    .take(),
            )
            .await
    }
}
