//! `kind = "replicas"`: send reads of some groups to read replicas.

use super::shards::group_list;
use crate::placement::pick_pool;
use crate::{EntityGroup, PoolName, RoutingContext, RoutingPolicy};

/// Routes reads of its groups to `pools[stable_hash(slug) % len]` (a tenant always reads
/// from the same replica, so its reads are monotonic); passes on writes and for the
/// directory. Replicas are never migrated: `allow_migrate(replica, _) = Some(false)`.
#[derive(Debug)]
pub(crate) struct ReplicasPolicy {
    groups: Vec<EntityGroup>,
    mask: [bool; 4],
    pools: Vec<PoolName>,
}

impl ReplicasPolicy {
    pub(crate) fn new(groups: &[EntityGroup], pools: &[PoolName]) -> Self {
        let mut mask = [false; 4];
        for g in groups {
            mask[g.index()] = true;
        }
        ReplicasPolicy {
            groups: groups.to_vec(),
            mask,
            pools: pools.to_vec(),
        }
    }
}

impl RoutingPolicy for ReplicasPolicy {
    fn name(&self) -> String {
        format!("replicas({})", group_list(&self.groups))
    }

    fn db_for_read(&self, group: EntityGroup, ctx: &RoutingContext<'_>) -> Option<PoolName> {
        if !self.mask[group.index()] {
            return None;
        }
        pick_pool(ctx.tenant?, &self.pools).cloned()
    }

    fn db_for_write(&self, _group: EntityGroup, _ctx: &RoutingContext<'_>) -> Option<PoolName> {
        None
    }

    fn allow_relation(
        &self,
        _a: (EntityGroup, &PoolName),
        _b: (EntityGroup, &PoolName),
    ) -> Option<bool> {
        None
    }

    fn allow_migrate(&self, pool: &PoolName, _group: EntityGroup) -> Option<bool> {
        self.pools.contains(pool).then_some(false)
    }

    fn referenced_pools(&self) -> Vec<PoolName> {
        self.pools.clone()
    }
}
