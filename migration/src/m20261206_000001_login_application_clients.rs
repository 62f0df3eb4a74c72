//! The credential an application's own external login application authenticates
//! with (`login_client_id`, beside `login_url`): that client alone drives the
//! application's interactions. Empty with a `login_url` (rows from before): nobody
//! does until an operator names it (`tessera app update --login-client-id`).

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
                        ColumnDef::new("login_client_id")
                            .string_len(100)
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
                    .drop_column("login_client_id")
                    .take(),
            )
            .await
    }
}
