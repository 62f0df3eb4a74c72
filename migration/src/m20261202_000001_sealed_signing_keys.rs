//! Signing keys are kept sealed (encrypted under the configured key-encryption key)
//! instead of as PEM, and each key carries the instant it starts to sign, so that a
//! rotated-in key is published in the JWKS before any token it signs is seen.
//! No key was ever written to `private_key_pem`: the column is renamed, not copied.

use crate::schema::timestamp_null;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager
            .alter_table(
                Table::alter()
                    .table("signing_keys")
                    .rename_column("private_key_pem", "sealed_private_key")
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("signing_keys")
                    .add_column(timestamp_null(backend, "signs_from"))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("signing_keys")
                    .drop_column("signs_from")
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("signing_keys")
                    .rename_column("sealed_private_key", "private_key_pem")
                    .take(),
            )
            .await
    }
}
