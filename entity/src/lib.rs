//! sea-orm entities of Tessera, one module per table. No logic lives here.
//!
//! Tables belong to the entity groups of the database router (see
//! `router-policies`): `tenants` (the tenant directory and per-tenant signing keys),
//! `users`, `applications` and `tokens` (access, refresh and ID tokens, authorization
//! codes, device grants). Every row carries `tenant_id`, the id of the tenant in the
//! directory. References between groups (`application_id`, `user_id`) are soft: the
//! router may put the groups on different databases, so there are no foreign keys
//! between groups and deletes cascade in the service.
//!
//! Token and code tables store only the SHA-256 checksum of the secret value
//! (`*_checksum`, 64 lowercase hex characters), never the value itself.

pub mod access_token;
pub mod application;
pub mod application_origin;
pub mod authorization_code;
pub mod consent_grant;
pub mod device_grant;
pub mod id_token;
pub mod interaction;
pub mod refresh_token;
pub mod session;
pub mod signing_key;
pub mod tenant;
pub mod user;

/// Timestamps are UTC, stored without an offset (portable across SQLite, PostgreSQL
/// and MariaDB).
pub type Timestamp = sea_orm::prelude::TimeDateTime;
