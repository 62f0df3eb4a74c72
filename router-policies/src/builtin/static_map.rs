//! `kind = "static"`: a fixed group → pool map, the same for every tenant.

use std::collections::BTreeMap;

use crate::{EntityGroup, PoolName, RoutingContext, RoutingPolicy};

/// Routes each listed group to one pool for every tenant and for the directory.
///
/// A static group is known to live on its pool even before the first tenant exists, so
/// the policy also answers `allow_migrate(pool, group) = Some(true)` for its own pairs.
#[derive(Debug)]
pub(crate) struct StaticPolicy {
    groups: [Option<PoolName>; 4],
}

impl StaticPolicy {
    pub(crate) fn new(map: &BTreeMap<EntityGroup, PoolName>) -> Self {
        let mut groups: [Option<PoolName>; 4] = Default::default();
        for (g, p) in map {
            groups[g.index()] = Some(p.clone());
        }
        StaticPolicy { groups }
    }
}

impl RoutingPolicy for StaticPolicy {
    fn name(&self) -> String {
        "static".to_owned()
    }

    fn db_for_read(&self, group: EntityGroup, _ctx: &RoutingContext<'_>) -> Option<PoolName> {
        self.groups[group.index()].clone()
    }

    fn db_for_write(&self, group: EntityGroup, _ctx: &RoutingContext<'_>) -> Option<PoolName> {
        self.groups[group.index()].clone()
    }

    fn allow_relation(
        &self,
        _a: (EntityGroup, &PoolName),
        _b: (EntityGroup, &PoolName),
    ) -> Option<bool> {
        None
    }

    fn allow_migrate(&self, pool: &PoolName, group: EntityGroup) -> Option<bool> {
        (self.groups[group.index()].as_ref() == Some(pool)).then_some(true)
    }

    fn referenced_pools(&self) -> Vec<PoolName> {
        self.groups.iter().flatten().cloned().collect()
    }
}
