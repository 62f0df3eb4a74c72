//! Test harness for Tessera's black-box integration tests.
//!
//! Each test gets fresh, uniquely named databases on the backend it runs against and
//! drops them afterwards: SQLite (a temporary file, always available), PostgreSQL and
//! MariaDB/MySQL (from `TESSERA_TEST_POSTGRES_URL` / `TESSERA_TEST_MYSQL_URL`, an
//! admin URL such as `postgres://postgres@127.0.0.1:5432/postgres`), and a unique
//! Redis key prefix (`TESSERA_TEST_REDIS_URL`). When a backend's variable is missing
//! the test is skipped with a message, except with `CI=true`, where it fails.
//!
//! The application is served in-process on port 0 ([`spawn_app`]); `TEST_LOG=1`
//! prints its logs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io::Cursor;
use std::path::PathBuf;
use std::sync::Once;
use std::time::Duration;

use clap::Parser;
use sea_orm::{ConnectionTrait, Database};
use tessera::Application;
use tessera::cli::{Cli, CliError};
use tessera::registration;
use tessera::state::AppState;
use tokio::sync::oneshot;

/// A database server kind the tests run against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    MySql,
}

impl Backend {
    fn env_var(self) -> Option<&'static str> {
        match self {
            Backend::Sqlite => None,
            Backend::Postgres => Some("TESSERA_TEST_POSTGRES_URL"),
            Backend::MySql => Some("TESSERA_TEST_MYSQL_URL"),
        }
    }
}

/// Whether missing backends fail the run (`CI=true`).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value == "true" || value == "1")
}

/// The URL in `variable` for a backend's tests. A missing one is never skipped
/// silently: it fails, unless `TESSERA_TEST_BACKENDS` (e.g. `sqlite` or
/// `sqlite,postgres`) names the backends to run and leaves this one out — a choice
/// made on purpose, and said on standard error. CI (`CI=true`) always needs every
/// backend.
fn unavailable(variable: &str) -> Option<String> {
    match std::env::var(variable) {
        Ok(value) if !value.is_empty() => Some(value),
        _ if in_ci() => panic!("{variable} is not set: CI must test every backend"),
        _ => {
            let backend = variable
                .trim_start_matches("TESSERA_TEST_")
                .trim_end_matches("_URL")
                .to_lowercase();
            let chosen = std::env::var("TESSERA_TEST_BACKENDS").ok();
            match chosen {
                Some(chosen) if !chosen.split(',').any(|name| name.trim() == backend) => {
                    eprintln!("skipped: {backend} is not in TESSERA_TEST_BACKENDS={chosen}");
                    None
                }
                _ => panic!(
                    "{variable} is not set: set it (README, \"To run the tests against every \
                     backend\"), or choose the backends to run, e.g. \
                     TESSERA_TEST_BACKENDS=sqlite"
                ),
            }
        }
    }
}

fn unique_name() -> String {
    format!("tessera_t_{}", uuid::Uuid::new_v4().simple())
}

/// A fresh database, dropped when this value is.
pub struct TestDatabase {
    pub backend: Backend,
    pub url: String,
    name: String,
    admin_url: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    /// Creates an empty database on `backend`; `None` (skip) when the backend is not
    /// configured outside CI.
    pub async fn create(backend: Backend) -> Option<Self> {
        let name = unique_name();
        let Some(variable) = backend.env_var() else {
            let dir = tempfile::tempdir().unwrap();
            let path: PathBuf = dir.path().join(format!("{name}.db"));
            return Some(Self {
                backend,
                url: format!("sqlite://{}?mode=rwc", path.display()),
                name,
                admin_url: None,
                _dir: Some(dir),
            });
        };
        let admin_url = unavailable(variable)?;
        let admin = Database::connect(admin_url.as_str())
            .await
            .unwrap_or_else(|error| panic!("{variable}={admin_url}: cannot connect: {error}"));
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        admin.close().await.unwrap();
        let mut url = url::Url::parse(&admin_url).unwrap();
        url.set_path(&format!("/{name}"));
        Some(Self {
            backend,
            url: url.to_string(),
            name,
            admin_url: Some(admin_url),
            _dir: None,
        })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(admin_url) = self.admin_url.clone() else {
            return;
        };
        let statement = match self.backend {
            Backend::Postgres => format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            _ => format!("DROP DATABASE IF EXISTS {}", self.name),
        };
        // Drop runs inside the test's runtime: use a thread with its own.
        let joined = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let admin = Database::connect(admin_url.as_str()).await?;
                admin.execute_unprepared(&statement).await?;
                admin.close().await
            })
        })
        .join();
        if let Ok(Err(error)) = joined {
            eprintln!("could not drop test database {}: {error}", self.name);
        }
    }
}

/// A Redis URL and a key prefix unique to this test; keys under it are deleted on drop.
pub struct TestRedis {
    pub url: String,
    pub prefix: String,
}

impl TestRedis {
    /// `None` (skip) when `TESSERA_TEST_REDIS_URL` is unset outside CI.
    pub fn create() -> Option<Self> {
        let url = unavailable("TESSERA_TEST_REDIS_URL")?;
        Some(Self {
            url,
            prefix: unique_name(),
        })
    }

    /// A TCP proxy in front of this Redis, and the URL through it (stop the proxy
    /// to take Redis away from whoever uses that URL).
    pub async fn proxy(&self) -> (TcpProxy, String) {
        let target = self
            .url
            .trim_start_matches("redis://")
            .trim_end_matches('/')
            .to_owned();
        let proxy = TcpProxy::start(&target).await;
        let url = format!("redis://127.0.0.1:{}", proxy.port);
        (proxy, url)
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        let Ok(client) = redis::Client::open(self.url.as_str()) else {
            return;
        };
        let Ok(mut connection) = client.get_connection() else {
            return;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", self.prefix))
            .query(&mut connection)
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: Result<(), _> = redis::cmd("DEL").arg(keys).query(&mut connection);
        }
    }
}

/// Every log line Tessera wrote in this test process (its own crates at debug level),
/// so a test can check that no secret reaches a log. With `TEST_LOG` set, the lines go
/// to standard error too.
static LOGS: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());

/// Where the test subscriber writes: into [`LOGS`], and to stderr with `TEST_LOG`.
struct CapturedLogs;

impl std::io::Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut logs) = LOGS.lock() {
            logs.extend_from_slice(bytes);
        }
        if std::env::var_os("TEST_LOG").is_some() {
            std::io::stderr().write_all(bytes)?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What Tessera has logged so far in this process.
pub fn captured_logs() -> String {
    init_logs();
    String::from_utf8_lossy(&LOGS.lock().unwrap()).into_owned()
}

fn init_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The service's own subscriber (format, filter), writing into the capture.
        let config = tessera::config::LogConfig {
            format: tessera::config::LogFormat::Text,
            level: "tessera=debug,tower_http=debug,migration=debug,router_policies=debug,warn"
                .to_owned(),
        };
        let subscriber = tessera::telemetry::subscriber(&config, || CapturedLogs, false);
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
}

/// A running application and what it needs to stay alive.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    pub client: reqwest::Client,
    pub state: AppState,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl TestApp {
    /// `{address}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// `GET path`'s JSON body.
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        self.client
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Stops the server and waits for it to drain.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap();
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// [`spawn_app_with`] on a listener the test bound already (its address was needed
/// before the application could be configured: another program points at it).
pub async fn spawn_app_on(
    listener: tokio::net::TcpListener,
    toml: &str,
) -> Result<TestApp, tessera::Error> {
    serve_configured(
        listener,
        toml,
        |config| config,
        tessera::endpoints::routes::Routes::built_in(),
        tessera::policy::Policies::default(),
    )
    .await
}

/// A program the test starts that serves HTTP on a port it binds itself (port 0:
/// nothing to race for) and prints `… listening on http://ADDRESS` once it does; the
/// child and that address. Its later output is read and dropped.
pub async fn spawn_listening(
    mut command: tokio::process::Command,
) -> (tokio::process::Child, String) {
    use tokio::io::AsyncBufReadExt;
    command
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let address = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some((_, address)) = line.split_once("listening on ") {
                return address.trim().to_owned();
            }
        }
        panic!("the program exited without saying where it listens")
    })
    .await
    .expect("the program says where it listens within 60 s");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, address)
}

/// Builds the application from `toml` (over the defaults, without the environment),
/// with `public_url` set to the listener's address, and serves it on port 0.
pub async fn spawn_app_with(toml: &str) -> Result<TestApp, tessera::Error> {
    spawn_app_with_routes(toml, tessera::endpoints::routes::Routes::built_in()).await
}

/// [`spawn_app_with`], serving `routes` (an embedding program's).
pub async fn spawn_app_with_routes(
    toml: &str,
    routes: tessera::endpoints::routes::Routes,
) -> Result<TestApp, tessera::Error> {
    spawn_embedded(toml, routes, tessera::policy::Policies::default()).await
}

/// [`spawn_app_with`] as an embedding program builds it: its routes and its policy
/// hooks.
pub async fn spawn_embedded(
    toml: &str,
    routes: tessera::endpoints::routes::Routes,
    policies: tessera::policy::Policies,
) -> Result<TestApp, tessera::Error> {
    spawn_configured(toml, |config| config, routes, policies).await
}

/// [`spawn_embedded`] with the configuration completed by `configure` (an embedding
/// program's typed extension fields).
pub async fn spawn_configured(
    toml: &str,
    configure: impl FnOnce(tessera::Config) -> tessera::Config,
    routes: tessera::endpoints::routes::Routes,
    policies: tessera::policy::Policies,
) -> Result<TestApp, tessera::Error> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    serve_configured(listener, toml, configure, routes, policies).await
}

/// [`spawn_configured`] on `listener`.
async fn serve_configured(
    listener: tokio::net::TcpListener,
    toml: &str,
    configure: impl FnOnce(tessera::Config) -> tessera::Config,
    routes: tessera::endpoints::routes::Routes,
    policies: tessera::policy::Policies,
) -> Result<TestApp, tessera::Error> {
    init_logs();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let kek = if toml.contains("key_encryption_key") {
        String::new()
    } else {
        format!("key_encryption_key = \"{TEST_KEK}\"\n")
    };
    let config = configure(tessera::Config::from_toml(&format!(
        "public_url = \"{address}\"\n{kek}{toml}"
    ))?);
    let application = Application::build(config).await?.with_policies(policies);
    let state = application.state().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        application
            .serve_routes(routes, listener, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    Ok(TestApp {
        address,
        client: reqwest::Client::new(),
        state,
        stop: Some(stop),
        server: Some(server),
    })
}

/// TOML for one `default` pool at `url`, migrated at startup.
pub fn single_pool_toml(url: &str) -> String {
    format!("migrate_on_start = true\n[databases.default]\nurl = \"{url}\"\n")
}

/// What a CLI run printed, and how it ended.
pub struct CliRun {
    pub stdout: String,
    pub result: Result<(), CliError>,
}

impl CliRun {
    /// Exit status as the binary would return it.
    pub fn code(&self) -> u8 {
        match &self.result {
            Ok(()) => 0,
            Err(error) => error.code,
        }
    }

    /// The one-line error message (empty on success).
    pub fn message(&self) -> &str {
        match &self.result {
            Ok(()) => "",
            Err(error) => &error.message,
        }
    }
}

/// Runs `tessera ARGS…` in-process with `stdin` as standard input.
pub async fn run_cli(args: &[&str], stdin: &str) -> CliRun {
    run_cli_configured(args, stdin, |config| config).await
}

/// [`run_cli`] as an embedding program's binary runs it (`cli::run_configured`).
pub async fn run_cli_configured(
    args: &[&str],
    stdin: &str,
    configure: impl FnOnce(tessera::Config) -> tessera::Config,
) -> CliRun {
    init_logs();
    let cli = Cli::try_parse_from(std::iter::once("tessera").chain(args.iter().copied()))
        .unwrap_or_else(|error| panic!("bad test arguments {args:?}: {error}"));
    let mut input = Cursor::new(stdin.as_bytes().to_vec());
    let mut output = Vec::new();
    let result = tessera::cli::run_configured(cli, configure, &mut input, &mut output).await;
    CliRun {
        stdout: String::from_utf8(output).unwrap(),
        result,
    }
}

/// The key-encryption key of test configurations (a fixed, public test value).
pub const TEST_KEK: &str = "dGVzc2VyYS10ZXN0LWtlay0wMTIzNDU2Nzg5YWJjZGU=";

/// Writes `toml` to a config file in a new temporary directory, with [`TEST_KEK`]
/// unless `toml` sets a key-encryption key itself.
pub fn config_file(toml: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tessera.toml");
    let toml = if toml.contains("key_encryption_key") {
        toml.to_owned()
    } else {
        format!("key_encryption_key = \"{TEST_KEK}\"\n{toml}")
    };
    std::fs::write(&path, toml).unwrap();
    let path = path.display().to_string();
    (dir, path)
}

/// Generates three tests (`sqlite`, `postgres`, `mysql`) in a module named after an
/// async function taking a [`Backend`].
#[macro_export]
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::Backend::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::Backend::Postgres).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn mysql() {
                    super::$name($crate::Backend::MySql).await
                }
            }
        )*
    };
}

/// Generates one test, `sqlite`, in a module named after an async function taking a
/// [`Backend`]: for a behaviour decided before or apart from the database (request
/// validation, document formats, signatures), whose storage paths other tests run on
/// every backend. docs/testing.md lists these tests and why each may run once.
#[macro_export]
macro_rules! on_sqlite_only {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::Backend::Sqlite).await
                }
            }
        )*
    };
}

/// What [`TestApp::register`] registers.
#[derive(Clone, Copy, Debug)]
pub struct Registration<'a> {
    pub client_id: &'a str,
    pub confidential: bool,
    /// Comma-separated grant types.
    pub grant_types: &'a str,
    /// Allowed scopes, space-separated (empty: the catalogue).
    pub scopes: &'a str,
    pub origins: &'a str,
    /// Space-separated redirect URIs.
    pub redirect_uris: &'a str,
    pub skip_authorization: bool,
}

/// A registered client: its id and (for confidential clients) its secret.
#[derive(Clone, Debug)]
pub struct TestClient {
    pub client_id: String,
    pub client_secret: Option<String>,
}

/// An HTTP answer, decoded.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: serde_json::Value,
    pub text: String,
}

impl TestApp {
    /// The loaded tenant `slug` (declared in the config or created before).
    pub async fn tenant(&self, slug: &str) -> std::sync::Arc<tessera::tenancy::Tenant> {
        self.state
            .tenants
            .resolve(&self.state.databases, slug)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("tenant {slug} does not exist"))
    }

    /// Registers a client in `tenant` through the store, as `tessera app create` does,
    /// with the redirect URI `https://app.example/cb`.
    pub async fn client(
        &self,
        tenant: &str,
        client_id: &str,
        confidential: bool,
        grant_types: &str,
        scopes: &str,
        origins: &str,
    ) -> TestClient {
        self.register(
            tenant,
            Registration {
                client_id,
                confidential,
                grant_types,
                scopes,
                origins,
                redirect_uris: "https://app.example/cb",
                skip_authorization: false,
            },
        )
        .await
    }

    /// Registers a client in `tenant` through the store.
    pub async fn register(&self, tenant: &str, registration: Registration<'_>) -> TestClient {
        use tessera::registration::{ClientType, NewApplication};
        use tessera::store::applications;
        let tenant = self.tenant(tenant).await;
        let secret = registration
            .confidential
            .then(|| tessera::secrets::generate(tessera::secrets::prefix::CLIENT_SECRET).unwrap());
        let new = NewApplication {
            client_id: registration.client_id.to_owned(),
            redirect_uris: registration::parse_redirect_uris(
                "redirect URI",
                registration.redirect_uris,
            )
            .unwrap(),
            allowed_origins: registration::parse_origins(registration.origins).unwrap(),
            client_secret: secret
                .as_deref()
                .map(|secret| tessera::secrets::hash_client_secret(secret).unwrap())
                .unwrap_or_default(),
            skip_authorization: registration.skip_authorization,
            allowed_scopes: registration
                .scopes
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            ..NewApplication::named(
                &format!("App {}", registration.client_id),
                if registration.confidential {
                    ClientType::Confidential
                } else {
                    ClientType::Public
                },
                registration::parse_grant_types(registration.grant_types).unwrap(),
            )
        };
        applications::create(self.state.data(&tenant), new)
            .await
            .unwrap();
        TestClient {
            client_id: registration.client_id.to_owned(),
            client_secret: secret,
        }
    }

    /// Changes the registration of `client_id` in `tenant` (the fields `change` sets),
    /// as an operator editing it would.
    pub async fn update_client(
        &self,
        tenant: &str,
        client_id: &str,
        change: entity::application::ActiveModel,
    ) {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        let (tenant, db) = self
            .pool(tenant, router_policies::EntityGroup::Applications)
            .await;
        let updated = entity::application::Entity::update_many()
            .set(change)
            .filter(entity::application::Column::TenantId.eq(tenant.id))
            .filter(entity::application::Column::ClientId.eq(client_id))
            .exec(db)
            .await
            .unwrap();
        assert_eq!(updated.rows_affected, 1, "client {client_id} exists");
        self.state.clients.forget(tenant.id, client_id);
    }

    /// The loaded tenant `slug` and the write pool of its `group`.
    pub async fn pool(
        &self,
        slug: &str,
        group: router_policies::EntityGroup,
    ) -> (
        std::sync::Arc<tessera::tenancy::Tenant>,
        &sea_orm::DatabaseConnection,
    ) {
        let tenant = self.tenant(slug).await;
        let db = self
            .state
            .databases
            .pool(
                tenant
                    .routes
                    .pool(group, router_policies::Role::Write)
                    .unwrap(),
            )
            .unwrap();
        (tenant, db)
    }

    /// The OIDC subject of user `user_id`.
    pub async fn subject(&self, tenant: &str, user_id: i64) -> String {
        let tenant = self.tenant(tenant).await;
        tessera::store::users::find_by_id(self.state.data(&tenant), user_id)
            .await
            .unwrap()
            .unwrap()
            .subject
    }

    /// Creates a user with an e-mail address and standard claims.
    pub async fn user_with_claims(
        &self,
        tenant: &str,
        username: &str,
        password: &str,
        email: Option<&str>,
        claims: &serde_json::Map<String, serde_json::Value>,
    ) -> i64 {
        let tenant = self.tenant(tenant).await;
        let hash = tessera::secrets::hash_password(password).unwrap();
        tessera::store::users::create(
            self.state.data(&tenant),
            username,
            tenant.settings.usernames_ignore_case,
            email,
            hash,
            claims,
        )
        .await
        .unwrap()
        .id
    }

    /// Creates a user with an argon2id password.
    pub async fn user(&self, tenant: &str, username: &str, password: &str) -> i64 {
        self.user_with_claims(tenant, username, password, None, &serde_json::Map::new())
            .await
    }

    /// POSTs a form to `path`, with HTTP Basic credentials when `basic` is given
    /// (both parts form-urlencoded first, RFC 6749 §2.3.1).
    pub async fn post_form(
        &self,
        path: &str,
        basic: Option<&TestClient>,
        params: &[(&str, &str)],
    ) -> Answer {
        let mut request = self.client.post(self.url(path));
        if let Some(client) = basic {
            request = request.header(
                "authorization",
                basic_header(
                    &client.client_id,
                    client.client_secret.as_deref().unwrap_or(""),
                ),
            );
        }
        self.send_form(request, params).await
    }

    /// Sends `method` to `path` as an HTTP API client does: with a bearer token, a
    /// JSON body and extra headers when given.
    pub async fn send_json(
        &self,
        method: reqwest::Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<&serde_json::Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut request = self.client.request(method, self.url(path));
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        Answer::read(request.send().await.unwrap()).await
    }

    /// Sends `params` as a form body on an already prepared request.
    pub async fn send_form(
        &self,
        request: reqwest::RequestBuilder,
        params: &[(&str, &str)],
    ) -> Answer {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        let response = request
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        Answer::read(response).await
    }
}

impl Answer {
    /// Reads status, headers and (JSON when possible) body.
    pub async fn read(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
        Self {
            status,
            headers,
            body,
            text,
        }
    }

    /// The `error` code of an RFC 6749 error body.
    pub fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or("")
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
}

/// `Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1).
pub fn basic_header(client_id: &str, secret: &str) -> String {
    use base64::Engine;
    let encode =
        |value: &str| url::form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            encode(client_id),
            encode(secret)
        ))
    )
}

/// A minimal browser over HTTP: keeps cookies (name → value, whatever their path:
/// tests use one tenant per browser unless they mean to cross), follows no redirects.
pub struct Browser {
    pub base: String,
    pub http: reqwest::Client,
    pub cookies: std::collections::BTreeMap<String, String>,
}

/// A page or redirect as the browser saw it.
#[derive(Debug)]
pub struct Seen {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

/// `text` with the HTML entities minijinja writes decoded, as a browser reads it.
pub fn unescape_html(text: &str) -> String {
    text.replace("&#x2f;", "/")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

impl Seen {
    /// The body with HTML entities decoded (attribute values as a browser reads them).
    pub fn text(&self) -> String {
        unescape_html(&self.body)
    }

    /// `Location`, if any.
    pub fn location(&self) -> Option<&str> {
        self.headers
            .get("location")
            .and_then(|value| value.to_str().ok())
    }

    /// The value of hidden or text input `name` in the page.
    pub fn input(&self, name: &str) -> Option<String> {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self.body.find(&marker)? + marker.len();
        let end = self.body[start..].find('"')? + start;
        Some(self.body[start..end].to_owned())
    }

    /// Every `<input type="hidden" name="…" value="…">` of the page, decoded, in order.
    pub fn hidden_inputs(&self) -> Vec<(String, String)> {
        let mut found = Vec::new();
        let mut rest = self.body.as_str();
        let marker = "<input type=\"hidden\" name=\"";
        while let Some(start) = rest.find(marker) {
            rest = &rest[start + marker.len()..];
            let Some(name_end) = rest.find('"') else {
                break;
            };
            let name = rest[..name_end].to_owned();
            rest = &rest[name_end..];
            let value = rest
                .strip_prefix("\" value=\"")
                .and_then(|after| after.find('"').map(|end| after[..end].to_owned()))
                .unwrap_or_default();
            found.push((name, unescape_html(&value)));
        }
        found
    }

    /// The `action` of the page's first form, decoded.
    pub fn form_action(&self) -> Option<String> {
        let marker = "action=\"";
        let start = self.body.find(marker)? + marker.len();
        let end = self.body[start..].find('"')? + start;
        Some(unescape_html(&self.body[start..end]))
    }

    /// The query (or fragment) parameters of the `Location`.
    pub fn location_params(&self) -> std::collections::BTreeMap<String, String> {
        let location = self.location().expect("a Location header");
        let query = location
            .split_once('#')
            .map(|(_, fragment)| fragment)
            .or_else(|| location.split_once('?').map(|(_, query)| query))
            .unwrap_or("");
        url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect()
    }
}

impl Browser {
    /// A browser with no cookies, for the app at `base`.
    pub fn new(base: &str) -> Self {
        Self {
            base: base.to_owned(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: Default::default(),
        }
    }

    fn absolute(&self, path_or_url: &str) -> String {
        if path_or_url.starts_with("http") {
            path_or_url.to_owned()
        } else {
            format!("{}{path_or_url}", self.base)
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn keep(&mut self, response: reqwest::Response) -> Seen {
        for value in response.headers().get_all("set-cookie") {
            let text = value.to_str().unwrap();
            let (pair, attributes) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attributes.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        Seen {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.text().await.unwrap(),
        }
    }

    /// A second browser with this one's cookies, to send a request at the same
    /// moment as this one (a double submit).
    pub fn clone_for_race(&self) -> Self {
        Self {
            base: self.base.clone(),
            http: self.http.clone(),
            cookies: self.cookies.clone(),
        }
    }

    /// `GET`.
    pub async fn get(&mut self, path_or_url: &str) -> Seen {
        let response = self
            .http
            .get(self.absolute(path_or_url))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep(response).await
    }

    /// `POST` a form.
    pub async fn post(&mut self, path_or_url: &str, params: &[(&str, &str)]) -> Seen {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        let response = self
            .http
            .post(self.absolute(path_or_url))
            .header("cookie", self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        self.keep(response).await
    }
}

/// A TCP proxy on a free loopback port to `target`, to take a database "down" and
/// back up under a running service: [`TcpProxy::stop`] closes the listener and every
/// connection through it; [`TcpProxy::start_again`] listens on the same port again.
pub struct TcpProxy {
    pub port: u16,
    target: String,
    running: Option<tokio::task::JoinHandle<()>>,
}

impl TcpProxy {
    /// Starts forwarding a free port to `target` (`host:port`).
    pub async fn start(target: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut proxy = Self {
            port,
            target: target.to_owned(),
            running: None,
        };
        proxy.serve(listener);
        proxy
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let target = self.target.clone();
        self.running = Some(tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                connections.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
            // Dropping the set aborts every forwarded connection.
        }));
    }

    /// Closes the listener and every connection: the database is unreachable.
    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.abort();
            let _ = running.await;
        }
    }

    /// Listens on the same port again.
    pub async fn start_again(&mut self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .unwrap();
        self.serve(listener);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            running.abort();
        }
    }
}

/// A raw connection to `tenant`'s pool for (`group`, `role`), for tests that read or
/// change rows directly (the service itself chooses connections in its store layer
/// only).
pub fn connection<'a>(
    state: &'a AppState,
    tenant: &tessera::tenancy::Tenant,
    group: router_policies::EntityGroup,
    role: router_policies::Role,
) -> &'a sea_orm::DatabaseConnection {
    state
        .databases
        .pool(tenant.routes.pool(group, role).unwrap())
        .unwrap()
}

/// Calls `check` every `every` until it holds and returns how long that took;
/// fails the test, naming `what`, when it does not hold within `limit`.
pub async fn poll_until<F, Fut>(
    what: &str,
    limit: Duration,
    every: Duration,
    mut check: F,
) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = std::time::Instant::now();
    while !check().await {
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(every).await;
    }
    started.elapsed()
}

/// A free loopback port (bound, then released: for a program the test starts).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts a `redis-server` of the test's own on loopback, without persistence, with
/// `args` (its port, TLS or cluster options); killed when the handle is dropped.
pub fn redis_server(args: &[&str]) -> tokio::process::Child {
    tokio::process::Command::new("redis-server")
        .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .args(args)
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("redis-server (apt-get install redis-server)")
}
