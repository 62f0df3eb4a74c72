//! One test per valid shape and per violation kind.

use super::*;
use crate::{PolicyConfig, PoolSpec, RoutingPolicy};
use EntityGroup::*;

fn pool(s: &str) -> PoolName {
    PoolName::new(s).unwrap()
}

fn slug(s: &str) -> TenantSlug {
    TenantSlug::new(s).unwrap()
}

fn primary(s: &str) -> PoolSpec {
    PoolSpec::primary(pool(s))
}

fn replica(s: &str, of: &str) -> PoolSpec {
    PoolSpec::replica(pool(s), pool(of))
}

fn statics(pairs: &[(EntityGroup, &str)]) -> PolicyConfig {
    PolicyConfig::Static {
        groups: pairs.iter().map(|(g, p)| (*g, pool(p))).collect(),
    }
}

fn shards(groups: &[EntityGroup], pools: &[&str]) -> PolicyConfig {
    PolicyConfig::Shards {
        groups: groups.to_vec(),
        pools: pools.iter().map(|p| pool(p)).collect(),
    }
}

fn replicas(groups: &[EntityGroup], pools: &[&str]) -> PolicyConfig {
    PolicyConfig::Replicas {
        groups: groups.to_vec(),
        pools: pools.iter().map(|p| pool(p)).collect(),
    }
}

fn tenant_map(tenant: &str, pairs: &[(EntityGroup, &str)]) -> PolicyConfig {
    PolicyConfig::TenantMap {
        tenants: [(
            slug(tenant),
            pairs.iter().map(|(g, p)| (*g, pool(p))).collect(),
        )]
        .into(),
    }
}

fn relations() -> PolicyConfig {
    PolicyConfig::Relations {
        allow: vec![[Tokens, Applications], [Tokens, Users]],
    }
}

fn placement(pairs: &[(EntityGroup, &str)]) -> Placement {
    pairs.iter().map(|(g, p)| (*g, pool(p))).collect()
}

/// main + two token shards + a users read replica: the deploy/ sharded example.
fn sharded() -> Router {
    Router::from_config(
        vec![
            primary("main"),
            replica("main-replica", "main"),
            primary("shard-1"),
            primary("shard-2"),
        ],
        &[
            // Replicas first: the first answer wins, and static answers reads too.
            replicas(&[Users], &["main-replica"]),
            statics(&[(Tenants, "main"), (Users, "main"), (Applications, "main")]),
            shards(&[Tokens], &["shard-1", "shard-2"]),
            relations(),
        ],
    )
}

fn route(read: &str, write: &str) -> Route {
    Route {
        read: pool(read),
        write: pool(write),
    }
}

fn violations(router: &Router, tenants: &[TenantEntry]) -> Vec<Violation> {
    match router.validate(tenants) {
        Ok(table) => panic!("expected violations, got\n{}", table.render()),
        Err(v) => v,
    }
}

fn assert_has(found: &[Violation], expected: &Violation) {
    assert!(
        found.contains(expected),
        "missing {expected:?}\nfound:\n{}",
        found.iter().map(|v| format!("  {v}\n")).collect::<String>()
    );
}

#[test]
fn sharded_config_validates_with_expected_routes() {
    let router = sharded();
    let (acme, globex) = (slug("acme"), slug("globex"));
    let stored = placement(&[
        (Tenants, "main"),
        (Users, "main"),
        (Applications, "main"),
        (Tokens, "shard-2"),
    ]);
    let table = router
        .validate(&[
            TenantEntry::created(acme.clone(), stored),
            TenantEntry::declared(globex.clone()),
        ])
        .unwrap();
    assert_eq!(table.directory, route("main", "main"));
    assert_eq!(table.route(&acme, Tenants), Some(&route("main", "main")));
    assert_eq!(
        table.route(&acme, Users),
        Some(&route("main-replica", "main"))
    );
    assert_eq!(
        table.route(&acme, Applications),
        Some(&route("main", "main"))
    );
    assert_eq!(
        table.route(&acme, Tokens),
        Some(&route("shard-2", "shard-2"))
    );
    // globex is new: the frozen hash places its tokens.
    let globex_shard = crate::pick_pool(&globex, &[pool("shard-1"), pool("shard-2")])
        .unwrap()
        .clone();
    assert_eq!(
        table.route(&globex, Tokens),
        Some(&Route {
            read: globex_shard.clone(),
            write: globex_shard.clone()
        })
    );
    assert_eq!(table.route(&slug("nobody"), Tokens), None);
    let expected: BTreeMap<PoolName, BTreeSet<EntityGroup>> = [
        (pool("main"), [Tenants, Users, Applications].into()),
        (pool("shard-1"), [Tokens].into()),
        (pool("shard-2"), [Tokens].into()),
    ]
    .into();
    assert_eq!(table.migrations, expected);
}

#[test]
fn render_is_aligned_and_deterministic() {
    let router = sharded();
    let stored = placement(&[(Tokens, "shard-2")]);
    let table = router
        .validate(&[TenantEntry::created(slug("acme"), stored)])
        .unwrap();
    let expected = "\
TENANT       GROUP         READ          WRITE
(directory)  tenants       main          main
acme         tenants       main          main
acme         users         main-replica  main
acme         applications  main          main
acme         tokens        shard-2       shard-2
migrations:
  main: tenants, users, applications
  shard-1: tokens
  shard-2: tokens
";
    assert_eq!(table.render(), expected);
    assert_eq!(
        table.render(),
        router
            .validate(&[TenantEntry::created(
                slug("acme"),
                placement(&[(Tokens, "shard-2")])
            )])
            .unwrap()
            .render()
    );
}

#[test]
fn default_only_config() {
    let router = Router::new(vec![primary("default")], vec![]);
    let table = router.validate(&[]).unwrap();
    assert_eq!(table.directory, route("default", "default"));
    // Tenants created later go to `default`: every group is planned there already.
    assert_eq!(
        table.migrations,
        [(pool("default"), EntityGroup::ALL.into())].into()
    );
    let table = router
        .validate(&[TenantEntry::declared(slug("acme"))])
        .unwrap();
    assert_eq!(
        table.migrations,
        [(pool("default"), EntityGroup::ALL.into())].into()
    );
    assert!(
        table
            .render()
            .contains("  default: tenants, users, applications, tokens\n")
    );
}

#[test]
fn shards_migrate_on_every_shard_before_any_tenant() {
    let router = Router::from_config(
        vec![
            primary("main"),
            primary("shard-1"),
            primary("shard-2"),
            primary("spare"),
        ],
        &[
            statics(&[(Tenants, "main")]),
            shards(&[Tokens], &["shard-1", "shard-2"]),
        ],
    );
    let table = router.validate(&[]).unwrap();
    assert_eq!(table.migrations[&pool("main")], [Tenants].into());
    assert_eq!(table.migrations[&pool("shard-1")], [Tokens].into());
    assert_eq!(table.migrations[&pool("shard-2")], [Tokens].into());
    // Every non-replica pool is listed, even when nothing migrates there.
    assert_eq!(table.migrations[&pool("spare")], BTreeSet::new());
    assert!(table.render().contains("  spare: (none)\n"));
}

#[test]
fn tenant_map_routes_one_tenant_elsewhere() {
    let router = Router::from_config(
        vec![primary("main"), primary("acme-db")],
        &[
            tenant_map(
                "acme",
                &[
                    (Users, "acme-db"),
                    (Applications, "acme-db"),
                    (Tokens, "acme-db"),
                ],
            ),
            statics(&[
                (Tenants, "main"),
                (Users, "main"),
                (Applications, "main"),
                (Tokens, "main"),
            ]),
        ],
    );
    let (acme, globex) = (slug("acme"), slug("globex"));
    let table = router
        .validate(&[
            TenantEntry::declared(acme.clone()),
            TenantEntry::declared(globex.clone()),
        ])
        .unwrap();
    assert_eq!(
        table.route(&acme, Tokens),
        Some(&route("acme-db", "acme-db"))
    );
    assert_eq!(table.route(&acme, Tenants), Some(&route("main", "main")));
    assert_eq!(table.route(&globex, Tokens), Some(&route("main", "main")));
    assert_eq!(
        table.migrations[&pool("acme-db")],
        [Users, Applications, Tokens].into()
    );
}

#[test]
fn unknown_pool_from_policy() {
    let router = Router::from_config(
        vec![primary("main")],
        &[statics(&[
            (Tenants, "main"),
            (Users, "main"),
            (Applications, "main"),
            (Tokens, "tokns"),
        ])],
    );
    let v = violations(&router, &[TenantEntry::declared(slug("acme"))]);
    assert_has(
        &v,
        &Violation::UnknownPool {
            tenant: Some(slug("acme")),
            group: Some(Tokens),
            pool: pool("tokns"),
            source_of: "policy static".into(),
        },
    );
    // Reported at configuration level too, even without tenants.
    let v = violations(&router, &[]);
    assert_eq!(
        v,
        vec![Violation::UnknownPool {
            tenant: None,
            group: None,
            pool: pool("tokns"),
            source_of: "policy static".into(),
        }]
    );
}

#[test]
fn unknown_pool_from_default_fallback() {
    let router = Router::new(vec![primary("main")], vec![]);
    let v = violations(&router, &[]);
    assert_has(
        &v,
        &Violation::UnknownPool {
            tenant: None,
            group: Some(Tenants),
            pool: pool("default"),
            source_of: "default fallback (no policy answered)".into(),
        },
    );
    assert!(
        v[0].to_string()
            .starts_with("tenant directory: tenants routed to unknown pool \"default\"")
    );
}

#[test]
fn unknown_pool_from_stored_placement_is_reported_once() {
    let router = sharded();
    let stored = placement(&[(Tokens, "shard-0")]);
    let v = violations(&router, &[TenantEntry::created(slug("acme"), stored)]);
    assert_eq!(
        v,
        vec![Violation::UnknownPool {
            tenant: Some(slug("acme")),
            group: Some(Tokens),
            pool: pool("shard-0"),
            source_of: "stored placement".into(),
        }]
    );
}

#[test]
fn unknown_pool_from_replica_of() {
    let router = Router::new(vec![primary("default"), replica("ro", "mian")], vec![]);
    let v = violations(&router, &[]);
    assert_has(
        &v,
        &Violation::UnknownPool {
            tenant: None,
            group: None,
            pool: pool("mian"),
            source_of: "replica_of of pool \"ro\"".into(),
        },
    );
}

#[test]
fn unknown_pool_in_a_shard_list_is_reported_before_any_tenant_uses_it() {
    let router = Router::from_config(
        vec![primary("default"), primary("shard-1")],
        &[shards(&[Tokens], &["shard-1", "shard-2"])],
    );
    let v = violations(&router, &[]);
    assert_eq!(
        v,
        vec![Violation::UnknownPool {
            tenant: None,
            group: None,
            pool: pool("shard-2"),
            source_of: "policy shards(tokens)".into(),
        }]
    );
}

#[test]
fn tokens_split_across_primaries() {
    // A "replicas" policy pointed at a primary: reads leave the write pool.
    let router = Router::from_config(
        vec![primary("default"), primary("other")],
        &[replicas(&[Tokens], &["other"]), relations()],
    );
    let v = violations(&router, &[TenantEntry::declared(slug("acme"))]);
    assert_has(
        &v,
        &Violation::TokensSplit {
            tenant: slug("acme"),
            read: pool("other"),
            write: pool("default"),
        },
    );
    assert_eq!(
        v[0].to_string(),
        "tenant \"acme\": tokens read from pool \"other\" but written to pool \"default\" \
         (one transaction must cover a tenant's token writes and reads go to the primary)"
    );
}

#[test]
fn token_reads_on_replica() {
    let router = Router::from_config(
        vec![primary("default"), replica("ro", "default")],
        &[replicas(&[Users, Tokens], &["ro"])],
    );
    let v = violations(&router, &[TenantEntry::declared(slug("acme"))]);
    assert_has(
        &v,
        &Violation::TokenReadsOnReplica {
            tenant: slug("acme"),
            pool: pool("ro"),
        },
    );
    assert_has(
        &v,
        &Violation::TokensSplit {
            tenant: slug("acme"),
            read: pool("ro"),
            write: pool("default"),
        },
    );
    // User reads on the replica are fine.
    assert_eq!(v.len(), 2, "{v:?}");
}

#[test]
fn writes_on_replica() {
    let router = Router::from_config(
        vec![primary("default"), replica("ro", "default")],
        &[statics(&[(Applications, "ro")]), relations()],
    );
    let v = violations(&router, &[TenantEntry::declared(slug("acme"))]);
    assert_has(
        &v,
        &Violation::WritesOnReplica {
            tenant: slug("acme"),
            group: Applications,
            pool: pool("ro"),
        },
    );
}

#[test]
fn directory_on_replica() {
    let router = Router::from_config(
        vec![primary("default"), replica("ro", "default")],
        &[statics(&[(Tenants, "ro")])],
    );
    let v = violations(&router, &[]);
    assert_has(&v, &Violation::DirectoryOnReplica { pool: pool("ro") });
    assert_has(&v, &Violation::GroupNeverMigrated { group: Tenants });
}

#[test]
fn directory_on_a_pool_that_refuses_to_migrate_it() {
    // Another pool migrates `tenants` (so the group is migrated somewhere), but the
    // directory itself is written where its table would not exist.
    let router = Router::new(
        vec![primary("main"), primary("dir")],
        vec![
            Box::new(RefuseMigrate(pool("dir"), Tenants)),
            statics(&[(Tenants, "dir")]).build(),
            statics(&[(Tenants, "main")]).build(),
        ],
    );
    let v = violations(&router, &[]);
    assert_has(&v, &Violation::DirectoryNotMigrated { pool: pool("dir") });
}

/// A custom policy: some pool refuses to migrate some group.
#[derive(Debug)]
struct RefuseMigrate(PoolName, EntityGroup);

impl RoutingPolicy for RefuseMigrate {
    fn name(&self) -> String {
        "refuse".into()
    }
    fn db_for_read(&self, _: EntityGroup, _: &RoutingContext<'_>) -> Option<PoolName> {
        None
    }
    fn db_for_write(&self, _: EntityGroup, _: &RoutingContext<'_>) -> Option<PoolName> {
        None
    }
    fn allow_relation(
        &self,
        _: (EntityGroup, &PoolName),
        _: (EntityGroup, &PoolName),
    ) -> Option<bool> {
        None
    }
    fn allow_migrate(&self, pool: &PoolName, group: EntityGroup) -> Option<bool> {
        (*pool == self.0 && group == self.1).then_some(false)
    }
}

#[test]
fn write_pool_refusing_migration() {
    let router = Router::new(
        vec![primary("default")],
        vec![Box::new(RefuseMigrate(pool("default"), Users))],
    );
    let v = violations(&router, &[TenantEntry::declared(slug("acme"))]);
    assert_has(
        &v,
        &Violation::NotMigrated {
            tenant: slug("acme"),
            group: Users,
            pool: pool("default"),
        },
    );
    assert_has(&v, &Violation::GroupNeverMigrated { group: Users });
    assert_eq!(v.len(), 2, "{v:?}");
}

#[test]
fn group_never_migrated_only_matters_with_tenants_except_tenants_group() {
    // Users are refused on the only pool: with no tenant yet that is fine...
    let router = Router::new(
        vec![primary("default")],
        vec![Box::new(RefuseMigrate(pool("default"), Users))],
    );
    assert!(router.validate(&[]).is_ok());
    // ...but the tenants group must always be migrated somewhere.
    let router = Router::new(
        vec![primary("default")],
        vec![Box::new(RefuseMigrate(pool("default"), Tenants))],
    );
    assert_eq!(
        violations(&router, &[]),
        vec![
            Violation::DirectoryNotMigrated {
                pool: pool("default")
            },
            Violation::GroupNeverMigrated { group: Tenants }
        ]
    );
}

#[test]
fn relation_across_pools_refused_without_relations_policy() {
    let router = Router::from_config(
        vec![primary("main"), primary("shard-1")],
        &[
            statics(&[(Tenants, "main"), (Users, "main"), (Applications, "main")]),
            shards(&[Tokens], &["shard-1"]),
        ],
    );
    let v = violations(&router, &[TenantEntry::declared(slug("acme"))]);
    for to in [Applications, Users] {
        assert_has(
            &v,
            &Violation::RelationRefused {
                tenant: slug("acme"),
                from: Tokens,
                from_pool: pool("shard-1"),
                to,
                to_pool: pool("main"),
            },
        );
    }
    assert_eq!(v.len(), 2, "{v:?}");
    // Declaring the soft references makes the same layout valid.
    let router = Router::from_config(
        vec![primary("main"), primary("shard-1")],
        &[
            statics(&[(Tenants, "main"), (Users, "main"), (Applications, "main")]),
            shards(&[Tokens], &["shard-1"]),
            relations(),
        ],
    );
    assert!(
        router
            .validate(&[TenantEntry::declared(slug("acme"))])
            .is_ok()
    );
}

#[test]
fn applications_to_users_relation_is_checked() {
    let router = Router::from_config(
        vec![primary("main"), primary("apps")],
        &[
            statics(&[
                (Tenants, "main"),
                (Users, "main"),
                (Applications, "apps"),
                (Tokens, "apps"),
            ]),
            relations(),
        ],
    );
    let v = violations(&router, &[TenantEntry::declared(slug("acme"))]);
    assert_eq!(
        v,
        vec![Violation::RelationRefused {
            tenant: slug("acme"),
            from: Applications,
            from_pool: pool("apps"),
            to: Users,
            to_pool: pool("main"),
        }]
    );
}

#[test]
fn placement_moved_when_an_earlier_policy_now_answers_differently() {
    let pools = vec![primary("main"), primary("shard-1"), primary("shard-2")];
    let base = [
        statics(&[(Tenants, "main"), (Users, "main"), (Applications, "main")]),
        shards(&[Tokens], &["shard-1", "shard-2"]),
        relations(),
    ];
    let stored = placement(&[(Tokens, "shard-1")]);
    let tenants = [TenantEntry::created(slug("acme"), stored)];
    // Shards alone answers from stored placement: nothing moves.
    assert!(
        Router::from_config(pools.clone(), &base)
            .validate(&tenants)
            .is_ok()
    );
    // A tenant_map put ahead of it now sends acme's tokens elsewhere.
    let mut moved = vec![tenant_map("acme", &[(Tokens, "shard-2")])];
    moved.extend(base);
    let v = violations(&Router::from_config(pools, &moved), &tenants);
    assert_eq!(
        v,
        vec![Violation::PlacementMoved {
            tenant: slug("acme"),
            group: Tokens,
            stored: pool("shard-1"),
            routed: pool("shard-2"),
        }]
    );
}

#[test]
fn adding_a_shard_never_moves_placed_tenants() {
    let two = Router::from_config(
        vec![primary("default"), primary("s1"), primary("s2")],
        &[shards(&[Tokens], &["s1", "s2"]), relations()],
    );
    let tenants: Vec<TenantEntry> = (0..50)
        .map(|i| {
            let t = slug(&format!("t{i}"));
            let p = two.place_new_tenant(&t);
            TenantEntry::created(t, p)
        })
        .collect();
    let three = Router::from_config(
        vec![
            primary("default"),
            primary("s1"),
            primary("s2"),
            primary("s3"),
        ],
        &[shards(&[Tokens], &["s1", "s2", "s3"]), relations()],
    );
    let table = three.validate(&tenants).unwrap();
    for t in &tenants {
        let stored = t.stored.as_ref().unwrap().get(Tokens).unwrap();
        assert_eq!(&table.route(&t.slug, Tokens).unwrap().write, stored);
    }
}

#[test]
fn tenants_group_split_from_directory() {
    let router = Router::from_config(
        vec![primary("default"), primary("keys")],
        &[tenant_map("acme", &[(Tenants, "keys")])],
    );
    let v = violations(&router, &[TenantEntry::declared(slug("acme"))]);
    assert_eq!(
        v,
        vec![Violation::TenantsGroupSplit {
            tenant: slug("acme"),
            pool: pool("keys"),
            directory: pool("default"),
        }]
    );
}

#[test]
fn collects_every_violation_once() {
    let router = Router::from_config(
        vec![primary("main"), replica("ro", "main"), primary("shard-1")],
        &[
            statics(&[(Tenants, "main"), (Users, "ro"), (Applications, "gone")]),
            replicas(&[Tokens], &["ro"]),
            shards(&[Tokens], &["shard-1"]),
        ],
    );
    let tenants: Vec<TenantEntry> = ["a", "b", "c"]
        .iter()
        .map(|t| TenantEntry::declared(slug(t)))
        .collect();
    let v = violations(&router, &tenants);
    // Per tenant: users written to a replica, applications on an unknown pool (read and
    // write deduplicated into one), tokens split and read on a replica, tokens->users
    // relation refused (applications is unknown, so its relations are not judged).
    let per_tenant = 5;
    // Plus: "gone" at configuration level, users and applications never migrated.
    assert_eq!(v.len(), 3 * per_tenant + 3, "{v:#?}");
    let unique: HashSet<&Violation> = v.iter().collect();
    assert_eq!(unique.len(), v.len());
    for t in ["a", "b", "c"] {
        assert_has(
            &v,
            &Violation::UnknownPool {
                tenant: Some(slug(t)),
                group: Some(Applications),
                pool: pool("gone"),
                source_of: "policy static".into(),
            },
        );
    }
    assert_has(&v, &Violation::GroupNeverMigrated { group: Users });
    // Applications has no pool either, but its only write pool is unknown: that is
    // reported as such, and the plan simply has no applications.
    assert_has(
        &v,
        &Violation::GroupNeverMigrated {
            group: Applications,
        },
    );
}

#[test]
fn every_violation_displays_on_one_line_naming_its_parts() {
    let all = [
        Violation::UnknownPool {
            tenant: Some(slug("acme")),
            group: Some(Users),
            pool: pool("x"),
            source_of: "policy static".into(),
        },
        Violation::UnknownPool {
            tenant: None,
            group: None,
            pool: pool("x"),
            source_of: "replica_of of pool \"ro\"".into(),
        },
        Violation::TokensSplit {
            tenant: slug("acme"),
            read: pool("a"),
            write: pool("b"),
        },
        Violation::TokenReadsOnReplica {
            tenant: slug("acme"),
            pool: pool("ro"),
        },
        Violation::WritesOnReplica {
            tenant: slug("acme"),
            group: Users,
            pool: pool("ro"),
        },
        Violation::DirectoryOnReplica { pool: pool("ro") },
        Violation::NotMigrated {
            tenant: slug("acme"),
            group: Users,
            pool: pool("a"),
        },
        Violation::GroupNeverMigrated { group: Users },
        Violation::RelationRefused {
            tenant: slug("acme"),
            from: Tokens,
            from_pool: pool("a"),
            to: Users,
            to_pool: pool("b"),
        },
        Violation::PlacementMoved {
            tenant: slug("acme"),
            group: Tokens,
            stored: pool("a"),
            routed: pool("b"),
        },
        Violation::TenantsGroupSplit {
            tenant: slug("acme"),
            pool: pool("a"),
            directory: pool("b"),
        },
    ];
    for v in all {
        let s = v.to_string();
        assert!(!s.contains('\n'), "{s}");
        match &v {
            Violation::GroupNeverMigrated { .. } => assert!(s.contains("users"), "{s}"),
            Violation::DirectoryOnReplica { .. } => assert!(s.contains("tenant directory"), "{s}"),
            Violation::UnknownPool { tenant: None, .. } => assert!(s.contains("\"ro\""), "{s}"),
            _ => assert!(s.starts_with("tenant \"acme\": "), "{s}"),
        }
        for p in ["\"a\"", "\"b\"", "\"x\"", "\"ro\""] {
            if format!("{v:?}").contains(p) {
                assert!(s.contains(p), "{s} should name {p}");
            }
        }
    }
}

#[test]
fn ten_thousand_tenants_over_sixteen_pools() {
    let shard_names: Vec<String> = (1..=15).map(|i| format!("shard-{i}")).collect();
    let mut pools = vec![primary("main")];
    pools.extend(shard_names.iter().map(|s| primary(s)));
    let router = Router::from_config(
        pools,
        &[
            statics(&[(Tenants, "main"), (Users, "main"), (Applications, "main")]),
            PolicyConfig::Shards {
                groups: vec![Tokens],
                pools: shard_names.iter().map(|s| pool(s)).collect(),
            },
            relations(),
        ],
    );
    let tenants: Vec<TenantEntry> = (0..10_000)
        .map(|i| {
            let t = slug(&format!("tenant-{i}"));
            // Half created (stored placement), half declared only.
            if i % 2 == 0 {
                let p = router.place_new_tenant(&t);
                TenantEntry::created(t, p)
            } else {
                TenantEntry::declared(t)
            }
        })
        .collect();
    let start = std::time::Instant::now();
    let table = router.validate(&tenants).unwrap();
    let took = start.elapsed();
    eprintln!("validate: 10,000 tenants over 16 pools in {took:?}");
    assert_eq!(table.tenants.len(), 10_000);
    assert_eq!(table.migrations.len(), 16);
    // Generous bound for unoptimised test builds on a shared machine; release is
    // measured separately and is far below 100 ms.
    assert!(took < std::time::Duration::from_secs(2), "{took:?}");
}

#[test]
fn duplicate_slug_keeps_the_stored_entry() {
    let router = sharded();
    let acme = slug("acme");
    let stored = placement(&[(Tokens, "shard-2")]);
    for tenants in [
        vec![
            TenantEntry::created(acme.clone(), stored.clone()),
            TenantEntry::declared(acme.clone()),
        ],
        vec![
            TenantEntry::declared(acme.clone()),
            TenantEntry::created(acme.clone(), stored.clone()),
        ],
    ] {
        let table = router.validate(&tenants).unwrap();
        assert_eq!(table.tenants.len(), 1);
        assert_eq!(
            table.route(&acme, Tokens),
            Some(&route("shard-2", "shard-2"))
        );
    }
    // Both entries are checked.
    let tenants = [
        TenantEntry::created(acme.clone(), placement(&[(Tokens, "shard-9")])),
        TenantEntry::created(acme.clone(), stored),
    ];
    assert_has(
        &violations(&router, &tenants),
        &Violation::UnknownPool {
            tenant: Some(acme),
            group: Some(Tokens),
            pool: pool("shard-9"),
            source_of: "stored placement".into(),
        },
    );
}
