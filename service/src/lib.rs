//! Tessera: a multi-tenant, multi-database OAuth 2 / OpenID Connect token service.
//!
//! The binary is thin (`main.rs`); everything lives here so integration tests build
//! the same application on port 0:
//!
//! * [`config`] — figment configuration (defaults → TOML → `TESSERA_` environment).
//! * [`routing`] — the database router built from config (`router-policies` crate).
//! * [`db`] — connection pools, migrations, and the connection for (tenant, group, role).
//! * [`tenancy`] — the tenant directory, sticky placement, loaded tenants.
//! * [`store`] — data access per entity group; [`store::tokens`] writes a flow in one
//!   transaction on the tenant's token pool.
//! * [`secrets`] — token generation, checksums, client secret and password hashes.
//! * [`endpoints`] — HTTP: probes and per-tenant issuers under `/t/{tenant}`.
//! * [`startup`] — connect, validate, migrate, load, serve.
//! * [`cli`] — `tessera serve | check | migrate | tenant | user | app`.

pub mod cleanup;
pub mod cli;
pub mod config;
pub mod db;
pub mod endpoints;
pub mod error;
pub mod grants;
pub mod oauth;
pub mod routing;
pub mod secrets;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod tenancy;
pub mod time;

pub use config::Config;
pub use error::Error;
pub use startup::Application;
