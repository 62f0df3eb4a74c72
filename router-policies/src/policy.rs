//! The pluggable policy trait (Django's database-router protocol) and what it is asked about.

use std::fmt;

use crate::{EntityGroup, Placement, PoolName, TenantSlug};

/// What a policy is asked about.
///
/// `tenant = None` means "the tenant directory itself" (only asked for
/// [`EntityGroup::Tenants`]); tenant-keyed policies (tenant_map, shards, replicas) pass
/// (`None`) when `tenant` is `None`. `placement` is the tenant's stored placement, or
/// `None` for a tenant being created (or declared but not created yet).
#[derive(Clone, Copy, Debug, Default)]
pub struct RoutingContext<'a> {
    /// The tenant whose data is routed; `None` for the tenant directory.
    pub tenant: Option<&'a TenantSlug>,
    /// The tenant's stored placement, if it has one.
    pub placement: Option<&'a Placement>,
}

impl<'a> RoutingContext<'a> {
    /// Context for the tenant directory itself.
    pub fn directory() -> Self {
        RoutingContext::default()
    }

    /// Context for one tenant's data.
    pub fn tenant(tenant: &'a TenantSlug, placement: Option<&'a Placement>) -> Self {
        RoutingContext {
            tenant: Some(tenant),
            placement,
        }
    }
}

/// Django's four router questions. `None` = "no opinion, ask the next policy".
///
/// Policies are asked in configured order and the first answer wins, exactly like
/// `DATABASE_ROUTERS`. Implement this for custom placement rules; the built-in kinds
/// come from [`PolicyConfig`](crate::PolicyConfig).
pub trait RoutingPolicy: Send + Sync + fmt::Debug {
    /// Short label used in violations and logs, e.g. `"static"`, `"shards(tokens)"`.
    fn name(&self) -> String;

    /// Pool to read `group` from, or `None` to pass.
    fn db_for_read(&self, group: EntityGroup, ctx: &RoutingContext<'_>) -> Option<PoolName>;

    /// Pool to write `group` to, or `None` to pass.
    fn db_for_write(&self, group: EntityGroup, ctx: &RoutingContext<'_>) -> Option<PoolName>;

    /// Whether a row of `a.0` on pool `a.1` may reference a row of `b.0` on pool `b.1`,
    /// or `None` to pass.
    fn allow_relation(
        &self,
        a: (EntityGroup, &PoolName),
        b: (EntityGroup, &PoolName),
    ) -> Option<bool>;

    /// Whether `group`'s tables are created on `pool`, or `None` to pass.
    fn allow_migrate(&self, pool: &PoolName, group: EntityGroup) -> Option<bool>;

    /// Every pool this policy may ever answer with, so validation can report a typo'd
    /// pool before the first tenant is routed to it. Defaults to none.
    fn referenced_pools(&self) -> Vec<PoolName> {
        Vec::new()
    }
}
