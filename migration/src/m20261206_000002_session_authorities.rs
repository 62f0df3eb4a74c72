//! Who signed a session in (`authority`): empty for Tessera's own pages, else
//! `client:` and the client_id of the external login application that accepted the
//! login. A session counts only for sign-ins that the same authority decides, so one
//! login application's session never signs a user in where another decides.
//!
//! Sessions from before cannot say who signed them in (a partner's login application
//! may have): they get `legacy`, which no authority matches, so each browser signs in
//! once more; they still sign out and expire as before.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("sessions")
                    .add_column(
                        ColumnDef::new("authority")
                            .string_len(128)
                            .not_null()
                            .default("")
                            .take(),
                    )
                    .take(),
            )
            .await?;
        manager
            .get_connection()
            .execute_raw(Statement::from_string(
                manager.get_database_backend(),
                "UPDATE sessions SET authority = 'legacy'",
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("sessions")
                    .drop_column("authority")
                    .take(),
            )
            .await
    }
}
