//! An expiry index on `authorization_codes` (`tenant_id, expires_at`), as the other
//! swept tables have. Without it the expiry sweep's `tenant_id = ? AND expires_at < ?`
//! was served by the `(tenant_id, code_checksum)` index and read every code of the
//! tenant, live ones included, on every sweep (seen as 3,000 entries per statement in
//! `tests/tests/integration/plans.rs`; ~2,000 code flows/s keep ~120,000 live codes).

use crate::schema::index_per_tenant;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(index_per_tenant(
                "authorization_codes",
                "expiry",
                &["expires_at"],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_authorization_codes_expiry")
                    .table("authorization_codes")
                    .to_owned(),
            )
            .await
    }
}
