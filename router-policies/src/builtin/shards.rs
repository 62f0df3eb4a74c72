//! `kind = "shards"`: spread tenants across shard pools, sticky once placed.

use crate::placement::pick_pool;
use crate::{EntityGroup, PoolName, RoutingContext, RoutingPolicy};

/// Routes reads and writes of its groups from the tenant's stored placement when it has
/// one; a new tenant gets `pools[stable_hash(slug) % pools.len()]`.
///
/// Because stored placement wins, adding a shard only affects tenants created afterwards.
/// Every shard migrates the policy's groups, so a fresh shard is ready before its first
/// tenant arrives.
#[derive(Debug)]
pub(crate) struct ShardsPolicy {
    groups: Vec<EntityGroup>,
    mask: [bool; 4],
    pools: Vec<PoolName>,
}

impl ShardsPolicy {
    pub(crate) fn new(groups: &[EntityGroup], pools: &[PoolName]) -> Self {
        let mut mask = [false; 4];
        for g in groups {
            mask[g.index()] = true;
        }
        ShardsPolicy {
            groups: groups.to_vec(),
            mask,
            pools: pools.to_vec(),
        }
    }

    fn lookup(&self, group: EntityGroup, ctx: &RoutingContext<'_>) -> Option<PoolName> {
        if !self.mask[group.index()] {
            return None;
        }
        let tenant = ctx.tenant?;
        if let Some(stored) = ctx.placement.and_then(|p| p.get(group)) {
            return Some(stored.clone());
        }
        pick_pool(tenant, &self.pools).cloned()
    }
}

pub(crate) fn group_list(groups: &[EntityGroup]) -> String {
    groups
        .iter()
        .map(|g| g.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

impl RoutingPolicy for ShardsPolicy {
    fn name(&self) -> String {
        format!("shards({})", group_list(&self.groups))
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

    fn allow_migrate(&self, pool: &PoolName, group: EntityGroup) -> Option<bool> {
        (self.mask[group.index()] && self.pools.contains(pool)).then_some(true)
    }

    fn referenced_pools(&self) -> Vec<PoolName> {
        self.pools.clone()
    }
}
