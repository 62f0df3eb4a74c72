//! Tessera's database router: entity groups, routing policies, sticky placement and
//! startup validation. No I/O and no sea-orm: answers are pool *names*; the service maps
//! them to connections.
//!
//! # The model (Django's database routers, made tenant-aware)
//!
//! - Tables are grouped into four [`EntityGroup`]s routed as a unit: `tenants`, `users`,
//!   `applications`, `tokens`. A tenant's group never spans two pools, so a transaction
//!   inside a group never spans two databases.
//! - Named pools ([`PoolSpec`]) come from `[databases.NAME]`; `default` is the fallback.
//!   A pool with `replica_of` is a read replica.
//! - [`RoutingPolicy`] implementations answer Django's four questions — `db_for_read`,
//!   `db_for_write`, `allow_relation`, `allow_migrate` — or pass with `None`. The
//!   [`Router`] asks them in order; the first answer wins. Built-in kinds are configured
//!   in TOML as [`PolicyConfig`]: `static`, `tenant_map`, `shards`, `replicas`,
//!   `relations`.
//! - **Placement is sticky.** [`Router::place_new_tenant`] decides a new tenant's pools
//!   (shards pick with the frozen [`stable_hash`]); the service stores the [`Placement`]
//!   in the tenant directory and passes it back in every [`RoutingContext`], so adding a
//!   shard never moves live data.
//! - [`Router::validate`] resolves every tenant × group × role at startup and returns the
//!   [`RoutingTable`] (routes plus per-pool migration plan) or *every* [`Violation`]:
//!   unknown pools, a tenant's tokens split across pools or read from a replica, writes
//!   on replicas, groups not migrated where they are written, relations across pools no
//!   policy allows, routes that moved away from stored placement, and per-tenant keys
//!   away from the directory.
//!
//! ```
//! use router_policies::*;
//!
//! let pools = ["main", "shard-1", "shard-2"]
//!     .map(|p| PoolSpec::primary(PoolName::new(p).unwrap()))
//!     .to_vec();
//! let config: Vec<PolicyConfig> = vec![
//!     PolicyConfig::Static {
//!         groups: [EntityGroup::Tenants, EntityGroup::Users, EntityGroup::Applications]
//!             .map(|g| (g, PoolName::new("main").unwrap()))
//!             .into(),
//!     },
//!     PolicyConfig::Shards {
//!         groups: vec![EntityGroup::Tokens],
//!         pools: vec![PoolName::new("shard-1").unwrap(), PoolName::new("shard-2").unwrap()],
//!     },
//!     PolicyConfig::Relations {
//!         allow: vec![
//!             [EntityGroup::Tokens, EntityGroup::Applications],
//!             [EntityGroup::Tokens, EntityGroup::Users],
//!         ],
//!     },
//! ];
//! let router = Router::from_config(pools, &config);
//! let acme = TenantSlug::new("acme").unwrap();
//! let placement = router.place_new_tenant(&acme);
//! let table = router
//!     .validate(&[TenantEntry::created(acme.clone(), placement)])
//!     .unwrap();
//! let tokens = table.route(&acme, EntityGroup::Tokens).unwrap();
//! assert_eq!(tokens.read, tokens.write);
//! ```

mod builtin;
mod error;
mod group;
mod names;
mod placement;
mod policy;
mod pool;
mod router;
mod validate;

pub use builtin::PolicyConfig;
pub use error::RouterError;
pub use group::{EntityGroup, Role};
pub use names::{PoolName, TenantSlug};
pub use placement::{Placement, pick_pool, stable_hash};
pub use policy::{RoutingContext, RoutingPolicy};
pub use pool::PoolSpec;
pub use router::Router;
pub use validate::{Route, RoutingTable, TenantEntry, Violation};
