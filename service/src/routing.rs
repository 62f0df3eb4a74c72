//! Glue between the configuration and the `router-policies` crate: builds the router
//! from `[databases]` and `[[router.policies]]`, and lists the tenants it must validate.

use std::collections::BTreeMap;

use router_policies::{PoolSpec, Router, RoutingTable, TenantEntry, TenantSlug};

use crate::config::Config;
use crate::error::Error;

/// The router described by `config`: one [`PoolSpec`] per `[databases.NAME]`, and the
/// policies in the order [`Config::policies`] gives.
pub fn router_from_config(config: &Config) -> Router {
    let pools = config
        .databases
        .iter()
        .map(|(name, pool)| PoolSpec {
            name: name.clone(),
            replica_of: pool.replica_of.clone(),
        })
        .collect();
    Router::from_config(pools, &config.policies())
}

/// Tenants to validate: those declared in config (not yet stored unless `stored` holds
/// them), the bootstrap tenant when the directory is empty, and every stored tenant
/// with its sticky placement.
pub fn tenant_entries(
    config: &Config,
    stored: &BTreeMap<TenantSlug, router_policies::Placement>,
) -> Vec<TenantEntry> {
    let mut entries: BTreeMap<TenantSlug, TenantEntry> = stored
        .iter()
        .map(|(slug, placement)| {
            (
                slug.clone(),
                TenantEntry {
                    slug: slug.clone(),
                    stored: Some(placement.clone()),
                },
            )
        })
        .collect();
    for slug in config.tenants.keys() {
        entries.entry(slug.clone()).or_insert_with(|| TenantEntry {
            slug: slug.clone(),
            stored: None,
        });
    }
    entries.into_values().collect()
}

/// Validates `entries` against `router`, turning violations into [`Error::Routing`].
pub fn validate(router: &Router, entries: &[TenantEntry]) -> Result<RoutingTable, Error> {
    router.validate(entries).map_err(Error::Routing)
}
