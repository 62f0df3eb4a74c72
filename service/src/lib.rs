//! Tessera: a multi-tenant, multi-database OAuth 2 / OpenID Connect token service.
//!
//! The binary is thin (`main.rs`); everything lives here so integration tests build
//! the same application on port 0.
//!
//! The layers, each using only those below it ([`layering`], docs/layers.md):
//!
//! * [`cli`], [`startup`] — commands and the service's assembly; [`connections`] —
//!   the HTTP/1 server loop (connection cap, header read timeout, graceful drain).
//! * [`endpoints`] — HTTP: probes and per-tenant issuers under `/t/{tenant}`; maps
//!   protocol errors to responses.
//! * [`grants`] — the token endpoint's grants; [`administration`] — the operator's
//!   life cycle of tenants, users, applications and consents (CLI and admin API).
//! * [`oauth`] — protocol pieces: errors, scopes, forms, client authentication,
//!   introspection.
//! * [`state`], [`limits`] — what requests share; slow-hash and brute-force limits.
//! * [`store`] — data access per entity group, the one place a connection is chosen
//!   ([`store::access`]); [`store::expired`] removes expired rows; [`store::tokens`] writes a
//!   flow in one transaction on the tenant's token pool.
//! * [`tenancy`] — the tenant directory, sticky placement, loaded tenants.
//! * [`db`], [`routing`] — pools, migrations, the connection for (tenant, group, role).
//! * [`config`], [`settings`], [`network`], [`secrets`], [`syntax`], [`time`],
//!   [`telemetry`], [`error`] — foundations.

pub mod administration;
pub mod application_fields;
pub mod cache;
pub mod cli;
pub mod config;
pub mod connections;
pub mod db;
pub mod endpoints;
pub mod error;
pub mod grants;
pub mod group_commit;
pub mod jose;
pub mod layering;
pub mod limits;
pub mod metrics;
pub mod network;
pub mod oauth;
pub mod pages;
pub mod policy;
pub mod registration;
pub mod route_names;
pub mod routing;
pub mod secrets;
pub mod settings;
pub mod shared;
pub mod startup;
pub mod state;
pub mod store;
pub mod syntax;
pub mod telemetry;
pub mod tenancy;
pub mod time;

pub use config::Config;
pub use error::Error;
pub use startup::Application;
