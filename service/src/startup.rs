//! Startup: connect every pool, validate routing, migrate where configured, load the
//! tenant directory, then serve. Every refusal happens before the port is used.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use redis::PushInfo;
use router_policies::{Placement, RoutingTable, TenantSlug};
use tokio::net::TcpListener;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::config::{Config, read_secret};
use crate::connections::{self, ConnectionLimits};
use crate::db::{Databases, MigrationReport};
use crate::endpoints;
use crate::error::Error;
use crate::jose::keyring::Keyring;
use crate::jose::sealing::KeyEncryptionKey;
use crate::limits::failure_counters::Failures;
use crate::limits::hashing::HashPool;
use crate::limits::shared_failures::SharedFailures;
use crate::network::TrustedProxies;
use crate::routing::{router_from_config, tenant_entries, validate};
use crate::shared::changes::{Caches, Change, ChangeFeed, Notice};
use crate::shared::redis::SharedRedis;
use crate::shared::revocations::Revocations;
use crate::state::AppState;
use crate::store::client_cache::ClientCache;
use crate::store::token_cache::TokenCache;
use crate::tenancy::{self, Tenant, Tenants, load_directory, stored_placements};

/// Every pool open, with the configuration they came from.
pub struct Connected {
    /// The configuration.
    pub config: Config,
    /// Every pool and the router.
    pub databases: Databases,
    /// Redis when configured, and the pushes of its connection (the change notices a
    /// serving node listens to).
    pub redis: Option<(Arc<SharedRedis>, UnboundedReceiver<PushInfo>)>,
}

/// Validates the configuration's routing without connecting (refusing with every
/// violation), then opens every pool.
pub async fn connect(config: Config) -> Result<Connected, Error> {
    let router = router_from_config(&config);
    validate(&router, &tenant_entries(&config, &BTreeMap::new()))?;
    open_pools(config).await
}

/// Opens every pool without validating first (`tessera check --connect` reports the
/// violations itself).
pub async fn open_pools(config: Config) -> Result<Connected, Error> {
    let mut databases = Databases::connect(&config, router_from_config(&config)).await?;
    let redis = match &config.redis {
        Some(redis) => {
            let url = read_secret("redis.url", redis.url.as_ref(), redis.url_file.as_ref())?;
            let (shared, pushes) = connect_redis(redis, &url).await?;
            databases.announce_on(Arc::new(ChangeFeed::on(Arc::clone(&shared))));
            databases.stamp_revocations_on(Arc::new(Revocations::on(Arc::clone(&shared))));
            Some((shared, pushes))
        }
        None => None,
    };
    Ok(Connected {
        config,
        databases,
        redis,
    })
}

impl Connected {
    /// Runs the migration plan: on each pool, exactly the groups routed there. The plan
    /// of the configuration comes first (it creates the tenant directory); then, when
    /// the directory holds tenants placed elsewhere, their pools are migrated too.
    pub async fn migrate(&self) -> Result<Vec<MigrationReport>, Error> {
        let router = self.databases.router();
        let config_table = validate(router, &tenant_entries(&self.config, &BTreeMap::new()))?;
        let mut reports = self.databases.migrate(&config_table.migrations).await?;
        let (table, _) = self.validate_with_directory().await?;
        if table.migrations != config_table.migrations {
            let more = self.databases.migrate(&table.migrations).await?;
            for report in more {
                match reports.iter_mut().find(|known| known.pool == report.pool) {
                    Some(known) => {
                        known.applied += report.applied;
                        known.groups = report.groups;
                    }
                    None => reports.push(report),
                }
            }
        }
        Ok(reports)
    }

    /// Every directory row. A directory table that does not exist yet is a
    /// configuration error that says to migrate; other failures pass through.
    pub async fn read_directory(&self) -> Result<Vec<entity::tenant::Model>, Error> {
        let directory = self.databases.directory()?;
        match load_directory(directory).await {
            Err(Error::Database(error)) if is_missing_table(&error) => Err(Error::Config(format!(
                "the tenant directory on pool {:?} has no table yet: run `tessera migrate`",
                self.databases.router().directory_pool().as_str()
            ))),
            other => other,
        }
    }

    /// Reads the tenant directory and validates config together with every stored
    /// placement. Returns the full table and the directory rows.
    pub async fn validate_with_directory(
        &self,
    ) -> Result<(RoutingTable, Vec<entity::tenant::Model>), Error> {
        let rows = self.read_directory().await?;
        let stored: BTreeMap<TenantSlug, Placement> = stored_placements(&rows)?;
        let table = validate(
            self.databases.router(),
            &tenant_entries(&self.config, &stored),
        )?;
        Ok((table, rows))
    }

    /// Refuses to go on when a pool has pending migrations for a group routed there
    /// (the first token write would fail otherwise).
    pub async fn check_migrated(&self, table: &RoutingTable) -> Result<(), Error> {
        let pending = self.databases.pending_migrations(&table.migrations).await?;
        if pending.is_empty() {
            return Ok(());
        }
        let list: Vec<String> = pending
            .iter()
            .map(|(pool, group, count)| format!("pool {pool}: {group} ({count} pending)"))
            .collect();
        Err(Error::Config(format!(
            "migrations are pending ({}): run `tessera migrate`",
            list.join(", ")
        )))
    }

    /// What `serve` and every data command do first: migrate when configured, validate
    /// against the directory, check every routed group is migrated, create declared
    /// tenants that are missing (and the bootstrap tenant when the directory is empty),
    /// and load every tenant.
    pub async fn prepare(&self) -> Result<Tenants, Error> {
        if self.config.migrates_on_start() {
            self.migrate().await?;
        }
        let (table, rows) = self.validate_with_directory().await?;
        self.check_migrated(&table).await?;
        let tenants = Tenants::new(self.config.settings_book()?)
            .refreshed_after(Duration::from_secs(self.config.key_cache_ttl_secs));
        let existing: Vec<String> = rows.iter().map(|row| row.slug.clone()).collect();
        for row in rows {
            tenants.insert(Tenant::from_row(row, &table, tenants.settings())?);
        }
        let mut missing: Vec<(TenantSlug, String)> = self
            .config
            .tenants
            .iter()
            .filter(|(slug, _)| !existing.iter().any(|name| name == slug.as_str()))
            .map(|(slug, tenant)| {
                let name = tenant
                    .display_name
                    .clone()
                    .unwrap_or_else(|| slug.to_string());
                (slug.clone(), name)
            })
            .collect();
        if existing.is_empty()
            && self.config.tenants.is_empty()
            && let Ok(slug) = TenantSlug::new(self.config.bootstrap_tenant.clone())
        {
            missing.push((slug.clone(), slug.to_string()));
        }
        for (slug, display_name) in missing {
            match tenancy::create_tenant(&self.databases, tenants.settings(), &slug, &display_name)
                .await
            {
                Ok(tenant) => {
                    tenants.insert(tenant);
                }
                // Another node (or command) created it a moment ago: load theirs.
                Err(Error::Conflict(_)) => {
                    tenants
                        .resolve(&self.databases, slug.as_str())
                        .await?
                        .ok_or_else(|| Error::UnknownTenant(slug.to_string()))?;
                }
                Err(error) => return Err(error),
            }
        }
        Ok(tenants)
    }
}

/// A Redis connection that never stops the start (Redis is optional and never
/// fatal: docs/operations.md): it connects lazily, reconnects by itself, and each
/// call gives up quickly (`shared::redis`). A Redis that does not answer now is
/// logged and reported by `/readyz`; the node starts and serves without it. Only a
/// URL that cannot be a Redis URL stops the start.
async fn connect_redis(
    config: &crate::config::RedisConfig,
    url: &str,
) -> Result<(Arc<SharedRedis>, UnboundedReceiver<PushInfo>), Error> {
    let (shared, pushes) = SharedRedis::connect(config, url)?;
    if let Err(error) = shared.ping().await {
        tracing::warn!(
            %error,
            "redis does not answer: serving without it until it does (see /readyz)"
        );
    }
    Ok((Arc::new(shared), pushes))
}

/// Whether a database error says a table does not exist (SQLite, PostgreSQL, MySQL).
fn is_missing_table(error: &sea_orm::DbErr) -> bool {
    let text = error.to_string();
    text.contains("no such table")
        || (text.contains("relation") && text.contains("does not exist"))
        || text.contains("doesn't exist")
}

/// The configured key-encryption key; on the very first start of the embedded
/// default (one SQLite pool at `tessera.db`, which does not exist yet, and no key
/// configured or in `tessera.kek`) a new one written to `tessera.kek` (mode 0600)
/// with a warning to back it up. Any other setup must configure its key: a node
/// that made its own would seal keys no other node can open.
pub fn key_encryption_key(config: &Config) -> Result<KeyEncryptionKey, Error> {
    use crate::jose::sealing::DEFAULT_KEK_FILE;
    if makes_first_key_encryption_key(config) {
        let key = KeyEncryptionKey::generate()?;
        crate::secrets::write_new_secret_file(std::path::Path::new(DEFAULT_KEK_FILE), &key)
            .map_err(|error| {
                Error::Config(format!(
                    "cannot create {DEFAULT_KEK_FILE} for the embedded database: {error}"
                ))
            })?;
        tracing::warn!(
            file = DEFAULT_KEK_FILE,
            "created a new key-encryption key in {DEFAULT_KEK_FILE} (first start of the \
             embedded database): back it up apart from tessera.db; without it the signing \
             keys cannot be opened"
        );
    }
    KeyEncryptionKey::from_config(config)
}

/// Whether [`key_encryption_key`] would make the first key: the embedded default on
/// its first start, with no key configured (`tessera check` accepts that setup).
pub fn makes_first_key_encryption_key(config: &Config) -> bool {
    let nothing_configured = config.key_encryption_key.is_none()
        && config.key_encryption_key_file.is_none()
        && !std::path::Path::new(crate::jose::sealing::DEFAULT_KEK_FILE).exists();
    let embedded_first_start = config.databases.len() == 1
        && config
            .databases
            .values()
            .all(|pool| pool.url.as_deref() == Some(crate::config::DEFAULT_DATABASE_URL))
        && !std::path::Path::new(crate::config::DEFAULT_DATABASE_FILE).exists();
    nothing_configured && embedded_first_start
}

/// A service ready to serve: pools open, routing valid, tenants loaded.
pub struct Application {
    state: AppState,
    /// The change notices to listen to while serving (with Redis).
    pushes: Option<UnboundedReceiver<PushInfo>>,
    /// Tenants the start found without a key of some algorithm.
    keyless: Vec<Arc<Tenant>>,
}

impl Application {
    /// Connects, validates, migrates (when configured) and loads tenants. Fails with
    /// every routing violation listed before anything listens.
    pub async fn build(config: Config) -> Result<Self, Error> {
        let kek = key_encryption_key(&config)?;
        let mut connected = connect(config).await?;
        let tenants = connected.prepare().await?;
        let keys = Keyring::new(
            kek,
            std::time::Duration::from_secs(connected.config.key_cache_ttl_secs),
            // Half the cores at most: RSA signing never takes the cores every other
            // request needs (one RS256 signature is ~1.1 ms of CPU, docs/benchmarks.md).
            std::thread::available_parallelism().map_or(1, |cores| (usize::from(cores) / 2).max(1)),
        );
        // Unseals every stored key (a wrong key-encryption key stops the start here);
        // the keys a tenant lacks are made after the start ([`create_missing_keys`]).
        let keyless = keys
            .check_stored_keys(&connected.databases, &tenants.all())
            .await?;
        let client_cache_ttl = connected.config.client_cache_ttl_secs;
        let token_cache_ttl = connected.config.token_cache_ttl_secs;
        let limits = connected.config.limits.clone();
        let trusted_proxies = TrustedProxies::parse(&connected.config.trusted_proxies)?;
        let pages =
            crate::pages::Pages::load(&crate::pages::TemplateFolders::of(&connected.config))?;
        let (redis, pushes) = match connected.redis.take() {
            Some((redis, pushes)) => (Some(redis), Some(pushes)),
            None => (None, None),
        };
        let failures = match &redis {
            Some(redis) => Failures::shared(
                limits.max_tracked_failure_keys,
                SharedFailures::new(Arc::clone(redis), keys.kek().derive("failure counters")),
            ),
            None => Failures::local(limits.max_tracked_failure_keys),
        };
        let clients = Arc::new(ClientCache::new(std::time::Duration::from_secs(
            client_cache_ttl,
        )));
        let keys = Arc::new(keys);
        let tenants = Arc::new(tenants);
        connected.databases.changes().deliver_to(caches_of(
            Arc::clone(&clients),
            Arc::clone(&keys),
            Arc::clone(&tenants),
        ));
        Ok(Self {
            state: AppState {
                config: Arc::new(connected.config),
                databases: Arc::new(connected.databases),
                tenants,
                redis,
                clients,
                access_tokens: Arc::new(TokenCache::new(std::time::Duration::from_secs(
                    token_cache_ttl,
                ))),
                slow_hashes: Arc::new(HashPool::new(
                    limits.slow_hash_concurrency(),
                    std::time::Duration::from_millis(limits.slow_hash_queue_timeout_ms),
                )),
                failures: Arc::new(failures),
                pending: Arc::default(),
                trusted_proxies: Arc::new(trusted_proxies),
                pages: Arc::new(pages),
                keys,
                disabled_routes: Arc::default(),
                policies: Arc::default(),
                metrics: Arc::default(),
            },
            pushes,
            keyless,
        })
    }

    /// With an embedding program's policy hooks instead of Tessera's own rules.
    pub fn with_policies(mut self, policies: crate::policy::Policies) -> Self {
        self.state.policies = Arc::new(policies);
        self
    }

    /// Shared state (tests use it to reach the stores directly).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Issuer URLs of every loaded tenant.
    pub fn issuers(&self) -> Vec<String> {
        self.state
            .tenants
            .all()
            .iter()
            .map(|tenant| self.state.config.issuer(&tenant.slug))
            .collect()
    }

    /// Serves the built-in routes (less those `[routes]` switches off) on `listener`
    /// until `shutdown` completes, then drains open requests.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        self.serve_routes(endpoints::routes::Routes::built_in(), listener, shutdown)
            .await
    }

    /// Serves `routes` (an embedding program's: replaced, wrapped or switched-off
    /// routes), less those `[routes]` switches off, like [`Self::serve`].
    pub async fn serve_routes(
        self,
        routes: endpoints::routes::Routes,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        let mut off = self.state.config.routes.disabled();
        // `/metrics` on a listener of its own: not on the main one.
        let metrics = match self.state.config.metrics.listen {
            Some(address) => {
                off.insert(crate::route_names::RouteName::Metrics);
                let listener = TcpListener::bind(address).await.map_err(|error| {
                    Error::Config(format!(
                        "metrics.listen: cannot listen on {address}: {error}"
                    ))
                })?;
                let router = endpoints::metrics_router(self.state.clone());
                let limits = ConnectionLimits {
                    max_connections: 16,
                    header_read_timeout: Duration::from_secs(10),
                };
                Some(tokio::spawn(async move {
                    let _ =
                        connections::serve(listener, router, limits, std::future::pending()).await;
                }))
            }
            None => None,
        };
        let app = routes.disable_all(off).into_router(self.state.clone());
        let limits = &self.state.config.limits;
        let connection_limits = ConnectionLimits {
            max_connections: limits.max_connections,
            header_read_timeout: Duration::from_secs(limits.header_read_timeout_secs),
        };
        let sweeper = (limits.sweep_interval_secs > 0).then(|| {
            tokio::spawn(sweep_forever(
                self.state.clone(),
                Duration::from_secs(limits.sweep_interval_secs),
                limits.sweep_batch_size,
            ))
        });
        let listener_task = self
            .pushes
            .map(|pushes| tokio::spawn(Arc::clone(self.state.databases.changes()).listen(pushes)));
        let key_maker = (!self.keyless.is_empty())
            .then(|| tokio::spawn(create_missing_keys(self.state.clone(), self.keyless)));
        let served = connections::serve(listener, app, connection_limits, shutdown).await;
        for task in [sweeper, listener_task, metrics, key_maker]
            .into_iter()
            .flatten()
        {
            task.abort();
            let _ = task.await;
        }
        served?;
        // Close the pools when nothing else holds them (SQLite checkpoints its WAL).
        if let Ok(databases) = Arc::try_unwrap(self.state.databases) {
            databases.close().await;
        }
        Ok(())
    }
}

/// Where a node's change notices go: each drops its entry from the cache that holds
/// it; after a time without notices every cache is emptied.
fn caches_of(clients: Arc<ClientCache>, keys: Arc<Keyring>, tenants: Arc<Tenants>) -> Caches {
    Arc::new(move |notice| match notice {
        Notice::Changed(Change::Application {
            tenant_id,
            client_id,
        }) => clients.forget(tenant_id, &client_id),
        Notice::Changed(Change::SigningKeys { tenant_id }) => keys.forget(tenant_id),
        Notice::Changed(Change::Tenant { slug }) => tenants.forget(&slug),
        Notice::Everything => {
            clients.forget_all();
            keys.forget_all();
            tenants.forget_all();
        }
    })
}

/// Creates the keys the start found missing (a directory filled by an import, or
/// made before keys were), one tenant at a time, while the node serves: generating
/// an RSA key takes ~70 ms of one core, so 10,000 tenants made before listening would
/// keep the node from answering for minutes. A request to such a tenant meanwhile
/// makes its keys itself ([`Keyring::tenant_keys`]). Nodes started together begin
/// at a random tenant, so they seldom make the same tenant's keys at once (when they
/// do, the first stored wins and the other is dropped). Failures are logged; the
/// tenant makes its keys at first use.
async fn create_missing_keys(state: AppState, mut tenants: Vec<Arc<Tenant>>) {
    let total = tenants.len();
    tracing::info!(
        tenants = total,
        "some tenants have no signing key of some algorithm: making them while serving"
    );
    tenants.rotate_left(rand::random_range(0..total));
    for (done, tenant) in tenants.iter().enumerate() {
        if let Err(error) = state
            .keys
            .complete_tenant_keys(&state.databases, tenant)
            .await
        {
            tracing::warn!(tenant = %tenant.slug, %error, "making signing keys failed");
        }
        if (done + 1) % 100 == 0 {
            tracing::info!(done = done + 1, of = total, "making missing signing keys");
        }
    }
    tracing::info!(tenants = total, "missing signing keys made");
}

/// Every `interval` (the first after a random part of it, so nodes started together
/// spread out), sweeps every loaded tenant's expired interactions, codes, device
/// grants and sessions ([`crate::store::expired::sweep`]). A failure is logged and the next
/// round tries again.
async fn sweep_forever(state: AppState, interval: Duration, batch: u64) {
    let first = interval.mul_f64(rand::random::<f64>());
    tokio::time::sleep(first).await;
    loop {
        for tenant in state.tenants.all() {
            match crate::store::expired::sweep(state.data(&tenant), batch).await {
                Ok(swept) if swept.total() > 0 => tracing::debug!(
                    tenant = %tenant.slug,
                    interactions = swept.interactions,
                    authorization_codes = swept.authorization_codes,
                    device_grants = swept.device_grants,
                    sessions = swept.sessions,
                    "swept expired rows"
                ),
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(tenant = %tenant.slug, %error, "sweeping expired rows failed")
                }
            }
        }
        tokio::time::sleep(interval).await;
    }
}

/// Completes on SIGTERM or ctrl-c.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
