//! The built-in policy kinds and their TOML configuration.
//!
//! ```toml
//! [[router.policies]]
//! kind = "static"
//! groups = { tenants = "main", users = "main", applications = "main" }
//!
//! [[router.policies]]
//! kind = "shards"
//! groups = ["tokens"]
//! pools = ["shard-1", "shard-2"]
//! ```

mod relations;
mod replicas;
mod shards;
mod static_map;
mod tenant_map;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{EntityGroup, PoolName, RoutingPolicy, TenantSlug};

/// Configuration of the built-in policies, as written in TOML under `[[router.policies]]`.
///
/// Internally tagged by `kind`. Unknown fields are an error in every variant
/// (`deny_unknown_fields` on the enum applies to each variant's fields), so a typo in a
/// routing rule stops startup instead of silently routing to `default`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum PolicyConfig {
    /// `kind = "static"`: `groups = { users = "main", applications = "main" }`.
    Static {
        /// Pool of each listed group, for every tenant and the directory.
        groups: BTreeMap<EntityGroup, PoolName>,
    },
    /// `kind = "tenant_map"`: `tenants = { acme = { tokens = "shard-2" } }`.
    TenantMap {
        /// Per-tenant pools of listed groups.
        tenants: BTreeMap<TenantSlug, BTreeMap<EntityGroup, PoolName>>,
    },
    /// `kind = "shards"`: `groups = ["tokens"]`, `pools = ["shard-1", "shard-2"]`.
    ///
    /// Answers reads and writes of its groups from the tenant's stored placement when it
    /// has one; otherwise (a new tenant) picks `pools[stable_hash(slug) % pools.len()]`
    /// (FNV-1a 64, written by hand, so it never changes between releases).
    /// `allow_migrate(pool in pools, group in groups) = Some(true)`.
    Shards {
        /// Groups placed by this policy.
        groups: Vec<EntityGroup>,
        /// Shard pools, in placement order (append only: reordering moves new tenants).
        pools: Vec<PoolName>,
    },
    /// `kind = "replicas"`: `groups = ["users"]`, `pools = ["main-replica"]`.
    ///
    /// `db_for_read` of its groups -> `pools[stable_hash(slug) % len]`;
    /// `allow_migrate(replica pool, _) = Some(false)`. List it *before* the policy that
    /// places those groups: the first answer wins, and `static` answers reads too.
    Replicas {
        /// Groups whose reads go to the replicas.
        groups: Vec<EntityGroup>,
        /// Replica pools.
        pools: Vec<PoolName>,
    },
    /// `kind = "relations"`: `allow = [["tokens", "applications"], ["tokens", "users"]]`.
    ///
    /// `allow_relation` answers `Some(true)` for a listed pair (either order), `None`
    /// otherwise.
    Relations {
        /// Group pairs that may reference each other across pools.
        allow: Vec<[EntityGroup; 2]>,
    },
}

impl PolicyConfig {
    /// Builds the policy this configuration describes.
    pub fn build(&self) -> Box<dyn RoutingPolicy> {
        match self {
            PolicyConfig::Static { groups } => Box::new(static_map::StaticPolicy::new(groups)),
            PolicyConfig::TenantMap { tenants } => {
                Box::new(tenant_map::TenantMapPolicy::new(tenants))
            }
            PolicyConfig::Shards { groups, pools } => {
                Box::new(shards::ShardsPolicy::new(groups, pools))
            }
            PolicyConfig::Replicas { groups, pools } => {
                Box::new(replicas::ReplicasPolicy::new(groups, pools))
            }
            PolicyConfig::Relations { allow } => Box::new(relations::RelationsPolicy::new(allow)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::{Placement, RoutingContext};
    use EntityGroup::*;

    fn pool(s: &str) -> PoolName {
        PoolName::new(s).unwrap()
    }

    fn slug(s: &str) -> TenantSlug {
        TenantSlug::new(s).unwrap()
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Doc {
        policies: Vec<PolicyConfig>,
    }

    fn parse(text: &str) -> Result<Vec<PolicyConfig>, toml::de::Error> {
        toml::from_str::<Doc>(text).map(|d| d.policies)
    }

    #[test]
    fn toml_every_kind() {
        let policies = parse(
            r#"
            [[policies]]
            kind = "static"
            groups = { tenants = "main", users = "main" }

            [[policies]]
            kind = "tenant_map"
            tenants = { acme = { tokens = "shard-2" } }

            [[policies]]
            kind = "shards"
            groups = ["tokens"]
            pools = ["shard-1", "shard-2"]

            [[policies]]
            kind = "replicas"
            groups = ["users"]
            pools = ["main-replica"]

            [[policies]]
            kind = "relations"
            allow = [["tokens", "applications"], ["tokens", "users"]]
            "#,
        )
        .unwrap();
        assert_eq!(
            policies,
            vec![
                PolicyConfig::Static {
                    groups: [(Tenants, pool("main")), (Users, pool("main"))].into()
                },
                PolicyConfig::TenantMap {
                    tenants: [(slug("acme"), [(Tokens, pool("shard-2"))].into())].into()
                },
                PolicyConfig::Shards {
                    groups: vec![Tokens],
                    pools: vec![pool("shard-1"), pool("shard-2")]
                },
                PolicyConfig::Replicas {
                    groups: vec![Users],
                    pools: vec![pool("main-replica")]
                },
                PolicyConfig::Relations {
                    allow: vec![[Tokens, Applications], [Tokens, Users]]
                },
            ]
        );
        // Serialising gives back the same configuration.
        #[derive(Serialize)]
        struct Out<'a> {
            policies: &'a [PolicyConfig],
        }
        let text = toml::to_string(&Out {
            policies: &policies,
        })
        .unwrap();
        assert_eq!(parse(&text).unwrap(), policies);
    }

    #[test]
    fn toml_unknown_field_is_an_error() {
        let err = parse(
            r#"
            [[policies]]
            kind = "shards"
            groups = ["tokens"]
            pool = ["shard-1"]
            "#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("unknown field `pool`"), "{err}");

        let err = parse(
            r#"
            [[policies]]
            kind = "static"
            groups = { users = "main" }
            fallback = "main"
            "#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("unknown field `fallback`"), "{err}");
    }

    #[test]
    fn toml_unknown_group_is_an_error() {
        for text in [
            "[[policies]]\nkind = \"static\"\ngroups = { grants = \"main\" }",
            "[[policies]]\nkind = \"shards\"\ngroups = [\"grants\"]\npools = [\"s\"]",
            "[[policies]]\nkind = \"relations\"\nallow = [[\"tokens\", \"grants\"]]",
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains("unknown variant `grants`"), "{err}");
        }
    }

    #[test]
    fn toml_unknown_kind_and_bad_names_are_errors() {
        let err = parse("[[policies]]\nkind = \"round_robin\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown variant `round_robin`"), "{err}");
        let err = parse("[[policies]]\nkind = \"static\"\ngroups = { users = \"Main\" }")
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid pool name"), "{err}");
        let err = parse("[[policies]]\nkind = \"tenant_map\"\ntenants = { Acme = {} }")
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid tenant slug"), "{err}");
    }

    #[test]
    fn static_policy() {
        let p = PolicyConfig::Static {
            groups: [(Users, pool("main")), (Tenants, pool("dir"))].into(),
        }
        .build();
        let acme = slug("acme");
        let t = RoutingContext::tenant(&acme, None);
        assert_eq!(p.name(), "static");
        assert_eq!(p.db_for_read(Users, &t), Some(pool("main")));
        assert_eq!(p.db_for_write(Users, &t), Some(pool("main")));
        assert_eq!(p.db_for_write(Tokens, &t), None);
        // Static answers for the directory too.
        assert_eq!(
            p.db_for_write(Tenants, &RoutingContext::directory()),
            Some(pool("dir"))
        );
        assert_eq!(p.allow_migrate(&pool("main"), Users), Some(true));
        assert_eq!(p.allow_migrate(&pool("main"), Tokens), None);
        assert_eq!(
            p.allow_relation((Users, &pool("a")), (Tokens, &pool("b"))),
            None
        );
    }

    #[test]
    fn tenant_map_policy() {
        let p = PolicyConfig::TenantMap {
            tenants: [(slug("acme"), [(Tokens, pool("shard-2"))].into())].into(),
        }
        .build();
        let (acme, globex) = (slug("acme"), slug("globex"));
        assert_eq!(p.name(), "tenant_map");
        let ctx = RoutingContext::tenant(&acme, None);
        assert_eq!(p.db_for_read(Tokens, &ctx), Some(pool("shard-2")));
        assert_eq!(p.db_for_write(Tokens, &ctx), Some(pool("shard-2")));
        assert_eq!(p.db_for_write(Users, &ctx), None);
        assert_eq!(
            p.db_for_write(Tokens, &RoutingContext::tenant(&globex, None)),
            None
        );
        assert_eq!(p.db_for_write(Tokens, &RoutingContext::directory()), None);
        assert_eq!(p.allow_migrate(&pool("shard-2"), Tokens), None);
        assert_eq!(p.referenced_pools(), vec![pool("shard-2")]);
    }

    #[test]
    fn shards_policy() {
        let shards = vec![pool("shard-1"), pool("shard-2"), pool("shard-3")];
        let p = PolicyConfig::Shards {
            groups: vec![Users, Tokens],
            pools: shards.clone(),
        }
        .build();
        assert_eq!(p.name(), "shards(users,tokens)");
        let acme = slug("acme");
        // New tenant: the frozen hash picks.
        let fresh = RoutingContext::tenant(&acme, None);
        let picked = crate::placement::pick_pool(&acme, &shards).cloned();
        assert!(picked.is_some());
        assert_eq!(p.db_for_write(Tokens, &fresh), picked);
        assert_eq!(p.db_for_read(Tokens, &fresh), picked);
        // Stored placement wins, even for a pool not (or no longer) in the list.
        let stored: Placement = [(Tokens, pool("old-shard"))].into_iter().collect();
        let placed = RoutingContext::tenant(&acme, Some(&stored));
        assert_eq!(p.db_for_write(Tokens, &placed), Some(pool("old-shard")));
        assert_eq!(p.db_for_read(Tokens, &placed), Some(pool("old-shard")));
        // A group missing from the stored placement falls back to the hash.
        assert_eq!(p.db_for_write(Users, &placed), picked);
        // Other groups and the directory pass.
        assert_eq!(p.db_for_write(Applications, &fresh), None);
        assert_eq!(p.db_for_write(Users, &RoutingContext::directory()), None);
        assert_eq!(p.allow_migrate(&pool("shard-3"), Tokens), Some(true));
        assert_eq!(p.allow_migrate(&pool("shard-3"), Applications), None);
        assert_eq!(p.allow_migrate(&pool("main"), Tokens), None);
        // Empty pool list: passes instead of dividing by zero.
        let empty = PolicyConfig::Shards {
            groups: vec![Tokens],
            pools: vec![],
        }
        .build();
        assert_eq!(empty.db_for_write(Tokens, &fresh), None);
    }

    #[test]
    fn replicas_policy() {
        let p = PolicyConfig::Replicas {
            groups: vec![Users],
            pools: vec![pool("main-replica")],
        }
        .build();
        assert_eq!(p.name(), "replicas(users)");
        let acme = slug("acme");
        let ctx = RoutingContext::tenant(&acme, None);
        assert_eq!(p.db_for_read(Users, &ctx), Some(pool("main-replica")));
        assert_eq!(p.db_for_write(Users, &ctx), None);
        assert_eq!(p.db_for_read(Tokens, &ctx), None);
        assert_eq!(p.db_for_read(Users, &RoutingContext::directory()), None);
        assert_eq!(p.allow_migrate(&pool("main-replica"), Users), Some(false));
        assert_eq!(p.allow_migrate(&pool("main-replica"), Tokens), Some(false));
        assert_eq!(p.allow_migrate(&pool("main"), Users), None);
    }

    #[test]
    fn relations_policy() {
        let p = PolicyConfig::Relations {
            allow: vec![[Tokens, Applications]],
        }
        .build();
        assert_eq!(p.name(), "relations");
        let (a, b) = (pool("a"), pool("b"));
        assert_eq!(
            p.allow_relation((Tokens, &a), (Applications, &b)),
            Some(true)
        );
        assert_eq!(
            p.allow_relation((Applications, &a), (Tokens, &b)),
            Some(true)
        );
        assert_eq!(p.allow_relation((Tokens, &a), (Users, &b)), None);
        assert_eq!(p.db_for_write(Tokens, &RoutingContext::directory()), None);
        assert_eq!(p.allow_migrate(&a, Tokens), None);
    }
}
