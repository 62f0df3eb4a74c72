//! Connection pools and the data-access layer: hands out the connection for
//! (tenant, group, role) as the router decided (docs/router.md).
//!
//! Pools are opened once at startup and passed down as arguments; nothing here is
//! global. A tenant's routes are resolved once, when the tenant is loaded, so a
//! request costs one map lookup to find its connection.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use migration::GroupMigrator;
use router_policies::{EntityGroup, PoolName, Role, Router};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbBackend};

use crate::config::{Config, read_secret};
use crate::error::Error;
use crate::group_commit::{GroupCommit, GroupCommitCounts};
use crate::shared::changes::ChangeFeed;
use crate::shared::revocations::Revocations;

/// A pooled connection idle this long is pinged before it is handed out (a proxy, a
/// firewall or the server may have dropped it meanwhile); a busy one is not. A
/// connection that broke anyway fails its statement once, and sqlx's ping when it is
/// returned closes it.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(10);

/// One pool's connections at a moment (`/metrics`).
#[derive(Clone, Debug)]
pub struct PoolStats {
    /// The pool's name.
    pub name: String,
    /// Connections open.
    pub open: u32,
    /// Open connections not in use.
    pub idle: u32,
    /// The most it opens.
    pub max: u32,
}

/// Every configured pool, connected, plus the router that chooses between them, and
/// the feed on which a committed change is announced to every node (the stores
/// announce what they change: docs/operations.md, "Several nodes"), and where the
/// stores stamp what they revoke (`shared::revocations`).
#[derive(Debug)]
pub struct Databases {
    pools: BTreeMap<PoolName, DatabaseConnection>,
    /// SQLite pools' writer queues (see [`Databases::writer_queue`]).
    writers: BTreeMap<PoolName, Arc<tokio::sync::Mutex<()>>>,
    /// The writable pools' group commits (see [`Databases::group_commit`]).
    group_commits: BTreeMap<PoolName, GroupCommit>,
    router: Router,
    changes: Arc<ChangeFeed>,
    revocations: Arc<Revocations>,
}

/// What one pool reported when asked to migrate.
#[derive(Clone, Debug, serde::Serialize)]
pub struct MigrationReport {
    /// The pool.
    pub pool: String,
    /// Groups migrated there.
    pub groups: Vec<String>,
    /// Migrations applied by this run (0 when already up to date).
    pub applied: usize,
}

impl Databases {
    /// Opens every pool of `config` (in order, failing on the first that cannot
    /// connect, with its name).
    pub async fn connect(config: &Config, router: Router) -> Result<Self, Error> {
        let mut pools = BTreeMap::new();
        let mut writers = BTreeMap::new();
        let mut group_commits = BTreeMap::new();
        for (name, pool) in &config.databases {
            let url = read_secret(
                &format!("databases.{name}.url"),
                pool.url.as_ref(),
                pool.url_file.as_ref(),
            )?;
            let mut options = ConnectOptions::new(url.clone());
            options
                .max_connections(pool.max_connections)
                .min_connections(pool.min_connections.min(pool.max_connections))
                .connect_timeout(pool.connect_timeout())
                .acquire_timeout(Duration::from_secs(pool.acquire_timeout_secs))
                .idle_timeout(Duration::from_secs(pool.idle_timeout_secs))
                .sqlx_logging(false)
                // A pooled connection is pinged before use only after it sat idle:
                // sqlx's default pings on every checkout, a round trip more per
                // statement (docs/decisions.md, "No ping on a busy connection").
                .test_before_acquire_if_idle_for(PING_IF_IDLE_FOR)
                .map_sqlx_sqlite_opts(|options| {
                    // WAL lets readers proceed during a write; writers wait instead of
                    // failing with SQLITE_BUSY.
                    options
                        .journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                        // FULL: a revocation that answered 200 survives a power loss.
                        .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Full)
                        .busy_timeout(Duration::from_secs(10))
                })
                .map_sqlx_mysql_pool_opts(|options| {
                    // READ COMMITTED, PostgreSQL's default: no gap locks, so concurrent
                    // token flows (rotation, family revocation, inserts) do not deadlock
                    // on index ranges as they do under InnoDB's REPEATABLE READ.
                    options.after_connect(|connection, _| {
                        Box::pin(async move {
                            use sea_orm::sqlx::Executor;
                            connection
                                .execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
                                .await
                                .map(|_| ())
                        })
                    })
                });
            let connection = Database::connect(options)
                .await
                .map_err(|error| Error::pool(name, &error, Some(&url)))?;
            let writer_turn = (connection.get_database_backend() == DbBackend::Sqlite)
                .then(|| Arc::new(tokio::sync::Mutex::new(())));
            if pool.replica_of.is_none() && pool.group_commit_in_flight > 0 {
                group_commits.insert(
                    name.clone(),
                    GroupCommit::start(
                        connection.clone(),
                        writer_turn.clone(),
                        pool.group_commit_in_flight as usize,
                    ),
                );
            }
            if let Some(turn) = writer_turn {
                writers.insert(name.clone(), turn);
            }
            pools.insert(name.clone(), connection);
        }
        Ok(Self {
            pools,
            writers,
            group_commits,
            router,
            changes: Arc::new(ChangeFeed::alone()),
            revocations: Arc::new(Revocations::alone()),
        })
    }

    /// Announces changes on `changes` (Redis) instead of to this process only.
    pub fn announce_on(&mut self, changes: Arc<ChangeFeed>) {
        self.changes = changes;
    }

    /// The feed changes are announced on.
    pub fn changes(&self) -> &Arc<ChangeFeed> {
        &self.changes
    }

    /// Stamps revocations in Redis (`shared::revocations`) instead of nowhere.
    pub fn stamp_revocations_on(&mut self, revocations: Arc<Revocations>) {
        self.revocations = revocations;
    }

    /// Where revocations are stamped and token caches read the stamps.
    pub fn revocations(&self) -> &Arc<Revocations> {
        &self.revocations
    }

    /// The router these pools are routed by.
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// The connection of a named pool.
    pub fn pool(&self, name: &PoolName) -> Result<&DatabaseConnection, Error> {
        self.pools.get(name).ok_or_else(|| {
            Error::Config(format!("pool \"{name}\" is routed to but not configured"))
        })
    }

    /// The writer queue of a SQLite pool. SQLite has one writer at a time; waiting in
    /// this FIFO queue in-process, instead of in SQLite's busy handler (which sleeps
    /// and retries with growing pauses), keeps write latency flat under load. It
    /// mirrors SQLite's own lock, per database file, and is never taken for other
    /// backends.
    pub fn writer_queue(&self, name: &PoolName) -> Option<Arc<tokio::sync::Mutex<()>>> {
        self.writers.get(name).cloned()
    }

    /// The group commit of a writable pool, unless it is turned off
    /// (`group_commit_in_flight = 0`).
    pub fn group_commit(&self, name: &PoolName) -> Option<&GroupCommit> {
        self.group_commits.get(name)
    }

    /// The group commits' counters, by pool (`/metrics`).
    pub fn group_commit_counts(&self) -> Vec<(String, GroupCommitCounts)> {
        self.group_commits
            .iter()
            .map(|(name, group_commit)| (name.to_string(), group_commit.counts()))
            .collect()
    }

    /// The pool holding the tenant directory.
    pub fn directory(&self) -> Result<&DatabaseConnection, Error> {
        self.pool(&self.router.directory_pool())
    }

    /// Pool names, in order.
    pub fn pool_stats(&self) -> Vec<PoolStats> {
        self.pools
            .iter()
            .map(|(name, connection)| {
                let (size, idle, max) = match connection.get_database_backend() {
                    DbBackend::Postgres => {
                        let pool = connection.get_postgres_connection_pool();
                        (
                            pool.size(),
                            pool.num_idle(),
                            pool.options().get_max_connections(),
                        )
                    }
                    DbBackend::MySql => {
                        let pool = connection.get_mysql_connection_pool();
                        (
                            pool.size(),
                            pool.num_idle(),
                            pool.options().get_max_connections(),
                        )
                    }
                    _ => {
                        let pool = connection.get_sqlite_connection_pool();
                        (
                            pool.size(),
                            pool.num_idle(),
                            pool.options().get_max_connections(),
                        )
                    }
                };
                PoolStats {
                    name: name.to_string(),
                    open: size,
                    idle: u32::try_from(idle).unwrap_or(u32::MAX),
                    max,
                }
            })
            .collect()
    }

    /// The configured pool names.
    pub fn pool_names(&self) -> impl Iterator<Item = &PoolName> {
        self.pools.keys()
    }

    /// The SQL dialect of a pool.
    pub fn backend(&self, name: &PoolName) -> Result<DbBackend, Error> {
        Ok(self.pool(name)?.get_database_backend())
    }

    /// Asks every pool, concurrently, for a trivial query within `timeout`; returns
    /// each pool's answer.
    pub async fn ping_all(&self, timeout: Duration) -> Vec<(PoolName, Result<(), Error>)> {
        let mut pings = tokio::task::JoinSet::new();
        for (name, connection) in &self.pools {
            let (name, connection) = (name.clone(), connection.clone());
            pings.spawn(async move {
                let answer = match tokio::time::timeout(timeout, connection.ping()).await {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(error)) => Err(Error::pool(&name, &error, None)),
                    Err(_) => Err(Error::Pool {
                        pool: name.to_string(),
                        message: format!("no answer within {timeout:?}"),
                    }),
                };
                (name, answer)
            });
        }
        let mut answers = pings.join_all().await;
        answers.sort_by(|a, b| a.0.cmp(&b.0));
        answers
    }

    /// Runs, on each pool, the migrations of exactly the groups `plan` places there.
    /// Idempotent: applied migrations are recorded per group and skipped.
    pub async fn migrate(
        &self,
        plan: &BTreeMap<PoolName, BTreeSet<EntityGroup>>,
    ) -> Result<Vec<MigrationReport>, Error> {
        let mut reports = Vec::with_capacity(plan.len());
        for (name, groups) in plan {
            let connection = self.pool(name)?;
            let mut applied = 0;
            for group in groups {
                let pending = GroupMigrator::new(*group)
                    .apply(connection)
                    .await
                    .map_err(|error| Error::pool(name, &error, None))?;
                applied += pending;
                tracing::info!(pool = %name, group = %group, applied = pending, "migrated");
            }
            reports.push(MigrationReport {
                pool: name.to_string(),
                groups: groups.iter().map(|group| group.to_string()).collect(),
                applied,
            });
        }
        Ok(reports)
    }

    /// Groups of `plan` with migrations not yet applied: (pool, group, count).
    pub async fn pending_migrations(
        &self,
        plan: &BTreeMap<PoolName, BTreeSet<EntityGroup>>,
    ) -> Result<Vec<(PoolName, EntityGroup, usize)>, Error> {
        let mut pending = Vec::new();
        for (name, groups) in plan {
            let connection = self.pool(name)?;
            for group in groups {
                let count = GroupMigrator::new(*group)
                    .pending(connection)
                    .await
                    .map_err(|error| Error::pool(name, &error, None))?;
                if count > 0 {
                    pending.push((name.clone(), *group, count));
                }
            }
        }
        Ok(pending)
    }

    /// Closes every pool (used on shutdown so SQLite checkpoints its WAL).
    pub async fn close(self) {
        for (name, connection) in self.pools {
            if let Err(error) = connection.close().await {
                tracing::warn!(pool = %name, %error, "closing pool failed");
            }
        }
    }
}

/// A tenant's pools for each group and role, resolved once. Their connections are
/// chosen in the store layer only (`store::access`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantRoutes {
    routes: BTreeMap<(EntityGroup, Role), PoolName>,
}

impl TenantRoutes {
    /// Routes taken from a validated routing table row.
    pub fn new(routes: BTreeMap<(EntityGroup, Role), PoolName>) -> Self {
        Self { routes }
    }

    /// The pool for `group` and `role`.
    pub fn pool(&self, group: EntityGroup, role: Role) -> Result<&PoolName, Error> {
        self.routes
            .get(&(group, role))
            .ok_or_else(|| Error::Config(format!("no route for {group} {role}")))
    }
}
