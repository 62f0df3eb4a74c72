//! The token tables' links lead their indexes: a refresh token's family and access
//! token, an access token's code, source refresh token and ID token, and both tables'
//! user and application, each index `(key…, tenant_id)` instead of `(tenant_id, key…)`,
//! as `m20261206_000012` did for the checksums. A statement that said `tenant_id = ?
//! AND family_id = ?` could be served by any `(tenant_id, …)` index of the table; on a
//! table that was empty when a pooled connection settled its generic plan, PostgreSQL
//! took one of the others (equal costs then) and kept it: the family revocation a
//! replayed refresh token sets off joined every live access token of the tenant to
//! every refresh token of the tenant (`tests/tests/integration/plans.rs`: 148 million
//! index entries for four replays with 3,000 tokens preloaded). Lookups now say `key
//! = ? AND tenant_id + 0 = ?`, which only the key-first index can serve.
//! On a large table this builds each index (writes to the table wait meanwhile).

use crate::schema::{PlainIndex, lead_indexes_with_keys, lead_indexes_with_tenants};
use sea_orm_migration::prelude::*;

const LINKS: &[PlainIndex] = &[
    ("refresh_tokens", "family", &["family_id"]),
    ("refresh_tokens", "access", &["access_token_id"]),
    (
        "refresh_tokens",
        "user_application",
        &["user_id", "application_id"],
    ),
    ("access_tokens", "code", &["authorization_code_id"]),
    ("access_tokens", "source", &["source_refresh_token_id"]),
    ("access_tokens", "id_token", &["id_token_id"]),
    (
        "access_tokens",
        "user_application",
        &["user_id", "application_id"],
    ),
];

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        lead_indexes_with_keys(manager, LINKS).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        lead_indexes_with_tenants(manager, LINKS).await
    }
}
