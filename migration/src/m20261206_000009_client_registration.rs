//! Dynamic client registration (RFC 7591, RFC 7592): the application's home page
//! (`client_uri`), the token endpoint authentication method it registered, and the
//! keyed hash of its registration access token (RFC 7592 §3; empty: not registered
//! dynamically, so nobody manages it over the registration endpoint). One column per
//! statement: SQLite adds one column per `ALTER TABLE`.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const COLUMNS: [(&str, u32); 3] = [
    ("client_uri", 2048),
    ("token_endpoint_auth_method", 32),
    ("registration_token_hash", 255),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, length) in COLUMNS {
            manager
                .alter_table(
                    Table::alter()
                        .table("applications")
                        .add_column(
                            ColumnDef::new(name)
                                .string_len(length)
                                .not_null()
                                .default("")
                                .take(),
                        )
                        .take(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, _) in COLUMNS {
            manager
                .alter_table(
                    Table::alter()
                        .table("applications")
                        .drop_column(name)
                        .take(),
                )
                .await?;
        }
        Ok(())
    }
}
