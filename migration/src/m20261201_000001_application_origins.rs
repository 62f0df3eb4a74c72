//! CORS origins of each application, one row per origin, so that "does any client of
//! this tenant list this origin" is an exact, indexed lookup instead of a pattern
//! match over every application's list. Existing lists are copied over.

use crate::schema::tenant_table;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, string_len};
use sea_orm_migration::sea_orm::{ConnectionTrait, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager
            .create_table(
                tenant_table(backend, "application_origins")
                    // scheme://host:port; a DNS name is at most 253 characters.
                    .col(string_len("origin", 300))
                    .col(big_integer("application_id"))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_application_origins_tenant_origin_application")
                    .table("application_origins")
                    .col("tenant_id")
                    .col("origin")
                    .col("application_id")
                    .unique()
                    .if_not_exists()
                    .take(),
            )
            .await?;
        // Copy the space-separated lists of existing applications, one application at
        // a time (origins were validated when they were stored).
        let db = manager.get_connection();
        let rows = db
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT id, tenant_id, allowed_origins FROM applications WHERE allowed_origins <> ''",
            ))
            .await?;
        for row in rows {
            let id: i64 = row.try_get("", "id")?;
            let tenant_id: i64 = row.try_get("", "tenant_id")?;
            let origins: String = row.try_get("", "allowed_origins")?;
            let mut seen = std::collections::BTreeSet::new();
            for origin in origins
                .split_whitespace()
                .filter(|origin| seen.insert(*origin))
            {
                let insert = Query::insert()
                    .into_table("application_origins")
                    .columns(["tenant_id", "origin", "application_id"])
                    .values([tenant_id.into(), origin.into(), id.into()])
                    .map_err(|error| DbErr::Custom(error.to_string()))?
                    .to_owned();
                db.execute(&insert).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table("application_origins")
                    .if_exists()
                    .take(),
            )
            .await
    }
}
