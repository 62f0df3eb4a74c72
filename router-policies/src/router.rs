//! The router: policies asked in order, `default` last.

use std::collections::BTreeMap;

use crate::{
    EntityGroup, Placement, PolicyConfig, PoolName, PoolSpec, Role, RoutingContext, RoutingPolicy,
    TenantSlug,
};

/// The router: policies asked in order, the `default` pool last.
///
/// Built once at startup from `[databases.*]` and `[[router.policies]]`; check it with
/// [`Router::validate`] before serving. Answers are pool names; the service maps them to
/// connections.
#[derive(Debug)]
pub struct Router {
    pub(crate) pools: BTreeMap<PoolName, PoolSpec>,
    pub(crate) policies: Vec<Box<dyn RoutingPolicy>>,
}

impl Router {
    /// A router over `pools`, asking `policies` in order (a later pool spec with the same
    /// name replaces an earlier one).
    pub fn new(pools: Vec<PoolSpec>, policies: Vec<Box<dyn RoutingPolicy>>) -> Self {
        let pools = pools.into_iter().map(|p| (p.name.clone(), p)).collect();
        Router { pools, policies }
    }

    /// A router over `pools` with the built-in policies `policies`, in order.
    pub fn from_config(pools: Vec<PoolSpec>, policies: &[PolicyConfig]) -> Self {
        Router::new(pools, policies.iter().map(PolicyConfig::build).collect())
    }

    /// The configured pools, by name.
    pub fn pools(&self) -> impl Iterator<Item = &PoolSpec> {
        self.pools.values()
    }

    /// The configured pool called `name`, if any.
    pub fn pool(&self, name: &str) -> Option<&PoolSpec> {
        self.pools.get(name)
    }

    /// The policies, in the order they are asked.
    pub fn policies(&self) -> &[Box<dyn RoutingPolicy>] {
        &self.policies
    }

    /// First policy answer with the index of the policy that gave it; `default` (and
    /// `None`) when every policy passes.
    pub(crate) fn resolve(
        &self,
        group: EntityGroup,
        role: Role,
        ctx: &RoutingContext<'_>,
    ) -> (PoolName, Option<usize>) {
        self.policies
            .iter()
            .enumerate()
            .find_map(|(i, p)| {
                match role {
                    Role::Read => p.db_for_read(group, ctx),
                    Role::Write => p.db_for_write(group, ctx),
                }
                .map(|pool| (pool, Some(i)))
            })
            .unwrap_or_else(|| (PoolName::default_pool(), None))
    }

    /// First policy answer, else PoolName "default" (even if no such pool: validate
    /// reports it).
    pub fn db_for(&self, group: EntityGroup, role: Role, ctx: &RoutingContext<'_>) -> PoolName {
        self.resolve(group, role, ctx).0
    }

    /// Whether a row of `a.0` on `a.1` may reference a row of `b.0` on `b.1`.
    ///
    /// Django default when nobody answers: allowed only when both sides are on the same
    /// pool.
    pub fn allow_relation(&self, a: (EntityGroup, &PoolName), b: (EntityGroup, &PoolName)) -> bool {
        self.policies
            .iter()
            .find_map(|p| p.allow_relation(a, b))
            .unwrap_or(a.1 == b.1)
    }

    /// The first policy's explicit `allow_migrate` answer, or `None` if all pass.
    ///
    /// Default when nobody answers: true iff `pool` is not a replica and some tenant's
    /// resolved write pool for `group` is `pool` (computed in validate / migration_plan,
    /// see [`RoutingTable::migrations`](crate::RoutingTable::migrations)).
    pub fn allow_migrate_explicit(&self, pool: &PoolName, group: EntityGroup) -> Option<bool> {
        self.policies
            .iter()
            .find_map(|p| p.allow_migrate(pool, group))
    }

    /// Placement for a tenant being created now: db_for_write of every group with
    /// placement = None. Store the result in the tenant directory; from then on it is
    /// sticky.
    pub fn place_new_tenant(&self, tenant: &TenantSlug) -> Placement {
        let ctx = RoutingContext::tenant(tenant, None);
        EntityGroup::ALL
            .into_iter()
            .map(|g| (g, self.db_for(g, Role::Write, &ctx)))
            .collect()
    }

    /// The tenant directory's own pool:
    /// `db_for(Tenants, Write, ctx { tenant: None, placement: None })`.
    ///
    /// validate() also reports UnknownPool / DirectoryOnReplica for it (tenant: None).
    pub fn directory_pool(&self) -> PoolName {
        self.db_for(
            EntityGroup::Tenants,
            Role::Write,
            &RoutingContext::directory(),
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use EntityGroup::*;

    fn pool(s: &str) -> PoolName {
        PoolName::new(s).unwrap()
    }

    #[test]
    fn first_answer_wins_then_default() {
        let router = Router::from_config(
            vec![PoolSpec::primary(pool("main"))],
            &[
                PolicyConfig::Static {
                    groups: [(Users, pool("main"))].into(),
                },
                PolicyConfig::Static {
                    groups: [(Users, pool("other")), (Tokens, pool("tok"))].into(),
                },
            ],
        );
        let acme = TenantSlug::new("acme").unwrap();
        let ctx = RoutingContext::tenant(&acme, None);
        assert_eq!(router.db_for(Users, Role::Write, &ctx), pool("main"));
        assert_eq!(router.db_for(Tokens, Role::Read, &ctx), pool("tok"));
        assert_eq!(
            router.db_for(Applications, Role::Read, &ctx),
            pool("default")
        );
        assert_eq!(router.directory_pool(), pool("default"));
        assert_eq!(router.pools().count(), 1);
        assert!(router.pool("main").is_some());
        assert_eq!(router.policies().len(), 2);
    }

    #[test]
    fn relation_default_is_same_pool() {
        let router = Router::new(vec![], vec![]);
        let (a, b) = (pool("a"), pool("b"));
        assert!(router.allow_relation((Tokens, &a), (Users, &a)));
        assert!(!router.allow_relation((Tokens, &a), (Users, &b)));
        let router = Router::from_config(
            vec![],
            &[PolicyConfig::Relations {
                allow: vec![[Users, Tokens]],
            }],
        );
        assert!(router.allow_relation((Tokens, &a), (Users, &b)));
    }

    #[test]
    fn place_new_tenant_covers_every_group() {
        let router = Router::from_config(
            vec![],
            &[PolicyConfig::Shards {
                groups: vec![Tokens],
                pools: vec![pool("s1"), pool("s2")],
            }],
        );
        let acme = TenantSlug::new("acme").unwrap();
        let placement = router.place_new_tenant(&acme);
        assert_eq!(placement.0.len(), 4);
        assert_eq!(placement.get(Users), Some(&pool("default")));
        assert!(matches!(
            placement.get(Tokens).map(PoolName::as_str),
            Some("s1" | "s2")
        ));
        assert_eq!(router.place_new_tenant(&acme), placement);
    }
}
