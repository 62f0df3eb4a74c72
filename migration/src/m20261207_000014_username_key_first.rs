//! The username lookup key leads its index: `(username_key, tenant_id)` replaces
//! `ix_users_username_key` on `(tenant_id, username_key)`, as `m20261206_000012` did
//! for the token tables. A sign-in looks its user up by `username_key = ? AND
//! tenant_id + 0 = ?`, which only this index can serve; with the old one, a pooled
//! connection that settled its generic plan while the users table was small could
//! have kept `ux_users_tenant_subject` or `ux_users_tenant_username` (equal cost
//! then) and walked every user of the tenant on each sign-in once it had grown.
//! On a large table this builds the index (writes to the table wait meanwhile).

use crate::schema::{drop_index, index_by_key, index_per_tenant};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(index_by_key("users", "username_key"))
            .await?;
        drop_index(manager, "users", "ix_users_username_key".to_owned()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(index_per_tenant("users", "username_key", &["username_key"]))
            .await?;
        drop_index(manager, "users", "ix_users_username_key_tenant".to_owned()).await
    }
}
