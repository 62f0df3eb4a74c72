//! When the user authenticated (OIDC Core §2 `auth_time`), carried from the session
//! to the authorization code and from there along the refresh token family, so every
//! ID token of a grant, refreshed ones included (OIDC Core §12.2), reports the
//! original authentication.

use crate::schema::timestamp_null;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: [&str; 2] = ["authorization_codes", "refresh_tokens"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        for table in TABLES {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .add_column(timestamp_null(backend, "auth_time"))
                        .take(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in TABLES {
            manager
                .alter_table(Table::alter().table(table).drop_column("auth_time").take())
                .await?;
        }
        Ok(())
    }
}
