//! `kind = "tenant_map"`: explicit pools for named tenants.

use std::collections::{BTreeMap, HashMap};

use crate::{EntityGroup, PoolName, RoutingContext, RoutingPolicy, TenantSlug};

/// Routes listed groups of listed tenants to fixed pools (a dedicated database for a big
/// customer, say). Passes for other tenants, other groups and the directory.
#[derive(Debug)]
pub(crate) struct TenantMapPolicy {
    tenants: HashMap<TenantSlug, [Option<PoolName>; 4]>,
}

impl TenantMapPolicy {
    pub(crate) fn new(map: &BTreeMap<TenantSlug, BTreeMap<EntityGroup, PoolName>>) -> Self {
        let tenants = map
            .iter()
            .map(|(t, groups)| {
                let mut by_group: [Option<PoolName>; 4] = Default::default();
                for (g, p) in groups {
                    by_group[g.index()] = Some(p.clone());
                }
                (t.clone(), by_group)
            })
            .collect();
        TenantMapPolicy { tenants }
    }

    fn lookup(&self, group: EntityGroup, ctx: &RoutingContext<'_>) -> Option<PoolName> {
        self.tenants.get(ctx.tenant?)?[group.index()].clone()
    }
}

impl RoutingPolicy for TenantMapPolicy {
    fn name(&self) -> String {
        "tenant_map".to_owned()
    }

    fn db_for_read(&self, group: EntityGroup, ctx: &RoutingContext<'_>) -> Option<PoolName> {
        self.lookup(group, ctx)
    }

    fn db_for_write(&self, group: EntityGroup, ctx: &RoutingContext<'_>) -> Option<PoolName> {
        self.lookup(group, ctx)
    }

    fn allow_relation(
        &self,
        _a: (EntityGroup, &PoolName),
        _b: (EntityGroup, &PoolName),
    ) -> Option<bool> {
        None
    }

    fn allow_migrate(&self, _pool: &PoolName, _group: EntityGroup) -> Option<bool> {
        None
    }

    fn referenced_pools(&self) -> Vec<PoolName> {
        self.tenants.values().flatten().flatten().cloned().collect()
    }
}
