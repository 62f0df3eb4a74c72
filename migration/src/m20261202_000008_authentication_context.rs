//! How the user authenticated (OIDC Core §2 `acr` and `amr`), as an external login
//! application reports it, carried like `auth_time` from the authorization code along
//! the refresh token family, so refreshed ID tokens report the original
//! authentication (OIDC Core §12.2). `amr` is stored space-separated.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: [&str; 2] = ["authorization_codes", "refresh_tokens"];

/// Longest `acr` value and longest stored `amr` list.
const LENGTH: u32 = 255;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one thing at a time.
        for table in TABLES {
            for column in ["acr", "amr"] {
                manager
                    .alter_table(
                        Table::alter()
                            .table(table)
                            .add_column(ColumnDef::new(column).string_len(LENGTH).null().take())
                            .take(),
                    )
                    .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in TABLES {
            for column in ["acr", "amr"] {
                manager
                    .alter_table(Table::alter().table(table).drop_column(column).take())
                    .await?;
            }
        }
        Ok(())
    }
}
