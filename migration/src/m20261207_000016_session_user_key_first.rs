//! A session's user leads its index: `(user_id, tenant_id)` instead of `(tenant_id,
//! user_id)` (`ix_sessions_user`), for the reason `m20261207_000015` gives for the
//! token tables: ending a user's sessions (deactivation, deletion) says `user_id = ?
//! AND tenant_id + 0 = ?`, which no other index of the table can serve, so it cannot
//! walk the tenant's sessions through `ix_sessions_expiry`.

use crate::schema::{PlainIndex, lead_indexes_with_keys, lead_indexes_with_tenants};
use sea_orm_migration::prelude::*;

const USER: &[PlainIndex] = &[("sessions", "user", &["user_id"])];

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        lead_indexes_with_keys(manager, USER).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        lead_indexes_with_tenants(manager, USER).await
    }
}
