//! The source address of each pending interaction and device grant
//! (`source_address`: an IPv4 address, or an IPv6 /64 prefix), so that the number one
//! address holds can be capped before another row is stored, with an index that
//! counts them without reading other addresses' rows. Device grants get an expiry
//! index for the tenant-wide cap and the background sweep (interactions have one).

use crate::schema::index_per_tenant;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: [&str; 2] = ["interactions", "device_grants"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in TABLES {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .add_column(
                            ColumnDef::new("source_address")
                                .string_len(45)
                                .not_null()
                                .default("")
                                .take(),
                        )
                        .take(),
                )
                .await?;
            manager
                .create_index(index_per_tenant(
                    table,
                    "source",
                    &["source_address", "expires_at"],
                ))
                .await?;
        }
        manager
            .create_index(index_per_tenant("device_grants", "expiry", &["expires_at"]))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_device_grants_expiry")
                    .table("device_grants")
                    .to_owned(),
            )
            .await?;
        for table in TABLES {
            manager
                .drop_index(
                    Index::drop()
                        .name(format!("ix_{table}_source"))
                        .table(table)
                        .to_owned(),
                )
                .await?;
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .drop_column("source_address")
                        .take(),
                )
                .await?;
        }
        Ok(())
    }
}
