//! `kind = "relations"`: declare which cross-pool references the service handles.

use crate::{EntityGroup, PoolName, RoutingContext, RoutingPolicy};

/// Answers `allow_relation = Some(true)` for listed group pairs (either order) and passes
/// otherwise. Listing a pair says "the service keeps these as soft references (no foreign
/// key, cascades in code) when they land on different pools".
#[derive(Debug)]
pub(crate) struct RelationsPolicy {
    allowed: [[bool; 4]; 4],
}

impl RelationsPolicy {
    pub(crate) fn new(pairs: &[[EntityGroup; 2]]) -> Self {
        let mut allowed = [[false; 4]; 4];
        for [a, b] in pairs {
            allowed[a.index()][b.index()] = true;
            allowed[b.index()][a.index()] = true;
        }
        RelationsPolicy { allowed }
    }
}

impl RoutingPolicy for RelationsPolicy {
    fn name(&self) -> String {
        "relations".to_owned()
    }

    fn db_for_read(&self, _group: EntityGroup, _ctx: &RoutingContext<'_>) -> Option<PoolName> {
        None
    }

    fn db_for_write(&self, _group: EntityGroup, _ctx: &RoutingContext<'_>) -> Option<PoolName> {
        None
    }

    fn allow_relation(
        &self,
        a: (EntityGroup, &PoolName),
        b: (EntityGroup, &PoolName),
    ) -> Option<bool> {
        self.allowed[a.0.index()][b.0.index()].then_some(true)
    }

    fn allow_migrate(&self, _pool: &PoolName, _group: EntityGroup) -> Option<bool> {
        None
    }
}
