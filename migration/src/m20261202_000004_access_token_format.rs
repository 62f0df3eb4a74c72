//! Each application chooses its access tokens' format: `opaque` (a random secret, the
//! default) or `jwt` (RFC 9068). Existing applications keep opaque tokens.

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
                        ColumnDef::new("access_token_format")
                            .string_len(16)
                            .not_null()
                            .default("opaque")
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
                    .drop_column("access_token_format")
                    .take(),
            )
            .await
    }
}
