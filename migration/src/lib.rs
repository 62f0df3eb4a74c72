//! Schema migrations of Tessera, one migrator per entity group.
//!
//! The database router decides which pool holds which entity group, so each group
//! migrates on its own: [`GroupMigrator`] returns only that group's migrations and
//! tracks them in its own table (`tessera_migrations_<group>`). Two groups on one
//! database therefore never confuse each other's history, and a pool migrates
//! exactly the groups the router places there.

use router_policies::EntityGroup;
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{DatabaseConnection, DynIden};

pub use sea_orm_migration::MigratorTraitSelf;

mod m20261128_000001_applications;
mod m20261128_000001_tenants;
mod m20261128_000001_tokens;
mod m20261128_000001_users;
mod m20261201_000001_application_origins;
mod m20261201_000002_tokens_id_token_index;
mod m20261201_000003_sessions;
mod m20261201_000004_interactions;
mod m20261202_000001_sealed_signing_keys;
mod m20261202_000002_user_subjects;
mod m20261202_000003_authentication_times;
mod m20261202_000004_access_token_format;
mod m20261202_000005_consent_grants;
mod m20261202_000006_application_owners;
mod m20261202_000007_application_login_urls;
mod m20261202_000008_authentication_context;
mod m20261206_000001_login_application_clients;
mod m20261206_000002_session_authorities;
mod m20261206_000003_pending_sources;
mod m20261206_000004_initial_signing_keys;
mod m20261206_000005_username_keys;
mod m20261206_000006_tenant_status;
mod m20261206_000007_user_token_indexes;
mod m20261206_000008_user_session_index;
mod m20261206_000009_client_registration;
mod m20261206_000010_drop_duplicate_user_indexes;
mod m20261206_000011_authorization_code_expiry;
mod m20261206_000012_token_keys_first;
mod m20261206_000013_session_key_first;
mod m20261207_000014_username_key_first;
mod m20261207_000015_token_links_key_first;
mod m20261207_000016_session_user_key_first;
mod schema;
pub mod usernames;

/// Migrations of one entity group, run with [`MigratorTraitSelf::up`].
#[derive(Clone, Copy, Debug)]
pub struct GroupMigrator {
    /// The group whose tables this migrator manages.
    pub group: EntityGroup,
}

impl GroupMigrator {
    /// The migrator for `group`.
    pub fn new(group: EntityGroup) -> Self {
        Self { group }
    }

    /// Applies this group's pending migrations on `db`; returns how many ran.
    /// Running it again applies nothing (idempotent).
    pub async fn apply(&self, db: &DatabaseConnection) -> Result<usize, DbErr> {
        let pending = self.pending(db).await?;
        self.up(db, None).await?;
        Ok(pending)
    }

    /// How many of this group's migrations `db` has not applied yet.
    pub async fn pending(&self, db: &DatabaseConnection) -> Result<usize, DbErr> {
        Ok(self.get_pending_migrations(db).await?.len())
    }

    /// Name of the table that records this group's applied migrations.
    pub fn tracking_table(&self) -> String {
        format!("tessera_migrations_{}", self.group.as_str())
    }
}

#[async_trait::async_trait]
impl MigratorTraitSelf for GroupMigrator {
    fn migrations(&self) -> Vec<Box<dyn MigrationTrait>> {
        match self.group {
            EntityGroup::Tenants => vec![
                Box::new(m20261128_000001_tenants::Migration),
                Box::new(m20261202_000001_sealed_signing_keys::Migration),
                Box::new(m20261206_000004_initial_signing_keys::Migration),
                Box::new(m20261206_000006_tenant_status::Migration),
            ],
            EntityGroup::Users => vec![
                Box::new(m20261128_000001_users::Migration),
                Box::new(m20261201_000003_sessions::Migration),
                Box::new(m20261202_000002_user_subjects::Migration),
                Box::new(m20261206_000002_session_authorities::Migration),
                Box::new(m20261206_000005_username_keys::Migration),
                Box::new(m20261206_000008_user_session_index::Migration),
                Box::new(m20261206_000013_session_key_first::Migration),
                Box::new(m20261207_000014_username_key_first::Migration),
                Box::new(m20261207_000016_session_user_key_first::Migration),
            ],
            EntityGroup::Applications => {
                vec![
                    Box::new(m20261128_000001_applications::Migration),
                    Box::new(m20261201_000001_application_origins::Migration),
                    Box::new(m20261202_000004_access_token_format::Migration),
                    Box::new(m20261202_000006_application_owners::Migration),
                    Box::new(m20261202_000007_application_login_urls::Migration),
                    Box::new(m20261206_000001_login_application_clients::Migration),
                    Box::new(m20261206_000009_client_registration::Migration),
                ]
            }
            EntityGroup::Tokens => vec![
                Box::new(m20261128_000001_tokens::Migration),
                Box::new(m20261201_000002_tokens_id_token_index::Migration),
                Box::new(m20261201_000004_interactions::Migration),
                Box::new(m20261202_000003_authentication_times::Migration),
                Box::new(m20261202_000005_consent_grants::Migration),
                Box::new(m20261202_000008_authentication_context::Migration),
                Box::new(m20261206_000003_pending_sources::Migration),
                Box::new(m20261206_000007_user_token_indexes::Migration),
                Box::new(m20261206_000010_drop_duplicate_user_indexes::Migration),
                Box::new(m20261206_000011_authorization_code_expiry::Migration),
                Box::new(m20261206_000012_token_keys_first::Migration),
                Box::new(m20261207_000015_token_links_key_first::Migration),
            ],
        }
    }

    fn migration_table_name(&self) -> DynIden {
        Alias::new(self.tracking_table()).into_iden()
    }
}
