//! Configuration: defaults → TOML file → `TESSERA_` environment variables.
//!
//! Loaded with figment. Nested keys use `__` in the environment
//! (`TESSERA_DATABASES__DEFAULT__URL`). Unknown keys and bad values are errors that name
//! the key. Secrets (database and Redis URLs) may be read from a file with `url_file`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use router_policies::{EntityGroup, PolicyConfig, PoolName, TenantSlug};
use serde::{Deserialize, Serialize};

use crate::application_fields::{FieldCatalogue, TypedFields};
use crate::error::Error;
use crate::route_names::RoutesConfig;
use crate::settings::{OAuthSettings, SettingsBook};

/// The config file read when `--config` is not given, if it exists.
pub const DEFAULT_CONFIG_FILE: &str = "tessera.toml";

/// The embedded default database: a SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://tessera.db?mode=rwc";

/// The file [`DEFAULT_DATABASE_URL`] names.
pub const DEFAULT_DATABASE_FILE: &str = "tessera.db";

/// The whole service configuration.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Socket address the HTTP server binds.
    pub listen: SocketAddr,
    /// Public base URL; each tenant's issuer is `{public_url}/t/{tenant}`.
    pub public_url: String,
    /// Run pending migrations at startup. Unset: on when every pool is SQLite.
    pub migrate_on_start: Option<bool>,
    /// Tenant created on first start when the directory is empty and no tenant is
    /// declared below. Empty string: none.
    pub bootstrap_tenant: String,
    /// How long a node reuses a client registration it read (0: always read). A
    /// client changed elsewhere (new secret, fewer grant types) is seen by every node
    /// within this time.
    pub client_cache_ttl_secs: u64,
    /// How long a node may reuse what introspection and UserInfo read about an
    /// access token (0: always read). Needs Redis: an entry is used only while the
    /// revocation stamps read from Redis for that request are those it was stored
    /// under, so a revocation on any node counts at once; this bounds only what a
    /// revocation whose stamp could not be written (Redis unreachable from its
    /// node) leaves.
    pub token_cache_ttl_secs: u64,
    /// Proxies whose `X-Forwarded-For` names the client's address (addresses or CIDR
    /// blocks); empty: the socket's peer address is the client's.
    pub trusted_proxies: Vec<String>,
    /// A folder of templates replacing the built-in pages: a file there named like a
    /// built-in template (`login.html`, `consent.html`, …) is used instead of it.
    /// Read at startup; a template that does not compile stops the start.
    pub templates_dir: Option<std::path::PathBuf>,
    /// The key-encryption key that seals the tenants' signing keys: 32 random bytes
    /// in base64 or hex (`tessera keys generate-kek`). Prefer `key_encryption_key_file`
    /// or the environment. Unset, both: `tessera.kek` in the working directory.
    pub key_encryption_key: Option<Redacted>,
    /// A file holding the key-encryption key.
    pub key_encryption_key_file: Option<PathBuf>,
    /// How long a node reuses a tenant's signing keys it read (0: always read). A
    /// rotation is seen by every node within this time.
    pub key_cache_ttl_secs: u64,
    /// Bounds on slow hashing and on the failure counters.
    pub limits: LimitsConfig,
    /// Logging.
    pub log: LogConfig,
    /// Where `/metrics` is served.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// The admin API (`/admin/v1`).
    #[serde(default)]
    pub admin: AdminConfig,
    /// Named connection pools. Empty: one `default` pool on [`DEFAULT_DATABASE_URL`].
    pub databases: BTreeMap<PoolName, DatabaseConfig>,
    /// Routing policies, asked in order.
    pub router: RouterConfig,
    /// Tenants declared in config (created at startup when missing).
    pub tenants: BTreeMap<TenantSlug, TenantConfig>,
    /// Optional Redis, shared by all nodes.
    pub redis: Option<RedisConfig>,
    /// OAuth defaults for every tenant (`[tenants.X.oauth]` overrides single keys).
    /// Not part of the serialized defaults: figment would merge a configured
    /// `scopes` table into the built-in catalogue instead of replacing it.
    #[serde(default, skip_serializing)]
    pub oauth: OAuthSettings,
    /// Application extension fields of every tenant (`[applications.fields.NAME]`;
    /// `[tenants.X.applications.fields.NAME]` adds or replaces one for a tenant).
    #[serde(default)]
    pub applications: FieldCatalogue,
    /// Route groups and single routes switched off.
    #[serde(default)]
    pub routes: RoutesConfig,
    /// Extension fields an embedding program declares as Rust types
    /// ([`Config::with_application_fields`]); never read from a file.
    #[serde(skip)]
    pub typed_fields: Vec<(FieldsFor, FieldCatalogue)>,
}

/// The tenants whose applications have a Rust type's extension fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldsFor {
    /// Every tenant (like `[applications.fields]`).
    EveryTenant,
    /// One tenant (like `[tenants.T.applications.fields]`), declared in the
    /// configuration or not.
    Tenant(TenantSlug),
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: "http://127.0.0.1:8080".to_owned(),
            migrate_on_start: None,
            bootstrap_tenant: "default".to_owned(),
            client_cache_ttl_secs: 5,
            token_cache_ttl_secs: 30,
            trusted_proxies: Vec::new(),
            templates_dir: None,
            key_encryption_key: None,
            key_encryption_key_file: None,
            key_cache_ttl_secs: 60,
            limits: LimitsConfig::default(),
            log: LogConfig::default(),
            metrics: MetricsConfig::default(),
            admin: AdminConfig::default(),
            databases: BTreeMap::new(),
            router: RouterConfig::default(),
            tenants: BTreeMap::new(),
            redis: None,
            oauth: OAuthSettings::default(),
            applications: FieldCatalogue::default(),
            routes: RoutesConfig::default(),
            typed_fields: Vec::new(),
        }
    }
}

/// A secret kept in the configuration: serialized as is, never shown by `Debug`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Redacted(pub String);

impl std::fmt::Debug for Redacted {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("[redacted]")
    }
}

/// The `[limits]` section: resources the service bounds.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Slow hashes (argon2id passwords, imported client secrets) running at once;
    /// 0: twice the number of cores.
    pub slow_hash_concurrency: usize,
    /// How long a request waits for a slow-hash slot before 503 with `Retry-After`.
    pub slow_hash_queue_timeout_ms: u64,
    /// Keys (usernames, client ids, addresses) the failure counters track at most, on
    /// each node: the limiter's memory bound (about 66 bytes a key).
    pub max_tracked_failure_keys: usize,
    /// How often each node removes expired interactions, sessions, authorization
    /// codes and device grants in the background; 0: never (then run
    /// `tessera cleartokens` from cron).
    pub sweep_interval_secs: u64,
    /// Rows one statement of that sweep removes at most (short statements, short
    /// locks).
    pub sweep_batch_size: u64,
    /// How long a connection may wait before the headers of its next request are in:
    /// a slow-header client is closed after it, and so is a keep-alive connection
    /// idle that long (hyper counts both from the moment it waits for a request).
    pub header_read_timeout_secs: u64,
    /// Connections served at once; more wait in the listen backlog until one
    /// closes.
    pub max_connections: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            slow_hash_concurrency: 0,
            slow_hash_queue_timeout_ms: 2000,
            max_tracked_failure_keys: 100_000,
            sweep_interval_secs: 60,
            sweep_batch_size: 500,
            header_read_timeout_secs: 5,
            max_connections: 4096,
        }
    }
}

impl LimitsConfig {
    /// The slow-hash bound, `0` resolved to twice the cores.
    pub fn slow_hash_concurrency(&self) -> usize {
        if self.slow_hash_concurrency > 0 {
            self.slow_hash_concurrency
        } else {
            2 * std::thread::available_parallelism().map_or(2, usize::from)
        }
    }
}

/// `[admin]`: the admin API.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// The tenant whose admin clients (scope `tessera:admin`) administer every
    /// tenant. Unset: the bootstrap tenant; empty: none (each tenant's admin clients
    /// administer only their own tenant).
    pub tenant: Option<String>,
}

/// `[metrics]`: Prometheus `/metrics`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// A listener of its own for `/metrics` (an address only the monitoring
    /// network reaches); then the main listener does not serve it. Unset: on the
    /// main listener (switch it off there with `[routes] disable = ["metrics"]`).
    pub listen: Option<SocketAddr>,
}

/// Log output.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: LogFormat,
    /// tracing-subscriber filter directive; `RUST_LOG` wins when set.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info,sea_orm_migration=warn,sqlx=warn".to_owned(),
        }
    }
}

/// Log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// One named connection pool.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://…`, `postgres://…` or `mysql://…`.
    pub url: Option<String>,
    /// File holding the URL (for credentials kept out of the config).
    pub url_file: Option<PathBuf>,
    /// Pool size.
    #[serde(default = "defaults::max_connections")]
    pub max_connections: u32,
    /// Connections kept open when idle.
    #[serde(default = "defaults::min_connections")]
    pub min_connections: u32,
    /// Seconds to wait for a new connection.
    #[serde(default = "defaults::connect_timeout_secs")]
    pub connect_timeout_secs: u64,
    /// Seconds to wait for a free connection from the pool.
    #[serde(default = "defaults::acquire_timeout_secs")]
    pub acquire_timeout_secs: u64,
    /// Seconds an idle connection is kept.
    #[serde(default = "defaults::idle_timeout_secs")]
    pub idle_timeout_secs: u64,
    /// This pool is a read replica of the named pool: never written, never migrated.
    pub replica_of: Option<PoolName>,
    /// Token writes of concurrent requests share one transaction (group commit); this
    /// many such transactions commit at once. 0 turns group commit off: each request
    /// commits its own.
    #[serde(default = "defaults::group_commit_in_flight")]
    pub group_commit_in_flight: u32,
}

mod defaults {
    pub fn max_connections() -> u32 {
        10
    }
    pub fn min_connections() -> u32 {
        1
    }
    pub fn connect_timeout_secs() -> u64 {
        5
    }
    pub fn acquire_timeout_secs() -> u64 {
        5
    }
    pub fn idle_timeout_secs() -> u64 {
        600
    }
    pub fn group_commit_in_flight() -> u32 {
        4
    }
    pub fn key_prefix() -> String {
        "tessera".to_owned()
    }
}

impl DatabaseConfig {
    /// A pool on `url` with default sizes.
    pub fn with_url(url: impl Into<String>) -> Self {
        Self {
            url: Some(url.into()),
            url_file: None,
            max_connections: defaults::max_connections(),
            min_connections: defaults::min_connections(),
            connect_timeout_secs: defaults::connect_timeout_secs(),
            acquire_timeout_secs: defaults::acquire_timeout_secs(),
            idle_timeout_secs: defaults::idle_timeout_secs(),
            replica_of: None,
            group_commit_in_flight: defaults::group_commit_in_flight(),
        }
    }

    /// Timeout for opening a connection.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.connect_timeout_secs)
    }
}

/// The `[router]` section.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouterConfig {
    /// Policies asked in order; the `default` pool answers last.
    pub policies: Vec<PolicyConfig>,
}

/// A tenant declared in config.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TenantConfig {
    /// Name shown to users; defaults to the slug.
    pub display_name: Option<String>,
    /// Pins entity groups of this tenant to pools (asked before every other policy).
    pub databases: BTreeMap<EntityGroup, PoolName>,
    /// Overrides of `[oauth]` for this tenant.
    pub oauth: figment::value::Dict,
    /// Application extension fields of this tenant, over `[applications]`.
    pub applications: FieldCatalogue,
    /// A folder of this tenant's page templates (over `templates_dir`); its
    /// `clients/CLIENT_ID/` subfolders hold one client's.
    pub templates_dir: Option<PathBuf>,
}

/// Redis connection.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://host:port/db`, or a Redis Cluster's nodes separated by commas
    /// (`redis://10.0.0.1:6379,redis://10.0.0.2:6379`).
    pub url: Option<String>,
    /// File holding the URL.
    pub url_file: Option<PathBuf>,
    /// Prefix of every key Tessera writes.
    #[serde(default = "defaults::key_prefix")]
    pub key_prefix: String,
    /// A Redis Cluster even when `url` names one node (several always are).
    #[serde(default)]
    pub cluster: bool,
    /// PEM file of the certificate authority a `rediss://` server's certificate is
    /// checked against (default: the system's trusted roots).
    pub ca_file: Option<PathBuf>,
}

impl Config {
    /// Loads defaults, then `path` (or `tessera.toml` when it exists), then the
    /// environment. A path given explicitly must exist.
    pub fn load(path: Option<&Path>) -> Result<Self, Error> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        match path {
            Some(path) => {
                if !path.is_file() {
                    return Err(Error::Config(format!(
                        "config file {} does not exist",
                        path.display()
                    )));
                }
                figment = figment.merge(Toml::file_exact(path));
            }
            None => {
                if Path::new(DEFAULT_CONFIG_FILE).is_file() {
                    figment = figment.merge(Toml::file_exact(DEFAULT_CONFIG_FILE));
                }
            }
        }
        Self::from_figment(figment.merge(environment()))
    }

    /// Parses a TOML document over the defaults, without reading the environment
    /// (used by tests and `tessera check` on generated configs).
    pub fn from_toml(toml: &str) -> Result<Self, Error> {
        Self::from_figment(
            Figment::from(Serialized::defaults(Config::default())).merge(Toml::string(toml)),
        )
    }

    /// Extracts and completes a configuration.
    pub fn from_figment(figment: Figment) -> Result<Self, Error> {
        let mut config: Config = figment.extract().map_err(|error| {
            let messages: Vec<String> = error.into_iter().map(describe_figment_error).collect();
            Error::Config(messages.join("; "))
        })?;
        // Unset, the public URL follows `listen` (a changed port is advertised in
        // discovery, not the default's 8080 that nothing listens on).
        let defaults = figment::Provider::metadata(&Serialized::defaults(Config::default())).name;
        let public_url_given = figment
            .find_metadata("public_url")
            .is_some_and(|metadata| metadata.name != defaults);
        if !public_url_given {
            config.public_url = public_url_for(config.listen);
        }
        if config.databases.is_empty() {
            config.databases.insert(
                PoolName::default_pool(),
                DatabaseConfig::with_url(DEFAULT_DATABASE_URL),
            );
        }
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), Error> {
        let mut problems = Vec::new();
        match url::Url::parse(&self.public_url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.query().is_none() => {}
            Ok(_) => problems.push(format!(
                "public_url: {:?} must be an http or https URL without a query",
                self.public_url
            )),
            Err(error) => problems.push(format!("public_url: {:?}: {error}", self.public_url)),
        }
        for (name, pool) in &self.databases {
            match (&pool.url, &pool.url_file) {
                (None, None) => problems.push(format!(
                    "databases.{name}: set url (e.g. url = \"{DEFAULT_DATABASE_URL}\") or url_file"
                )),
                (Some(_), Some(_)) => {
                    problems.push(format!("databases.{name}: set url or url_file, not both"))
                }
                (Some(url), None) => {
                    if let Err(problem) = check_database_url(url) {
                        problems.push(format!("databases.{name}.url: {problem}"));
                    }
                }
                (None, Some(_)) => {}
            }
            if pool.max_connections == 0 {
                problems.push(format!(
                    "databases.{name}.max_connections: must be at least 1"
                ));
            }
        }
        if let Some(redis) = &self.redis {
            match (&redis.url, &redis.url_file) {
                (None, None) => problems.push(
                    "redis: set url (e.g. url = \"redis://127.0.0.1:6379\") or url_file".to_owned(),
                ),
                (Some(_), Some(_)) => {
                    problems.push("redis: set url or url_file, not both".to_owned())
                }
                _ => {}
            }
        }
        if let Err(error) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            problems.push(format!(
                "log.level: {:?} is not a filter: {error}",
                self.log.level
            ));
        }
        if !self.bootstrap_tenant.is_empty()
            && let Err(error) = TenantSlug::new(self.bootstrap_tenant.clone())
        {
            problems.push(format!("bootstrap_tenant: {error}"));
        }
        if let Err(error) = crate::network::TrustedProxies::parse(&self.trusted_proxies) {
            problems.push(
                error
                    .to_string()
                    .trim_start_matches("configuration: ")
                    .to_owned(),
            );
        }
        for (name, value) in [
            (
                "max_tracked_failure_keys",
                u64::try_from(self.limits.max_tracked_failure_keys).unwrap_or(u64::MAX),
            ),
            ("sweep_batch_size", self.limits.sweep_batch_size),
            (
                "header_read_timeout_secs",
                self.limits.header_read_timeout_secs,
            ),
            (
                "max_connections",
                u64::try_from(self.limits.max_connections).unwrap_or(u64::MAX),
            ),
        ] {
            if value == 0 {
                problems.push(format!("limits.{name}: must be at least 1"));
            }
        }
        match self.settings_book() {
            Ok(book) => {
                for (key, settings) in book.each() {
                    if let Err(problem) = crate::settings::check_publish_ahead(
                        &format!("{key}.key_publish_ahead_secs"),
                        settings.key_publish_ahead_secs,
                        self.key_cache_ttl_secs,
                    ) {
                        problems.push(problem);
                    }
                }
            }
            Err(error) => problems.push(
                error
                    .to_string()
                    .trim_start_matches("configuration: ")
                    .to_owned(),
            ),
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Config(problems.join("; ")))
        }
    }

    /// Whether clients reach the service over https: the parsed scheme of
    /// `public_url` (schemes are case-insensitive, RFC 3986 §3.1: `HTTPS://` is
    /// https), which decides the cookies' `Secure`.
    pub fn is_https(&self) -> bool {
        url::Url::parse(&self.public_url).is_ok_and(|url| url.scheme() == "https")
    }

    /// Policies in the order the router asks them: the per-tenant pins declared under
    /// `[tenants.X.databases]` first, then `[[router.policies]]`.
    pub fn policies(&self) -> Vec<PolicyConfig> {
        let pins: BTreeMap<TenantSlug, BTreeMap<EntityGroup, PoolName>> = self
            .tenants
            .iter()
            .filter(|(_, tenant)| !tenant.databases.is_empty())
            .map(|(slug, tenant)| (slug.clone(), tenant.databases.clone()))
            .collect();
        let mut policies = Vec::with_capacity(self.router.policies.len() + 1);
        if !pins.is_empty() {
            policies.push(PolicyConfig::TenantMap { tenants: pins });
        }
        policies.extend(self.router.policies.iter().cloned());
        policies
    }

    /// Every tenant's OAuth settings (defaults merged with per-tenant overrides).
    pub fn settings_book(&self) -> Result<SettingsBook, Error> {
        let overrides = self
            .tenants
            .iter()
            .map(|(slug, tenant)| (slug.clone(), tenant.oauth.clone()))
            .collect();
        let mut default_fields = self.applications.clone();
        let mut tenant_fields: BTreeMap<TenantSlug, FieldCatalogue> = self
            .tenants
            .iter()
            .map(|(slug, tenant)| (slug.clone(), tenant.applications.clone()))
            .collect();
        for (tenants, typed) in &self.typed_fields {
            match tenants {
                FieldsFor::EveryTenant => {
                    default_fields = default_fields
                        .with_typed(typed, "applications")
                        .map_err(Error::Config)?;
                }
                FieldsFor::Tenant(slug) => {
                    let fields = tenant_fields.entry(slug.clone()).or_default();
                    *fields = fields
                        .with_typed(typed, &format!("tenants.{slug}.applications"))
                        .map_err(Error::Config)?;
                }
            }
        }
        SettingsBook::build(&self.oauth, &overrides, &default_fields, &tenant_fields)
    }

    /// With the extension fields the Rust type `T` declares, for `tenants`: the
    /// service and every command that gets this configuration (`cli::run_configured`)
    /// declare, validate, show and expose them as if configured, and each document
    /// must also deserialize into `T`. A field declared both here and in the
    /// configuration stops the start.
    #[must_use]
    pub fn with_application_fields<T>(
        mut self,
        tenants: FieldsFor,
        fields: &TypedFields<T>,
    ) -> Self {
        self.typed_fields
            .push((tenants, fields.catalogue().clone()));
        self
    }

    /// Whether startup runs migrations.
    pub fn migrates_on_start(&self) -> bool {
        self.migrate_on_start.unwrap_or_else(|| {
            self.databases.values().all(|pool| {
                pool.url
                    .as_deref()
                    .is_some_and(|url| url.starts_with("sqlite:"))
            })
        })
    }

    /// The slug of the tenant whose admin clients administer every tenant
    /// (`admin.tenant`, else `bootstrap_tenant`); `None` when that is empty.
    pub fn admin_tenant(&self) -> Option<&str> {
        let slug = self
            .admin
            .tenant
            .as_deref()
            .unwrap_or(&self.bootstrap_tenant);
        (!slug.is_empty()).then_some(slug)
    }

    /// Why the configuration keeps tenant `slug` from being deleted, if it does:
    /// `[tenants.SLUG]` declares it (the next start would create it again, empty),
    /// or it is the admin tenant (its admin clients administer every tenant).
    pub fn keeps_tenant(&self, slug: &TenantSlug) -> Option<String> {
        if self.tenants.contains_key(slug) {
            return Some(format!(
                "tenant \"{slug}\" is declared in the configuration ([tenants.{slug}]): remove \
                 it there first, or the next start creates it again, empty"
            ));
        }
        if self.admin_tenant() == Some(slug.as_str()) {
            return Some(format!(
                "tenant \"{slug}\" is the admin tenant (admin.tenant, else bootstrap_tenant): \
                 its admin clients administer every tenant; choose another admin tenant first"
            ));
        }
        None
    }

    /// The issuer identifier of a tenant (RFC 8414 §2): `{public_url}/t/{slug}`.
    pub fn issuer(&self, tenant: &TenantSlug) -> String {
        format!("{}/t/{}", self.public_url.trim_end_matches('/'), tenant)
    }
}

/// The `TESSERA_` environment, split on `__`, without the variables that are not
/// configuration keys (see [`is_config_variable`]).
fn environment() -> Env {
    Env::prefixed("TESSERA_")
        .filter(|key| is_config_variable(key.as_str()))
        .split("__")
}

/// Whether `TESSERA_{name}` is meant as configuration. Not: `TESSERA_TEST_*` (test
/// harness), `TESSERA_CONFIG` (the CLI's config path), and the service links Kubernetes
/// injects for a Service named `tessera` (`TESSERA_PORT`, `TESSERA_PORT_80_TCP_…`,
/// `TESSERA_SERVICE_HOST`, `TESSERA_SERVICE_PORT…`). Every other `TESSERA_*` variable
/// is a key, and an unknown one is an error.
pub fn is_config_variable(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    !(name.starts_with("test_")
        || name == "config"
        || name == "port"
        || name.starts_with("port_")
        || name.starts_with("service_host")
        || name.starts_with("service_port"))
}

/// Checks a database URL's scheme without connecting. The message never repeats the
/// URL (it may hold a password).
fn check_database_url(url: &str) -> Result<(), String> {
    let scheme = url.split_once(':').map(|(scheme, _)| scheme).unwrap_or("");
    match scheme {
        "sqlite" | "postgres" | "postgresql" | "mysql" => Ok(()),
        "" => Err("not a URL: expected sqlite://…, postgres://… or mysql://…".to_owned()),
        other => Err(format!(
            "unsupported scheme {other:?}: use sqlite, postgres or mysql (MariaDB uses mysql://)"
        )),
    }
}

/// `listen` as a client on this host reaches it: an unspecified address (`0.0.0.0`,
/// `::`) becomes the loopback one.
pub fn reachable_address(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

/// `http://` and the listening address as this host reaches it
/// ([`reachable_address`]).
pub fn public_url_for(listen: SocketAddr) -> String {
    format!("http://{}", reachable_address(listen))
}

fn describe_figment_error(error: figment::Error) -> String {
    let key = error.path.join(".");
    let origin = error
        .metadata
        .as_ref()
        .map(|metadata| format!(" (from {})", metadata.name))
        .unwrap_or_default();
    if let figment::error::Kind::UnknownField(field, expected) = &error.kind {
        let named = if key.is_empty() || key.ends_with(field.as_str()) {
            key.clone()
        } else {
            format!("{key}.{field}")
        };
        let named = if named.is_empty() {
            field.clone()
        } else {
            named
        };
        return match closest_key(field, expected) {
            Some(suggestion) => {
                format!("{named}: unknown key{origin}; did you mean {suggestion:?}?")
            }
            None if expected.len() <= 8 => format!(
                "{named}: unknown key{origin}; the keys here are {}",
                expected.join(", ")
            ),
            None => format!(
                "{named}: unknown key{origin}; see the configuration reference in README.md"
            ),
        };
    }
    if key.is_empty() {
        format!("{}{origin}", error.kind)
    } else {
        format!("{key}: {}{origin}", error.kind)
    }
}

/// The valid key nearest to a misspelt `field`: at most a third of its letters
/// edited (two at least), or one containing it; `None` when nothing is close.
fn closest_key<'a>(field: &str, expected: &[&'a str]) -> Option<&'a str> {
    let allowed = (field.chars().count() / 3).max(2);
    expected
        .iter()
        .map(|candidate| (edit_distance(field, candidate), *candidate))
        .filter(|(distance, candidate)| {
            *distance <= allowed || (field.len() >= 4 && candidate.contains(field))
        })
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance (insertions, deletions, substitutions) between two keys.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, left) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, right) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(left != *right);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

/// Reads a secret given either inline or as a `*_file` path; the file's content is
/// trimmed of surrounding whitespace.
pub fn read_secret(
    key: &str,
    inline: Option<&String>,
    file: Option<&PathBuf>,
) -> Result<String, Error> {
    match (inline, file) {
        (Some(value), _) => Ok(value.clone()),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map(|value| value.trim().to_owned())
            .map_err(|error| {
                Error::Config(format!(
                    "{key}_file: cannot read {}: {error}",
                    path.display()
                ))
            }),
        (None, None) => Err(Error::Config(format!("{key}: not set"))),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::error::redact_url;

    #[derive(Serialize, Deserialize, schemars::JsonSchema)]
    struct Agreement {
        agree: bool,
    }

    /// A field a Rust type declares for every tenant, or for one, has one owner: a
    /// tenant's or the service's configuration declaring it again is refused, naming
    /// the key; other configured fields sit beside the type's.
    #[test]
    fn a_typed_field_is_declared_once() {
        let typed = TypedFields::<Agreement>::new().unwrap();
        let every = |toml: &str| {
            Config::from_toml(toml)
                .unwrap()
                .with_application_fields(FieldsFor::EveryTenant, &typed)
                .settings_book()
                .map(|book| {
                    let fields = book.fields_for(&TenantSlug::new("acme").unwrap());
                    fields.fields.keys().cloned().collect::<Vec<_>>()
                })
                .map_err(|error| error.to_string())
        };
        assert_eq!(
            every("[tenants.acme.applications.fields.logo]\ntype = \"url\"\n").unwrap(),
            ["agree", "logo"]
        );
        let tenant =
            every("[tenants.acme.applications.fields.agree]\ntype = \"string\"\n").unwrap_err();
        assert!(
            tenant.contains("tenants.acme.applications.fields.agree is declared for every tenant"),
            "{tenant}"
        );
        let service = every("[applications.fields.agree]\ntype = \"bool\"\n").unwrap_err();
        assert!(
            service
                .contains("applications.fields.agree is also declared by the Rust type Agreement"),
            "{service}"
        );
        let twice = Config::from_toml("")
            .unwrap()
            .with_application_fields(FieldsFor::Tenant(TenantSlug::new("acme").unwrap()), &typed)
            .with_application_fields(FieldsFor::Tenant(TenantSlug::new("acme").unwrap()), &typed)
            .settings_book()
            .unwrap_err()
            .to_string();
        assert!(
            twice.contains("tenants.acme.applications.fields.agree"),
            "{twice}"
        );
    }

    #[test]
    fn empty_config_serves_sqlite_default() {
        let config = Config::from_toml("").unwrap();
        assert_eq!(config.databases.len(), 1);
        assert!(config.migrates_on_start());
        assert_eq!(
            config.issuer(&TenantSlug::new("acme").unwrap()),
            "http://127.0.0.1:8080/t/acme"
        );
    }

    #[test]
    fn unknown_keys_are_errors_naming_the_key() {
        let error =
            Config::from_toml("[databases.main]\nurl = \"sqlite::memory:\"\nmax_conections = 3\n")
                .unwrap_err()
                .to_string();
        assert!(error.contains("max_conections"), "{error}");
        let error = Config::from_toml("lisen = \"127.0.0.1:1\"")
            .unwrap_err()
            .to_string();
        assert!(error.contains("lisen"), "{error}");
        assert!(error.contains("did you mean \"listen\""), "{error}");
        assert!(
            !error.contains("public_url"),
            "no dump of every key: {error}"
        );
        let error = Config::from_toml("[oauth]\nacess_token_lifetime_secs = 5\n")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("did you mean \"access_token_lifetime_secs\""),
            "{error}"
        );
        let error = Config::from_toml("zzzzzz = 1\n").unwrap_err().to_string();
        assert!(error.contains("zzzzzz: unknown key"), "{error}");
        assert!(error.contains("README.md"), "{error}");
    }

    #[test]
    fn the_public_url_follows_listen_unless_set() {
        let config = Config::from_toml("listen = \"127.0.0.1:9000\"\n").unwrap();
        assert_eq!(config.public_url, "http://127.0.0.1:9000");
        let config = Config::from_toml("listen = \"0.0.0.0:9000\"\n").unwrap();
        assert_eq!(config.public_url, "http://127.0.0.1:9000");
        let config = Config::from_toml("listen = \"[::]:9000\"\n").unwrap();
        assert_eq!(config.public_url, "http://[::1]:9000");
        let config =
            Config::from_toml("listen = \"0.0.0.0:9000\"\npublic_url = \"https://id.example\"\n")
                .unwrap();
        assert_eq!(config.public_url, "https://id.example");
        // Set to what the default is, it stays set.
        let config = Config::from_toml(
            "listen = \"0.0.0.0:9000\"\npublic_url = \"http://127.0.0.1:8080\"\n",
        )
        .unwrap();
        assert_eq!(config.public_url, "http://127.0.0.1:8080");
        assert_eq!(
            Config::from_toml("").unwrap().public_url,
            "http://127.0.0.1:8080"
        );
    }

    #[test]
    fn https_is_the_parsed_scheme() {
        for (url, https) in [
            ("https://id.example", true),
            ("HTTPS://id.example", true),
            ("Https://id.example/base", true),
            ("http://id.example", false),
        ] {
            let config = Config::from_toml(&format!("public_url = \"{url}\"\n")).unwrap();
            assert_eq!(config.is_https(), https, "{url}");
        }
    }

    #[test]
    fn publish_ahead_times_shorter_than_the_caches_are_refused() {
        // 300 s of JWKS max-age plus the default 60 s key cache.
        let error = Config::from_toml("[oauth]\nkey_publish_ahead_secs = 120\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("oauth.key_publish_ahead_secs"), "{error}");
        assert!(error.contains("at least 360"), "{error}");
        let error = Config::from_toml(
            "key_cache_ttl_secs = 600\n[tenants.acme.oauth]\nkey_publish_ahead_secs = 899\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("tenants.acme.oauth.key_publish_ahead_secs"),
            "{error}"
        );
        assert!(error.contains("at least 900"), "{error}");
        Config::from_toml("[oauth]\nkey_publish_ahead_secs = 0\n").expect("0: a compromised key");
        Config::from_toml("[oauth]\nkey_publish_ahead_secs = 360\n").expect("the minimum");
    }

    #[test]
    fn bad_values_name_the_key() {
        let error = Config::from_toml("listen = \"nowhere\"")
            .unwrap_err()
            .to_string();
        assert!(error.contains("listen"), "{error}");
        let error = Config::from_toml("[databases.main]\nmax_connections = 3\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("databases.main: set url"), "{error}");
    }

    #[test]
    fn tenant_pins_come_first() {
        let config = Config::from_toml(
            "[[router.policies]]\nkind = \"static\"\ngroups = { users = \"default\" }\n\
             [tenants.acme.databases]\ntokens = \"default\"\n",
        )
        .unwrap();
        let policies = config.policies();
        assert!(matches!(policies[0], PolicyConfig::TenantMap { .. }));
        assert!(matches!(policies[1], PolicyConfig::Static { .. }));
    }

    #[test]
    fn kubernetes_service_links_and_harness_variables_are_not_keys() {
        for name in [
            "PORT",
            "PORT_80_TCP",
            "PORT_80_TCP_ADDR",
            "SERVICE_HOST",
            "SERVICE_PORT_HTTP",
            "TEST_POSTGRES_URL",
            "CONFIG",
        ] {
            assert!(!is_config_variable(name), "{name}");
        }
        for name in ["LISTEN", "PUBLIC_URL", "DATABASES__DEFAULT__URL", "LISTN"] {
            assert!(is_config_variable(name), "{name}");
        }
    }

    #[test]
    fn database_urls_need_a_known_scheme_and_never_echo_passwords() {
        let error = Config::from_toml("[databases.main]\nurl = \"postgress://u:hunter2@h/db\"\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("databases.main.url"), "{error}");
        assert!(error.contains("postgress"), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
        let error =
            Config::from_toml("[databases.main]\nurl = \"sqlite::memory:\"\nurl_file = \"/x\"\n")
                .unwrap_err()
                .to_string();
        assert!(error.contains("not both"), "{error}");
        assert_eq!(
            redact_url("postgres://u:hunter2@h/db"),
            "postgres://u:***@h/db"
        );
        let error = Config::from_toml("[log]\nlevel = \"info,[\"\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("log.level"), "{error}");
    }

    #[test]
    fn tenant_oauth_overrides_merge_over_defaults() {
        let config = Config::from_toml(
            "[oauth]\naccess_token_lifetime_secs = 600\n\
             [tenants.acme.oauth]\nrotate_refresh_tokens = false\n",
        )
        .unwrap();
        let book = config.settings_book().unwrap();
        let acme = book.for_tenant(&TenantSlug::new("acme").unwrap());
        assert_eq!(acme.access_token_lifetime_secs, 600);
        assert!(!acme.rotate_refresh_tokens);
        let other = book.for_tenant(&TenantSlug::new("other").unwrap());
        assert!(other.rotate_refresh_tokens);
        let error = Config::from_toml("[tenants.acme.oauth]\nrotate_refresh_token = false\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("tenants.acme.oauth"), "{error}");
        assert!(error.contains("rotate_refresh_token"), "{error}");
        // A scope catalogue replaces the built-in one, in [oauth] and per tenant.
        let config = Config::from_toml(
            "[oauth.scopes]\nprofile = \"Profile\"\n[oauth]\ndefault_scopes = [\"profile\"]\n\
             [tenants.acme.oauth]\nscopes = { orders = \"Orders\" }\ndefault_scopes = []\n",
        )
        .unwrap();
        assert_eq!(config.oauth.scopes.keys().collect::<Vec<_>>(), ["profile"]);
        let acme = config
            .settings_book()
            .unwrap()
            .for_tenant(&TenantSlug::new("acme").unwrap());
        // … and the OpenID Connect scopes are always there.
        assert_eq!(
            acme.scopes.keys().collect::<Vec<_>>(),
            ["address", "email", "openid", "orders", "phone", "profile"]
        );
        // A grace period outliving the access token it would hand out again.
        let error = Config::from_toml(
            "[tenants.acme.oauth]\naccess_token_lifetime_secs = 60\nrefresh_token_grace_period_secs = 120\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("tenants.acme.oauth.refresh_token_grace_period_secs"),
            "{error}"
        );
        assert!(error.contains("revoke the whole family"), "{error}");
        let error = Config::from_toml("[oauth]\ndefault_scopes = [\"admin\"]\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("oauth.default_scopes"), "{error}");
        // The dynamic registration policy is checked like every setting.
        for (toml, named) in [
            (
                "[tenants.acme.oauth]\nregistration_grant_types = [\"authorization-code\"]\n",
                "tenants.acme.oauth.registration_grant_types",
            ),
            (
                "[oauth]\nregistration_redirect_uri_schemes = [\"javascript\"]\n",
                "oauth.registration_redirect_uri_schemes",
            ),
            (
                "[oauth]\nsoftware_statement_issuers = { \"https://i.example\" = '{\"kty\":\"oct\",\"k\":\"eA\"}' }\n",
                "software_statement_issuers",
            ),
            (
                "[oauth]\ndynamic_registration = \"sometimes\"\n",
                "dynamic_registration",
            ),
        ] {
            let error = Config::from_toml(toml).unwrap_err().to_string();
            assert!(error.contains(named), "{toml}: {error}");
        }
    }

    #[test]
    fn secrets_from_files_are_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("url");
        std::fs::write(&path, "postgres://x\n").unwrap();
        assert_eq!(
            read_secret("databases.x.url", None, Some(&path)).unwrap(),
            "postgres://x"
        );
    }
}
