//! Black-box integration tests: one binary, real SQLite, PostgreSQL, MariaDB and Redis.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod admin_api;
mod bounds;
mod browser;
mod browser_flows;
mod cli;
mod client_registration;
mod extension_points;
mod group_commit;
mod guards;
mod hardening;
mod health;
mod life_cycle;
mod login_authority;
mod migrations;
mod nodes;
mod oauth;
mod observability;
mod openid_connect;
mod plans;
mod processes;
mod replica;
mod routing;
mod token_cache;
mod token_keys;
mod token_store;
mod try_login;
mod usernames;
