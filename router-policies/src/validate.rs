//! Startup validation: resolve every tenant × group × role, check the invariants, and
//! produce the routing table and migration plan (or every violation at once).

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::{self, Write as _};

use crate::{EntityGroup, Placement, PoolName, Role, Router, RoutingContext, TenantSlug};

/// A tenant as validation sees it: stored = placement read from the tenant directory
/// (None for a tenant declared in config but not created yet, or when checking without
/// connecting).
#[derive(Clone, Debug)]
pub struct TenantEntry {
    /// The tenant.
    pub slug: TenantSlug,
    /// Its placement as stored in the tenant directory, if known.
    pub stored: Option<Placement>,
}

impl TenantEntry {
    /// A tenant declared in configuration but not created yet (no stored placement).
    pub fn declared(slug: TenantSlug) -> Self {
        TenantEntry { slug, stored: None }
    }

    /// A tenant that exists, with the placement read from the directory.
    pub fn created(slug: TenantSlug, stored: Placement) -> Self {
        TenantEntry {
            slug,
            stored: Some(stored),
        }
    }
}

/// Where one group of one tenant is read from and written to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// Pool for queries.
    pub read: PoolName,
    /// Pool for writes and transactions.
    pub write: PoolName,
}

/// Result of a successful validation: what `tessera check` prints and what migrations run.
#[derive(Clone, Debug)]
pub struct RoutingTable {
    /// Route of the tenant directory (the `tenants` group with no tenant).
    pub directory: Route,
    /// tenant -> group -> route; BTreeMaps, so printing is deterministic.
    pub tenants: BTreeMap<TenantSlug, BTreeMap<EntityGroup, Route>>,
    /// pool -> groups migrated there (non-replica pools only; every pool listed, maybe
    /// empty).
    ///
    /// A group is migrated on a pool when the first policy answering `allow_migrate`
    /// says `Some(true)`, or, when none answers, when the pool is that group's write pool
    /// for some tenant (or the directory pool, for `tenants`). `Some(false)` always wins.
    pub migrations: BTreeMap<PoolName, BTreeSet<EntityGroup>>,
}

impl RoutingTable {
    /// The route of `group` for `tenant`, if the tenant was validated.
    pub fn route(&self, tenant: &TenantSlug, group: EntityGroup) -> Option<&Route> {
        self.tenants.get(tenant)?.get(&group)
    }

    /// Human table: one line per tenant × group under a `TENANT  GROUP  READ  WRITE`
    /// header, the directory first as tenant `(directory)`, then a `migrations:` section
    /// with `  POOL: group, group` lines. Column-aligned and deterministic.
    pub fn render(&self) -> String {
        const DIRECTORY: &str = "(directory)";
        let header = ["TENANT", "GROUP", "READ", "WRITE"];
        let rows = std::iter::once((DIRECTORY, EntityGroup::Tenants, &self.directory)).chain(
            self.tenants
                .iter()
                .flat_map(|(t, groups)| groups.iter().map(move |(g, r)| (t.as_str(), *g, r))),
        );
        let mut width = header.map(str::len);
        for (t, g, r) in rows.clone() {
            let cells = [t.len(), g.as_str().len(), r.read.as_str().len()];
            for (w, c) in width.iter_mut().zip(cells) {
                *w = (*w).max(c);
            }
        }
        let mut out = String::new();
        let mut line = |cells: [&str; 4]| {
            for (i, cell) in cells.iter().enumerate().take(3) {
                let _ = write!(out, "{cell:<w$}  ", w = width[i]);
            }
            out.push_str(cells[3]);
            out.push('\n');
        };
        line(header);
        for (t, g, r) in rows {
            line([t, g.as_str(), r.read.as_str(), r.write.as_str()]);
        }
        out.push_str("migrations:\n");
        for (pool, groups) in &self.migrations {
            let list = if groups.is_empty() {
                "(none)".to_owned()
            } else {
                groups
                    .iter()
                    .map(|g| g.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let _ = writeln!(out, "  {pool}: {list}");
        }
        out
    }
}

/// One broken rule; Display is one line naming tenant, group and pools.
///
/// Validation collects every violation (deduplicated) so an operator fixes a bad
/// configuration in one pass.
#[derive(Clone, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Violation {
    /// A pool named by a policy answer, a stored placement or a `replica_of` is not
    /// configured.
    #[error("{}", unknown_pool(.tenant.as_ref(), *.group, .pool, .source_of))]
    UnknownPool {
        /// The tenant routed there; `None` for the directory or a configuration-level
        /// reference.
        tenant: Option<TenantSlug>,
        /// The group routed there; `None` for a configuration-level reference.
        group: Option<EntityGroup>,
        /// The missing pool.
        pool: PoolName,
        /// Where the name came from: `"policy static"`, `"stored placement"`,
        /// `"replica_of of pool X"`, ...
        source_of: String,
    },
    /// A tenant's tokens are read from one pool and written to another.
    #[error(
        "tenant \"{tenant}\": tokens read from pool \"{read}\" but written to pool \"{write}\" (one transaction must cover a tenant's token writes and reads go to the primary)"
    )]
    TokensSplit {
        /// The tenant.
        tenant: TenantSlug,
        /// Its token read pool.
        read: PoolName,
        /// Its token write pool.
        write: PoolName,
    },
    /// A tenant's tokens are read from a replica, which could resurrect a revoked token.
    #[error(
        "tenant \"{tenant}\": tokens read from replica pool \"{pool}\" (token reads must go to the primary: a lagging replica could resurrect a revoked token)"
    )]
    TokenReadsOnReplica {
        /// The tenant.
        tenant: TenantSlug,
        /// The replica pool.
        pool: PoolName,
    },
    /// A group of a tenant is written to a read replica.
    #[error(
        "tenant \"{tenant}\": {group} written to replica pool \"{pool}\" (writes must go to a primary)"
    )]
    WritesOnReplica {
        /// The tenant.
        tenant: TenantSlug,
        /// The group written.
        group: EntityGroup,
        /// The replica pool.
        pool: PoolName,
    },
    /// The tenant directory is written to a read replica.
    #[error(
        "tenant directory: tenants written to replica pool \"{pool}\" (writes must go to a primary)"
    )]
    DirectoryOnReplica {
        /// The replica pool.
        pool: PoolName,
    },
    /// The tenant directory's pool refuses `allow_migrate` for `tenants`: the directory
    /// table would not exist there.
    #[error(
        "tenant directory: tenants written to pool \"{pool}\" but allow_migrate refuses tenants there (the directory table would not exist)"
    )]
    DirectoryNotMigrated {
        /// The directory's write pool.
        pool: PoolName,
    },
    /// A tenant's write pool refuses `allow_migrate` for the group: its tables would not
    /// exist there. (A replica or unknown write pool is reported as such instead.)
    #[error(
        "tenant \"{tenant}\": {group} written to pool \"{pool}\" but allow_migrate refuses {group} there (its tables would not exist)"
    )]
    NotMigrated {
        /// The tenant.
        tenant: TenantSlug,
        /// The group written.
        group: EntityGroup,
        /// The write pool that refuses the migration.
        pool: PoolName,
    },
    /// No pool migrates this group at all.
    #[error(
        "group {group}: no pool migrates it, so its tables would exist nowhere (route it to a primary pool or allow_migrate it somewhere)"
    )]
    GroupNeverMigrated {
        /// The group.
        group: EntityGroup,
    },
    /// Two related groups of a tenant are written to different pools and no policy
    /// allows that relation.
    #[error(
        "tenant \"{tenant}\": {from} on pool \"{from_pool}\" reference {to} on pool \"{to_pool}\" but no policy allows that relation across pools (add a relations policy or co-locate them)"
    )]
    RelationRefused {
        /// The tenant.
        tenant: TenantSlug,
        /// The referencing group.
        from: EntityGroup,
        /// Its write pool.
        from_pool: PoolName,
        /// The referenced group.
        to: EntityGroup,
        /// Its write pool.
        to_pool: PoolName,
    },
    /// The router now routes a tenant's group away from its stored placement: sticky
    /// placement would move live data.
    #[error(
        "tenant \"{tenant}\": {group} stored on pool \"{stored}\" but now routed to pool \"{routed}\" (placement is sticky: live data must never move silently)"
    )]
    PlacementMoved {
        /// The tenant.
        tenant: TenantSlug,
        /// The group.
        group: EntityGroup,
        /// Where its data lives.
        stored: PoolName,
        /// Where the router now writes it.
        routed: PoolName,
    },
    /// A tenant's `tenants` group (its keys) is not on the directory pool.
    #[error(
        "tenant \"{tenant}\": tenants written to pool \"{pool}\" but the tenant directory is on pool \"{directory}\" (per-tenant keys must live with the directory)"
    )]
    TenantsGroupSplit {
        /// The tenant.
        tenant: TenantSlug,
        /// Where its `tenants` group is written.
        pool: PoolName,
        /// The directory pool.
        directory: PoolName,
    },
}

fn unknown_pool(
    tenant: Option<&TenantSlug>,
    group: Option<EntityGroup>,
    pool: &PoolName,
    source_of: &str,
) -> String {
    let mut s = String::new();
    match (tenant, group) {
        (Some(t), Some(g)) => {
            let _ = write!(s, "tenant \"{t}\": {g} routed to unknown pool \"{pool}\"");
        }
        (Some(t), None) => {
            let _ = write!(s, "tenant \"{t}\": unknown pool \"{pool}\"");
        }
        (None, Some(g)) => {
            let _ = write!(s, "tenant directory: {g} routed to unknown pool \"{pool}\"");
        }
        (None, None) => {
            let _ = write!(s, "unknown pool \"{pool}\"");
        }
    }
    let _ = write!(
        s,
        " (from {source_of}; no [databases.{pool}] is configured)"
    );
    s
}

/// The relations validated per tenant, on write pools: (referencing, referenced).
const RELATIONS: [(EntityGroup, EntityGroup); 3] = [
    (EntityGroup::Tokens, EntityGroup::Applications),
    (EntityGroup::Tokens, EntityGroup::Users),
    (EntityGroup::Applications, EntityGroup::Users),
];

/// Violations in discovery order, without duplicates.
#[derive(Default)]
struct Report {
    list: Vec<Violation>,
    seen: HashSet<Violation>,
}

impl Report {
    fn push(&mut self, v: Violation) {
        if self.seen.insert(v.clone()) {
            self.list.push(v);
        }
    }
}

/// Per-validation state: pools interned to dense indices so the per-tenant loop does
/// hash lookups on `&str` and array reads, never allocations (beyond the routes kept).
struct Checker<'r> {
    router: &'r Router,
    index: HashMap<&'r str, usize>,
    names: Vec<&'r PoolName>,
    replica: Vec<bool>,
    /// First explicit allow_migrate answer per pool × group.
    explicit: Vec<[Option<bool>; 4]>,
    /// Pool × group is some tenant's (or the directory's) write pool.
    written: Vec<[bool; 4]>,
    /// allow_relation answers per (relation, from pool, to pool), asked once.
    relations: HashMap<(usize, usize, usize), bool>,
    report: Report,
}

impl<'r> Checker<'r> {
    fn new(router: &'r Router) -> Self {
        let names: Vec<&PoolName> = router.pools.keys().collect();
        let index = names
            .iter()
            .enumerate()
            .map(|(i, p)| (p.as_str(), i))
            .collect();
        let replica = router.pools.values().map(|s| s.is_replica()).collect();
        let explicit = names
            .iter()
            .map(|p| EntityGroup::ALL.map(|g| router.allow_migrate_explicit(p, g)))
            .collect();
        Checker {
            router,
            index,
            written: vec![[false; 4]; names.len()],
            names,
            replica,
            explicit,
            relations: HashMap::new(),
            report: Report::default(),
        }
    }

    fn source(&self, answered_by: Option<usize>) -> String {
        match answered_by.and_then(|i| self.router.policies.get(i)) {
            Some(p) => format!("policy {}", p.name()),
            None => "default fallback (no policy answered)".to_owned(),
        }
    }

    /// Pools referenced by configuration rather than by a route.
    fn check_config(&mut self) {
        let router = self.router;
        for spec in router.pools.values() {
            if let Some(primary) = &spec.replica_of
                && !self.index.contains_key(primary.as_str())
            {
                self.report.push(Violation::UnknownPool {
                    tenant: None,
                    group: None,
                    pool: primary.clone(),
                    source_of: format!("replica_of of pool \"{}\"", spec.name),
                });
            }
        }
        for policy in &router.policies {
            for pool in policy.referenced_pools() {
                if !self.index.contains_key(pool.as_str()) {
                    self.report.push(Violation::UnknownPool {
                        tenant: None,
                        group: None,
                        pool,
                        source_of: format!("policy {}", policy.name()),
                    });
                }
            }
        }
    }

    /// Index of a routed pool, reporting it when unknown (unless it merely repeats the
    /// stored placement, which is reported once as such).
    fn known(
        &mut self,
        tenant: Option<&TenantSlug>,
        group: EntityGroup,
        pool: &PoolName,
        answered_by: Option<usize>,
        stored: Option<&PoolName>,
    ) -> Option<usize> {
        let i = self.index.get(pool.as_str()).copied();
        if i.is_none() && stored != Some(pool) {
            let source_of = self.source(answered_by);
            self.report.push(Violation::UnknownPool {
                tenant: tenant.cloned(),
                group: Some(group),
                pool: pool.clone(),
                source_of,
            });
        }
        i
    }

    fn check_directory(&mut self) -> Route {
        let ctx = RoutingContext::directory();
        let g = EntityGroup::Tenants;
        let (read, read_by) = self.router.resolve(g, Role::Read, &ctx);
        let (write, write_by) = self.router.resolve(g, Role::Write, &ctx);
        self.known(None, g, &read, read_by, None);
        if let Some(w) = self.known(None, g, &write, write_by, None) {
            if self.replica[w] {
                self.report.push(Violation::DirectoryOnReplica {
                    pool: write.clone(),
                });
            } else if self.explicit[w][g.index()] == Some(false) {
                self.report.push(Violation::DirectoryNotMigrated {
                    pool: write.clone(),
                });
            } else {
                self.written[w][g.index()] = true;
            }
        }
        Route { read, write }
    }

    fn check_tenant(
        &mut self,
        entry: &TenantEntry,
        directory: &PoolName,
    ) -> BTreeMap<EntityGroup, Route> {
        let tenant = &entry.slug;
        let stored = entry.stored.as_ref();
        let ctx = RoutingContext::tenant(tenant, stored);
        if let Some(placement) = stored {
            for (g, pool) in placement.iter() {
                if !self.index.contains_key(pool.as_str()) {
                    self.report.push(Violation::UnknownPool {
                        tenant: Some(tenant.clone()),
                        group: Some(g),
                        pool: pool.clone(),
                        source_of: "stored placement".to_owned(),
                    });
                }
            }
        }
        let mut write_index: [Option<usize>; 4] = [None; 4];
        let mut routes = BTreeMap::new();
        for g in EntityGroup::ALL {
            let stored_pool = stored.and_then(|p| p.get(g));
            let (read, read_by) = self.router.resolve(g, Role::Read, &ctx);
            let (write, write_by) = self.router.resolve(g, Role::Write, &ctx);
            let r = self.known(Some(tenant), g, &read, read_by, stored_pool);
            let w = self.known(Some(tenant), g, &write, write_by, stored_pool);
            write_index[g.index()] = w;
            if let Some(w) = w {
                if self.replica[w] {
                    self.report.push(Violation::WritesOnReplica {
                        tenant: tenant.clone(),
                        group: g,
                        pool: write.clone(),
                    });
                } else if self.explicit[w][g.index()] == Some(false) {
                    self.report.push(Violation::NotMigrated {
                        tenant: tenant.clone(),
                        group: g,
                        pool: write.clone(),
                    });
                } else {
                    self.written[w][g.index()] = true;
                }
            }
            if g == EntityGroup::Tokens {
                if read != write {
                    self.report.push(Violation::TokensSplit {
                        tenant: tenant.clone(),
                        read: read.clone(),
                        write: write.clone(),
                    });
                }
                if r.is_some_and(|r| self.replica[r]) {
                    self.report.push(Violation::TokenReadsOnReplica {
                        tenant: tenant.clone(),
                        pool: read.clone(),
                    });
                }
            }
            if g == EntityGroup::Tenants && write != *directory {
                self.report.push(Violation::TenantsGroupSplit {
                    tenant: tenant.clone(),
                    pool: write.clone(),
                    directory: directory.clone(),
                });
            }
            if let Some(stored_pool) = stored_pool
                && *stored_pool != write
            {
                self.report.push(Violation::PlacementMoved {
                    tenant: tenant.clone(),
                    group: g,
                    stored: stored_pool.clone(),
                    routed: write.clone(),
                });
            }
            routes.insert(g, Route { read, write });
        }
        for (n, (from, to)) in RELATIONS.into_iter().enumerate() {
            let (Some(a), Some(b)) = (write_index[from.index()], write_index[to.index()]) else {
                continue; // an unknown pool is already reported
            };
            if a == b {
                continue;
            }
            let (from_pool, to_pool) = (self.names[a], self.names[b]);
            let router = self.router;
            let allowed = *self
                .relations
                .entry((n, a, b))
                .or_insert_with(|| router.allow_relation((from, from_pool), (to, to_pool)));
            if !allowed {
                self.report.push(Violation::RelationRefused {
                    tenant: tenant.clone(),
                    from,
                    from_pool: from_pool.clone(),
                    to,
                    to_pool: to_pool.clone(),
                });
            }
        }
        routes
    }

    /// Marks the pools a tenant created later would be written to (no stored
    /// placement, no pin), so their tables exist before the first tenant does.
    /// Problems with that route are reported when such a tenant is created.
    fn plan_prospective_tenant(&mut self) {
        let slug = TenantSlug::prospective();
        let ctx = RoutingContext::tenant(&slug, None);
        for g in EntityGroup::ALL {
            let (write, _) = self.router.resolve(g, Role::Write, &ctx);
            if let Some(&w) = self.index.get(write.as_str())
                && !self.replica[w]
                && self.explicit[w][g.index()] != Some(false)
            {
                self.written[w][g.index()] = true;
            }
        }
    }

    fn migration_plan(&self) -> BTreeMap<PoolName, BTreeSet<EntityGroup>> {
        self.names
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.replica[*i])
            .map(|(i, name)| {
                let groups = EntityGroup::ALL
                    .into_iter()
                    .filter(|g| self.explicit[i][g.index()].unwrap_or(self.written[i][g.index()]))
                    .collect();
                ((*name).clone(), groups)
            })
            .collect()
    }
}

impl Router {
    /// Resolve every tenant × group × role and check the invariants. Returns the table or
    /// ALL violations (never stops at the first), deduplicated, in discovery order:
    /// configuration, directory, tenants in input order, then groups never migrated.
    ///
    /// A slug may appear more than once (declared in configuration and also found in the
    /// directory): every entry is checked, and the table keeps the last entry with a
    /// stored placement (else the last entry).
    pub fn validate(&self, tenants: &[TenantEntry]) -> Result<RoutingTable, Vec<Violation>> {
        let (table, violations) = self.check(tenants);
        if violations.is_empty() {
            Ok(table)
        } else {
            Err(violations)
        }
    }

    /// The routing table as the policies resolve it, whether or not it is valid
    /// (`tessera check` prints it above the verdict).
    pub fn resolve_all(&self, tenants: &[TenantEntry]) -> RoutingTable {
        self.check(tenants).0
    }

    fn check(&self, tenants: &[TenantEntry]) -> (RoutingTable, Vec<Violation>) {
        let mut c = Checker::new(self);
        c.check_config();
        let directory = c.check_directory();
        c.plan_prospective_tenant();
        let mut table = BTreeMap::new();
        for entry in tenants {
            let routes = c.check_tenant(entry, &directory.write);
            // A slug listed twice (declared in config and found in the directory, say)
            // is checked both ways; the table keeps the stored one, which is what runs.
            match table.entry(entry.slug.clone()) {
                Entry::Vacant(slot) => {
                    slot.insert((entry.stored.is_some(), routes));
                }
                Entry::Occupied(mut slot) => {
                    if entry.stored.is_some() || !slot.get().0 {
                        slot.insert((entry.stored.is_some(), routes));
                    }
                }
            }
        }
        let table = table
            .into_iter()
            .map(|(t, (_, routes))| (t, routes))
            .collect();
        let migrations = c.migration_plan();
        for g in EntityGroup::ALL {
            let needed = g == EntityGroup::Tenants || !tenants.is_empty();
            if needed && !migrations.values().any(|gs| gs.contains(&g)) {
                c.report.push(Violation::GroupNeverMigrated { group: g });
            }
        }
        (
            RoutingTable {
                directory,
                tenants: table,
                migrations,
            },
            c.report.list,
        )
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "read={} write={}", self.read, self.write)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
