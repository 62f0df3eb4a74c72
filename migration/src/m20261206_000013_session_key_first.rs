//! The lookup keys lead their unique indexes: `(key, tenant_id)` replaces
//! `(tenant_id, key)` for sessions. A lookup `tenant_id = ? AND key = ?` could be
//! served by any `(tenant_id, …)` index; on a table that was empty when a pooled
//! connection settled its generic plan, PostgreSQL picked one of those (costs tie)
//! and then walked every entry of the tenant on each lookup once the table had
//! grown (`tests/tests/integration/plans.rs`: 24,845 entries for four code flows).
//! Lookups now say `key = ? AND tenant_id + 0 = ?`: only the key-first index fits.
//! On a large table this rebuilds the index (writes to the table wait meanwhile).

use crate::schema::{lead_with_keys, lead_with_tenants};
use sea_orm_migration::prelude::*;

/// (table, key column)
const KEYS: &[(&str, &str)] = &[("sessions", "session_checksum")];

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        lead_with_keys(manager, KEYS).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        lead_with_tenants(manager, KEYS).await
    }
}
