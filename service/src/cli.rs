//! The command line: `tessera serve | check | migrate | tenant | user | app`.
//!
//! Every command takes `--config FILE`; data commands take `--json`. Bad input exits
//! with status 2 and one line saying what to fix; a refused routing check exits 1 with
//! every violation; nothing is half-written (all input is validated before the one
//! write a command makes).

use std::collections::BTreeMap;
use std::future::Future;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::pin::Pin;

use clap::{Parser, Subcommand};
use router_policies::{RoutingTable, TenantSlug};
use serde_json::json;

use crate::application_fields::Assignment;
use crate::config::Config;
use crate::error::{Error, render_violations};
use crate::jose::jwk::SigningAlgorithm;
use crate::jose::keyring;
use crate::jose::sealing::KeyEncryptionKey;
use crate::routing::{router_from_config, tenant_entries};
use crate::secrets;
use crate::startup::{self, Application, Connected};
use crate::store::access::TenantData;
use crate::store::signing_keys;
use crate::store::{applications, users};
use crate::tenancy::{self, Tenant, Tenants};
use std::sync::Arc;

/// Tessera: multi-tenant OAuth 2 / OpenID Connect token service.
#[derive(Debug, Parser)]
#[command(name = "tessera", version, about, long_about = None)]
pub struct Cli {
    /// Configuration file [default: ./tessera.toml when it exists].
    #[arg(long, global = true, env = "TESSERA_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// What to do [default: serve].
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve HTTP (the default).
    Serve,
    /// Print the routing table (tenant × group × read/write → pool) and the verdict.
    Check {
        /// Also open every pool, read the tenant directory and check stored placements.
        #[arg(long)]
        connect: bool,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Run pending migrations on every pool, for exactly the groups routed there.
    Migrate {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Remove expired and revoked tokens and codes on every token pool, in batches.
    Cleartokens {
        /// Rows per delete statement.
        #[arg(long, default_value_t = 10_000)]
        batch_size: u64,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Manage tenants.
    Tenant {
        /// Tenant command.
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Manage users.
    User {
        /// User command.
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage applications (OAuth clients).
    App {
        /// Application command.
        #[command(subcommand)]
        command: AppCommand,
    },
    /// Manage signing keys and the key-encryption key.
    Keys {
        /// Keys command.
        #[command(subcommand)]
        command: KeysCommand,
    },
}

/// `tessera keys …`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Print a new random key-encryption key (or write it to a new file, mode 0600).
    GenerateKek {
        /// Write it to this file, which must not exist yet.
        #[arg(long)]
        output: Option<std::path::PathBuf>,
    },
    /// List a tenant's signing keys and their state.
    List {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Make new signing keys: published now, signing after the publish-ahead time;
    /// the current keys sign until then and stay published until their tokens expire.
    Rotate {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
        /// Only this algorithm (RS256, ES256, EdDSA) [default: all].
        #[arg(long)]
        algorithm: Option<String>,
        /// Seconds the new keys are published before they sign [default: the tenant's
        /// key_publish_ahead_secs]; at least 300 + key_cache_ttl_secs. 0 signs at once
        /// (after a compromise: relying parties that cached the JWKS must fetch it
        /// again).
        #[arg(long)]
        publish_ahead_secs: Option<u64>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

/// `tessera tenant …`
#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant; the router places it and the placement is stored for good.
    Create {
        /// URL name: lowercase letters, digits and '-'.
        slug: String,
        /// Name shown to users [default: the slug].
        #[arg(long)]
        display_name: Option<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// List tenants with their placement.
    List {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

/// `tessera user …`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read from standard input and hashed (argon2id).
    Create {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
        /// Login name, unique in the tenant.
        #[arg(long)]
        username: String,
        /// Read the password from standard input (the only way: never on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
        /// E-mail address.
        #[arg(long)]
        email: Option<String>,
        /// A standard claim (OpenID Connect Core §5.1), repeatable:
        /// `--claim given_name=Ada --claim address.locality=London`.
        #[arg(long = "claim", value_name = "NAME=VALUE")]
        claims: Vec<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// List a tenant's users.
    List {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

/// `tessera app …`
#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// Register an application; prints the client_id and, once, the generated secret.
    Create(Box<AppCreate>),
    /// Change an application: only what is given changes (never its client_id, type
    /// or secret).
    Update(Box<AppUpdate>),
    /// Show one application, with its extension fields.
    Show {
        /// The application's client_id.
        client_id: String,
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// List a tenant's applications.
    List {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

/// Arguments of `tessera app update`.
#[derive(Debug, clap::Args)]
pub struct AppUpdate {
    /// The application's client_id (one that starts with `-` goes after `--`).
    pub client_id: String,
    /// Tenant slug.
    #[arg(long)]
    pub tenant: String,
    /// New display name.
    #[arg(long)]
    pub name: Option<String>,
    /// New comma-separated grant types (replaces the list).
    #[arg(long)]
    pub grant_types: Option<String>,
    /// New space-separated redirect URIs (replaces the list).
    #[arg(long)]
    pub redirect_uris: Option<String>,
    /// New space-separated post-logout redirect URIs.
    #[arg(long)]
    pub post_logout_redirect_uris: Option<String>,
    /// New space-separated CORS origins.
    #[arg(long)]
    pub allowed_origins: Option<String>,
    /// New space-separated allowed scopes ("" for the tenant's catalogue).
    #[arg(long)]
    pub scopes: Option<String>,
    /// Skip the consent page: true or false.
    #[arg(long)]
    pub skip_authorization: Option<bool>,
    /// ID token signing algorithm: RS256, ES256, EdDSA or HS256.
    #[arg(long)]
    pub algorithm: Option<String>,
    /// Access tokens: opaque or jwt.
    #[arg(long)]
    pub access_token_format: Option<String>,
    /// An extension field, repeatable: `--field tier=pro`; `--field tier=` removes it.
    #[arg(long = "field", value_name = "NAME=VALUE")]
    pub fields: Vec<String>,
    /// This client's external login application; "" for the tenant's.
    #[arg(long)]
    pub login_url: Option<String>,
    /// The client_id that login application authenticates with (only that
    /// credential drives this client's interactions); "" with `--login-url ""`.
    #[arg(long)]
    pub login_client_id: Option<String>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `tessera app create`.
#[derive(Debug, clap::Args)]
pub struct AppCreate {
    /// Tenant slug.
    #[arg(long)]
    pub tenant: String,
    /// Display name.
    #[arg(long)]
    pub name: String,
    /// confidential or public (RFC 6749 §2.1).
    #[arg(long)]
    pub client_type: String,
    /// Comma-separated RFC 7591 names: authorization_code, refresh_token,
    /// client_credentials, password, implicit, urn:ietf:params:oauth:grant-type:device_code.
    #[arg(long)]
    pub grant_types: String,
    /// Space-separated redirect URIs (matched exactly).
    #[arg(long, default_value = "")]
    pub redirect_uris: String,
    /// Space-separated URIs allowed after logout.
    #[arg(long, default_value = "")]
    pub post_logout_redirect_uris: String,
    /// Space-separated CORS origins.
    #[arg(long, default_value = "")]
    pub allowed_origins: String,
    /// Space-separated scopes the client may request [default: the tenant's catalogue].
    #[arg(long, default_value = "")]
    pub scopes: String,
    /// Skip the consent page.
    #[arg(long)]
    pub skip_authorization: bool,
    /// ID token signing algorithm: RS256 (the default), ES256, EdDSA or HS256.
    #[arg(long)]
    pub algorithm: Option<String>,
    /// Access tokens: opaque (the default) or jwt (RFC 9068).
    #[arg(long)]
    pub access_token_format: Option<String>,
    /// Use this client_id instead of a generated one (imports).
    #[arg(long)]
    pub client_id: Option<String>,
    /// Read the client secret from standard input instead of generating one (imports).
    #[arg(long, conflicts_with = "client_secret_hash_stdin")]
    pub client_secret_stdin: bool,
    /// Read an already hashed secret from standard input (imports from DOT:
    /// `pbkdf2_sha256$…`, or an argon2 PHC string); upgraded on first successful use.
    #[arg(long)]
    pub client_secret_hash_stdin: bool,
    /// Store the secret in the clear (needed by HS256 ID tokens).
    #[arg(long, conflicts_with = "client_secret_hash_stdin")]
    pub no_hash_client_secret: bool,
    /// Username of the owning user.
    #[arg(long)]
    pub owner: Option<String>,
    /// An extension field the tenant declares, repeatable: `--field tier=pro
    /// --field logo=https://…`.
    #[arg(long = "field", value_name = "NAME=VALUE")]
    pub fields: Vec<String>,
    /// This client's external login and consent application (over the tenant's
    /// `oauth.login_url`).
    #[arg(long, requires = "login_client_id")]
    pub login_url: Option<String>,
    /// The client_id that login application authenticates with: only that
    /// credential drives this client's interactions.
    #[arg(long, requires = "login_url")]
    pub login_client_id: Option<String>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// A failed command: exit status and one message for standard error.
#[derive(Debug)]
pub struct CliError {
    /// 2: bad input or configuration; 1: refused routing or a runtime failure.
    pub code: u8,
    /// What went wrong and how to fix it.
    pub message: String,
}

impl From<Error> for CliError {
    fn from(error: Error) -> Self {
        let code = match &error {
            Error::InvalidInput(_)
            | Error::Config(_)
            | Error::Conflict(_)
            | Error::UnknownTenant(_) => 2,
            _ => 1,
        };
        Self {
            code,
            message: error.to_string(),
        }
    }
}

impl From<std::io::Error> for CliError {
    fn from(error: std::io::Error) -> Self {
        Error::Io(error).into()
    }
}

fn invalid(message: impl Into<String>) -> CliError {
    Error::InvalidInput(message.into()).into()
}

/// Runs one command. `input` is standard input (passwords), `out` standard output.
pub async fn run(cli: Cli, input: &mut dyn BufRead, out: &mut dyn Write) -> Result<(), CliError> {
    run_configured(cli, |config| config, input, out).await
}

/// [`run`] for an embedding program's own binary: `configure` completes the loaded
/// configuration (`Config::with_application_fields`) before the command runs, so
/// `app create --field`, `app show` and `check --connect` know the program's typed
/// extension fields.
pub async fn run_configured(
    cli: Cli,
    configure: impl FnOnce(Config) -> Config,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let config = configure(Config::load(cli.config.as_deref())?);
    // Each command's future is boxed: the serve path alone nests deep enough that the
    // compiler's layout computation of one future holding them all overflows its
    // query depth in release builds; a box is a pointer whose layout needs nothing of
    // what it points to. One allocation per process run.
    let command: Pin<Box<dyn Future<Output = Result<(), CliError>> + '_>> =
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => Box::pin(serve(config, out)),
            Command::Check { connect, json } => Box::pin(check(config, connect, json, out)),
            Command::Migrate { json } => Box::pin(migrate(config, json, out)),
            Command::Cleartokens { batch_size, json } => {
                Box::pin(cleartokens(config, batch_size, json, out))
            }
            Command::Tenant { command } => Box::pin(tenant(config, command, out)),
            Command::User { command } => Box::pin(user(config, command, input, out)),
            Command::App { command } => Box::pin(app(config, command, input, out)),
            Command::Keys { command } => Box::pin(keys(config, command, out)),
        };
    command.await
}

async fn serve(config: Config, out: &mut dyn Write) -> Result<(), CliError> {
    crate::telemetry::init(&config.log);
    let listen = config.listen;
    let application = Application::build(config).await?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|error| {
            invalid(format!(
                "cannot listen on {listen}: {error} (set listen or TESSERA_LISTEN)"
            ))
        })?;
    let address = listener.local_addr()?;
    writeln!(out, "Tessera listening on http://{address}")?;
    for issuer in application.issuers() {
        writeln!(out, "  issuer: {issuer}")?;
    }
    out.flush()?;
    tracing::info!(%address, "listening");
    application
        .serve(listener, startup::shutdown_signal())
        .await?;
    Ok(())
}

async fn check(
    config: Config,
    connect: bool,
    json: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    // The OAuth settings, extension field declarations and page templates of every
    // tenant: what would stop `serve` stops the check.
    let settings = config.settings_book()?;
    crate::pages::Pages::load(&crate::pages::TemplateFolders::of(&config))?;
    let mut field_problems = Vec::new();
    let (router, entries) = if connect {
        let connected = startup::open_pools(config).await?;
        let rows = connected.read_directory().await?;
        let stored = tenancy::stored_placements(&rows)?;
        let entries = tenant_entries(&connected.config, &stored);
        let pings = connected
            .databases
            .ping_all(std::time::Duration::from_secs(5))
            .await;
        for (pool, answer) in pings {
            answer.map_err(|error| CliError {
                code: 1,
                message: format!("pool {pool} does not answer: {error}"),
            })?;
        }
        let router = router_from_config(&connected.config);
        if router.validate(&entries).is_ok() {
            let table = router.resolve_all(&entries);
            for row in rows {
                let tenant = Tenant::from_row(row, &table, &settings)?;
                field_problems.extend(applications_missing_fields(&connected, &tenant).await?);
            }
        }
        (router, entries)
    } else {
        let entries = tenant_entries(&config, &BTreeMap::new());
        (router_from_config(&config), entries)
    };
    let table = router.resolve_all(&entries);
    let verdict = router.validate(&entries);
    let violations = verdict.as_ref().err().cloned().unwrap_or_default();
    if json {
        let document = json!({
            "valid": violations.is_empty() && field_problems.is_empty(),
            "application_fields": field_problems,
            "routes": routes_json(&table),
            "migrations": table.migrations.iter().map(|(pool, groups)| {
                (pool.to_string(), groups.iter().map(|group| group.to_string()).collect::<Vec<_>>())
            }).collect::<BTreeMap<_, _>>(),
            "violations": violations.iter().map(ToString::to_string).collect::<Vec<_>>(),
        });
        writeln!(out, "{document:#}")?;
    } else {
        write!(out, "{}", table.render())?;
        if violations.is_empty() {
            writeln!(
                out,
                "OK: {} tenant(s), {} pool(s), every tenant's tokens on one primary pool",
                entries.len(),
                router.pools().count()
            )?;
        } else {
            writeln!(out, "REFUSED: {} violation(s)", violations.len())?;
            writeln!(out, "{}", render_violations(&violations))?;
        }
        for problem in &field_problems {
            writeln!(out, "REFUSED: {problem}")?;
        }
    }
    if !violations.is_empty() {
        return Err(CliError {
            code: 1,
            message: format!("routing refused: {} violation(s)", violations.len()),
        });
    }
    if !field_problems.is_empty() {
        return Err(CliError {
            code: 1,
            message: format!("application fields refused: {}", field_problems.join("; ")),
        });
    }
    Ok(())
}

/// Each application of `tenant` without a value for a required extension field that
/// has no default, as one line naming them and how to fix it.
async fn applications_missing_fields(
    connected: &Connected,
    tenant: &Tenant,
) -> Result<Vec<String>, CliError> {
    let required: Vec<&str> = tenant.fields.required_without_default().collect();
    if required.is_empty() {
        return Ok(Vec::new());
    }
    let missing =
        applications::missing_fields(TenantData::new(&connected.databases, tenant), &required)
            .await?;
    Ok(missing
        .into_iter()
        .map(|(client_id, names)| {
            format!(
                "tenant {}: application {client_id} has no value for required field(s) {} \
                 (no default): set them with `tessera app update {client_id} --tenant {} \
                 --field NAME=VALUE`, or give the field a default",
                tenant.slug,
                names.join(", "),
                tenant.slug
            )
        })
        .collect())
}

fn routes_json(table: &RoutingTable) -> Vec<serde_json::Value> {
    table
        .tenants
        .iter()
        .flat_map(|(tenant, groups)| {
            groups.iter().map(move |(group, route)| {
                json!({
                    "tenant": tenant.as_str(),
                    "group": group.as_str(),
                    "read": route.read.as_str(),
                    "write": route.write.as_str(),
                })
            })
        })
        .collect()
}

async fn migrate(config: Config, json: bool, out: &mut dyn Write) -> Result<(), CliError> {
    let connected = startup::connect(config).await?;
    let reports = connected.migrate().await?;
    if json {
        writeln!(out, "{:#}", json!(reports))?;
    } else {
        for report in &reports {
            let groups = if report.groups.is_empty() {
                "(nothing routed here)".to_owned()
            } else {
                report.groups.join(", ")
            };
            writeln!(
                out,
                "pool {}: {groups}: {} migration(s) applied",
                report.pool, report.applied
            )?;
        }
    }
    Ok(())
}

async fn cleartokens(
    config: Config,
    batch_size: u64,
    json: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    if batch_size == 0 {
        return Err(invalid("--batch-size must be at least 1"));
    }
    let (connected, tenants) = open(config).await?;
    let reports = crate::store::expired::clear_expired(
        &connected.databases,
        &tenants.all(),
        batch_size,
        |report| {
            if json {
                return;
            }
            // Progress as each pool finishes; a failed write to stdout is not fatal here.
            let _ = writeln!(
                out,
                "pool {}: {} tenant(s): removed {} access token(s), {} refresh token(s), {} ID token(s), {} authorization code(s), {} device grant(s), {} interaction(s), {} expired consent(s), {} session(s)",
                report.pool,
                report.tenants,
                report.access_tokens,
                report.refresh_tokens,
                report.id_tokens,
                report.authorization_codes,
                report.device_grants,
                report.interactions,
                report.consent_grants,
                report.sessions
            );
            let _ = out.flush();
        },
    )
    .await?;
    if json {
        writeln!(out, "{:#}", json!(reports))?;
    }
    Ok(())
}

/// Connects and prepares (migrates when configured, validates against the directory,
/// creates declared and bootstrap tenants), as `serve` does.
async fn open(config: Config) -> Result<(Connected, Tenants), CliError> {
    let connected = startup::connect(config).await?;
    let tenants = connected.prepare().await?;
    Ok((connected, tenants))
}

async fn open_tenant(config: Config, slug: &str) -> Result<(Connected, Arc<Tenant>), CliError> {
    TenantSlug::new(slug.to_owned())
        .map_err(|error| invalid(format!("--tenant {slug:?}: {error}")))?;
    let (connected, tenants) = open(config).await?;
    let tenant = tenants.get(slug).ok_or_else(|| {
        invalid(format!(
            "unknown tenant {slug:?}: create it with `tessera tenant create {slug}` or see `tessera tenant list`"
        ))
    })?;
    Ok((connected, tenant))
}

async fn tenant(
    config: Config,
    command: TenantCommand,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    match command {
        TenantCommand::Create {
            slug,
            display_name,
            json,
        } => {
            let slug = TenantSlug::new(slug.clone())
                .map_err(|error| invalid(format!("tenant slug {slug:?}: {error}")))?;
            let display_name = display_name.unwrap_or_else(|| slug.to_string());
            if display_name.trim().is_empty() {
                return Err(invalid("--display-name is empty: give the tenant a name"));
            }
            applications::check_length("--display-name", &display_name, 255)?;
            let kek = KeyEncryptionKey::from_config(&config)?;
            let (connected, tenants) = open(config).await?;
            let tenant = tenancy::create_tenant(
                &connected.databases,
                tenants.settings(),
                &slug,
                &display_name,
            )
            .await?;
            // Its signing keys, one per algorithm, signing at once.
            keyring::create_keys(
                &connected.databases,
                &kek,
                tenant.id,
                &SigningAlgorithm::ALL,
                crate::time::now(),
            )
            .await?;
            let issuer = connected.config.issuer(&tenant.slug);
            if json {
                let mut document = json!(tenant.summary());
                document["issuer"] = json!(issuer);
                writeln!(out, "{document:#}")?;
            } else {
                writeln!(out, "created tenant {} (issuer {issuer})", tenant.slug)?;
                for (group, pool) in &tenant.placement.0 {
                    writeln!(out, "  {group}: {pool}")?;
                }
            }
            Ok(())
        }
        TenantCommand::List { json } => {
            let (connected, tenants) = open(config).await?;
            let tenants = tenants.all();
            if json {
                let list: Vec<_> = tenants
                    .iter()
                    .map(|tenant| {
                        let mut document = json!(tenant.summary());
                        document["issuer"] = json!(connected.config.issuer(&tenant.slug));
                        document
                    })
                    .collect();
                writeln!(out, "{:#}", json!(list))?;
            } else {
                for tenant in &tenants {
                    let placement: Vec<String> = tenant
                        .placement
                        .0
                        .iter()
                        .map(|(group, pool)| format!("{group}={pool}"))
                        .collect();
                    writeln!(
                        out,
                        "{}\t{}\t{}",
                        tenant.slug,
                        connected.config.issuer(&tenant.slug),
                        placement.join(" ")
                    )?;
                }
            }
            Ok(())
        }
    }
}

async fn keys(config: Config, command: KeysCommand, out: &mut dyn Write) -> Result<(), CliError> {
    match command {
        KeysCommand::GenerateKek { output } => {
            let kek = KeyEncryptionKey::generate()?;
            match output {
                None => writeln!(out, "{kek}")?,
                Some(path) => {
                    write_new_secret_file(&path, &kek)?;
                    writeln!(
                        out,
                        "wrote a new key-encryption key to {}; set key_encryption_key_file = {:?} \
                         and back the file up: without it the signing keys cannot be opened",
                        path.display(),
                        path.display().to_string()
                    )?;
                }
            }
            Ok(())
        }
        KeysCommand::List { tenant, json } => {
            let (connected, tenant) = open_tenant(config, &tenant).await?;
            let rows = signing_keys::all(&connected.databases, tenant.id).await?;
            let now = crate::time::now();
            let listed: Vec<serde_json::Value> = rows
                .iter()
                .map(|row| {
                    let signs_from = row.signs_from.unwrap_or(row.created_at);
                    let state = match (row.retired_at, row.published_until) {
                        (_, Some(until)) if until <= now => "expired",
                        (Some(retired), _) if retired <= now => "retired",
                        _ if signs_from > now => "published",
                        _ => "signing",
                    };
                    json!({
                        "kid": row.kid,
                        "algorithm": row.algorithm,
                        "state": state,
                        "signs_from": crate::time::rfc3339(signs_from),
                        "retired_at": row.retired_at.map(crate::time::rfc3339),
                        "published_until": row.published_until.map(crate::time::rfc3339),
                    })
                })
                .collect();
            if json {
                writeln!(out, "{:#}", json!(listed))?;
            } else {
                for key in &listed {
                    writeln!(
                        out,
                        "{}\t{}\t{}\tsigns from {}",
                        key["kid"].as_str().unwrap_or_default(),
                        key["algorithm"].as_str().unwrap_or_default(),
                        key["state"].as_str().unwrap_or_default(),
                        key["signs_from"].as_str().unwrap_or_default()
                    )?;
                }
            }
            Ok(())
        }
        KeysCommand::Rotate {
            tenant,
            algorithm,
            publish_ahead_secs,
            json,
        } => {
            let algorithms = match algorithm.as_deref() {
                None => SigningAlgorithm::ALL.to_vec(),
                Some(name) => vec![SigningAlgorithm::parse(name).ok_or_else(|| {
                    invalid(format!("--algorithm {name:?}: use RS256, ES256 or EdDSA"))
                })?],
            };
            let kek = KeyEncryptionKey::from_config(&config)?;
            let key_cache_ttl_secs = config.key_cache_ttl_secs;
            let (connected, tenant) = open_tenant(config, &tenant).await?;
            let settings = &tenant.settings;
            let publish_ahead = publish_ahead_secs.unwrap_or(settings.key_publish_ahead_secs);
            crate::settings::check_publish_ahead(
                "--publish-ahead-secs",
                publish_ahead,
                key_cache_ttl_secs,
            )
            .map_err(invalid)?;
            if publish_ahead == 0 {
                eprintln!(
                    "tessera: warning: the new keys sign at once; relying parties that cached \
                     the JWKS (up to {} s) fail to verify new ID tokens until they fetch it \
                     again. Do this only for a compromised key.",
                    crate::settings::JWKS_MAX_AGE_SECS
                );
            }
            let signs_from = crate::time::plus_seconds(crate::time::now(), publish_ahead);
            // Retired keys stay published until every token they signed has expired.
            let longest_token = settings
                .id_token_lifetime_secs
                .max(settings.access_token_lifetime_secs);
            let published_until = crate::time::plus_seconds(signs_from, longest_token + 60);
            let created = keyring::rotate(
                &connected.databases,
                &kek,
                tenant.id,
                &algorithms,
                signs_from,
                published_until,
            )
            .await?;
            if json {
                writeln!(out, "{:#}", json!(created))?;
            } else {
                for key in &created {
                    writeln!(
                        out,
                        "new {} key {} of tenant {}: published now, signs from {}",
                        key.algorithm, key.kid, tenant.slug, key.signs_from
                    )?;
                }
                writeln!(
                    out,
                    "the keys it replaces sign until then and stay published until {}",
                    crate::time::rfc3339(published_until)
                )?;
            }
            Ok(())
        }
    }
}

/// Creates `path` with `content`, readable by its owner only; never overwrites.
fn write_new_secret_file(path: &std::path::Path, content: &str) -> Result<(), CliError> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|error| {
        if error.kind() == std::io::ErrorKind::AlreadyExists {
            invalid(format!(
                "{} exists already: it may be the key that opens your signing keys; \
                 choose another path",
                path.display()
            ))
        } else {
            CliError::from(error)
        }
    })?;
    writeln!(file, "{content}")?;
    Ok(())
}

/// Reads one line from standard input, without its line ending.
fn read_line(input: &mut dyn BufRead, what: &str) -> Result<String, CliError> {
    let mut line = String::new();
    input.read_line(&mut line)?;
    let value = line.trim_end_matches(['\n', '\r']).to_owned();
    if value.is_empty() {
        return Err(invalid(format!(
            "{what} is empty: pipe it on standard input, e.g. `printf '%s' \"$SECRET\" | tessera …`"
        )));
    }
    Ok(value)
}

async fn user(
    config: Config,
    command: UserCommand,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    match command {
        UserCommand::Create {
            tenant,
            username,
            password_stdin: _,
            email,
            claims,
            json,
        } => {
            let mut standard_claims = serde_json::Map::new();
            for assignment in &claims {
                crate::oauth::claims::assign(&mut standard_claims, assignment).map_err(invalid)?;
            }
            let username = crate::syntax::normalize_username(&username);
            crate::syntax::check_username(&username)
                .map_err(|error| invalid(format!("--username: {error}")))?;
            if let Some(email) = &email {
                crate::syntax::check_email(email)
                    .map_err(|error| invalid(format!("--email: {error}")))?;
            }
            let password = read_line(input, "the password")?;
            let (connected, tenant) = open_tenant(config, &tenant).await?;

            let hash = secrets::hash_password(&password)?;
            let created = users::create(
                TenantData::new(&connected.databases, &tenant),
                &username,
                tenant.settings.usernames_ignore_case,
                email.as_deref(),
                hash,
                &standard_claims,
            )
            .await?;
            if json {
                writeln!(out, "{:#}", json!(users::UserSummary::from(&created)))?;
            } else {
                writeln!(
                    out,
                    "created user {} in tenant {}",
                    created.username, tenant.slug
                )?;
            }
            Ok(())
        }
        UserCommand::List { tenant, json } => {
            let (connected, tenant) = open_tenant(config, &tenant).await?;
            let list = users::list(TenantData::new(&connected.databases, &tenant)).await?;
            if json {
                let summaries: Vec<_> = list.iter().map(users::UserSummary::from).collect();
                writeln!(out, "{:#}", json!(summaries))?;
            } else {
                for user in &list {
                    writeln!(
                        out,
                        "{}\t{}",
                        user.username,
                        user.email.as_deref().unwrap_or("")
                    )?;
                }
            }
            Ok(())
        }
    }
}

async fn app(
    config: Config,
    command: AppCommand,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    match command {
        AppCommand::Create(arguments) => create_app(config, *arguments, input, out).await,
        AppCommand::Update(arguments) => update_app(config, *arguments, out).await,
        AppCommand::Show {
            client_id,
            tenant,
            json,
        } => {
            let (connected, tenant) = open_tenant(config, &tenant).await?;
            let found = find_app(&connected, &tenant, &client_id).await?;
            print_app(out, &tenant, &found, json)
        }
        AppCommand::List { tenant, json } => {
            let (connected, tenant) = open_tenant(config, &tenant).await?;
            let list = applications::list(TenantData::new(&connected.databases, &tenant)).await?;
            if json {
                let summaries: Vec<_> = list
                    .iter()
                    .map(|app| applications::ApplicationSummary::new(app, &tenant.fields))
                    .collect();
                writeln!(out, "{:#}", json!(summaries))?;
            } else {
                for app in &list {
                    writeln!(
                        out,
                        "{}\t{}\t{}\t{}",
                        app.client_id, app.name, app.client_type, app.grant_types
                    )?;
                }
            }
            Ok(())
        }
    }
}

/// The `--field NAME=VALUE` arguments, parsed (not yet checked against the tenant's
/// declarations).
fn field_assignments(fields: &[String]) -> Result<Vec<Assignment>, CliError> {
    fields
        .iter()
        .map(|field| Assignment::parse(field).map_err(|error| invalid(format!("--field {error}"))))
        .collect()
}

/// The extension document after `assignments`, validated against the tenant's
/// declarations; every violation named, exit 2.
fn apply_fields(
    tenant: &Tenant,
    stored: &serde_json::Map<String, serde_json::Value>,
    assignments: &[Assignment],
    creating: bool,
) -> Result<serde_json::Map<String, serde_json::Value>, CliError> {
    tenant
        .fields
        .apply(stored, assignments, creating)
        .map_err(|problems| invalid(format!("--field: {problems}")))
}

async fn find_app(
    connected: &Connected,
    tenant: &Tenant,
    client_id: &str,
) -> Result<entity::application::Model, CliError> {
    applications::find_by_client_id(TenantData::new(&connected.databases, tenant), client_id)
        .await?
        .ok_or_else(|| {
            invalid(format!(
                "no application {client_id:?} in tenant {}: see `tessera app list --tenant {}`",
                tenant.slug, tenant.slug
            ))
        })
}

fn print_app(
    out: &mut dyn Write,
    tenant: &Tenant,
    app: &entity::application::Model,
    json: bool,
) -> Result<(), CliError> {
    let summary = applications::ApplicationSummary::new(app, &tenant.fields);
    if json {
        writeln!(out, "{:#}", json!(summary))?;
        return Ok(());
    }
    writeln!(out, "client_id: {}", summary.client_id)?;
    writeln!(out, "name: {}", summary.name)?;
    writeln!(out, "client_type: {}", summary.client_type)?;
    writeln!(out, "grant_types: {}", summary.grant_types.join(","))?;
    writeln!(out, "redirect_uris: {}", summary.redirect_uris.join(" "))?;
    writeln!(
        out,
        "post_logout_redirect_uris: {}",
        summary.post_logout_redirect_uris.join(" ")
    )?;
    writeln!(
        out,
        "allowed_origins: {}",
        summary.allowed_origins.join(" ")
    )?;
    writeln!(out, "scopes: {}", summary.allowed_scopes.join(" "))?;
    writeln!(out, "skip_authorization: {}", summary.skip_authorization)?;
    writeln!(out, "algorithm: {}", summary.algorithm)?;
    writeln!(out, "access_token_format: {}", summary.access_token_format)?;
    if !summary.login_url.is_empty() {
        writeln!(out, "login_url: {}", summary.login_url)?;
        writeln!(out, "login_client_id: {}", summary.login_client_id)?;
    }
    for (name, value) in &summary.fields {
        let shown = match tenant.fields.fields.get(name) {
            Some(field) => field.display(value),
            None => value.to_string(),
        };
        writeln!(out, "field {name}: {shown}")?;
    }
    Ok(())
}

async fn update_app(
    config: Config,
    arguments: AppUpdate,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let assignments = field_assignments(&arguments.fields)?;
    let (connected, tenant) = open_tenant(config, &arguments.tenant).await?;
    let stored = find_app(&connected, &tenant, &arguments.client_id).await?;
    let mut changed = applications::NewApplication::of(&stored)?;
    if let Some(name) = &arguments.name {
        if name.trim().is_empty() {
            return Err(invalid("--name is empty: give the application a name"));
        }
        changed.name = name.trim().to_owned();
    }
    if let Some(grant_types) = &arguments.grant_types {
        changed.grant_types = applications::parse_grant_types(grant_types)?;
    }
    if let Some(uris) = &arguments.redirect_uris {
        changed.redirect_uris = applications::parse_redirect_uris("redirect URI", uris)?;
    }
    if let Some(uris) = &arguments.post_logout_redirect_uris {
        changed.post_logout_redirect_uris =
            applications::parse_redirect_uris("post-logout redirect URI", uris)?;
    }
    if let Some(origins) = &arguments.allowed_origins {
        changed.allowed_origins = applications::parse_origins(origins)?;
    }
    if let Some(scopes) = &arguments.scopes {
        changed.allowed_scopes = scopes.split_whitespace().map(str::to_owned).collect();
    }
    if let Some(skip) = arguments.skip_authorization {
        changed.skip_authorization = skip;
    }
    if let Some(algorithm) = &arguments.algorithm {
        changed.algorithm = applications::parse_algorithm(Some(algorithm))?;
    }
    if let Some(format) = &arguments.access_token_format {
        changed.access_token_format = applications::AccessTokenFormat::parse(Some(format))?;
    }
    if let Some(login_url) = &arguments.login_url {
        changed.login_url = login_url.trim().to_owned();
        if changed.login_url.is_empty() {
            changed.login_client_id.clear();
        }
    }
    if let Some(login_client_id) = &arguments.login_client_id {
        changed.login_client_id = login_client_id.trim().to_owned();
    }
    changed.extensions = apply_fields(&tenant, &changed.extensions, &assignments, false)?;
    let updated = applications::update(
        TenantData::new(&connected.databases, &tenant),
        &stored,
        changed,
    )
    .await?;
    if !arguments.json {
        writeln!(
            out,
            "updated application {} in tenant {}",
            updated.client_id, tenant.slug
        )?;
    }
    print_app(out, &tenant, &updated, arguments.json)
}

async fn create_app(
    config: Config,
    arguments: AppCreate,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    // Validate every argument before touching a database.
    let client_type: applications::ClientType = arguments.client_type.parse()?;
    let grant_types = applications::parse_grant_types(&arguments.grant_types)?;
    let redirect_uris =
        applications::parse_redirect_uris("redirect URI", &arguments.redirect_uris)?;
    let post_logout_redirect_uris = applications::parse_redirect_uris(
        "post-logout redirect URI",
        &arguments.post_logout_redirect_uris,
    )?;
    let allowed_origins = applications::parse_origins(&arguments.allowed_origins)?;
    let algorithm = applications::parse_algorithm(arguments.algorithm.as_deref())?;
    let access_token_format =
        applications::AccessTokenFormat::parse(arguments.access_token_format.as_deref())?;
    if arguments.name.trim().is_empty() {
        return Err(invalid("--name is empty: give the application a name"));
    }
    let client_id = match &arguments.client_id {
        Some(client_id) => client_id.clone(),
        None => secrets::generate_identifier()?,
    };
    let imported_hash = if arguments.client_secret_hash_stdin {
        if client_type == applications::ClientType::Public {
            return Err(invalid(
                "a public client has no secret: drop --client-secret-hash-stdin",
            ));
        }
        let hash = read_line(input, "the client secret hash")?;
        if !secrets::is_slow_hash(&hash) {
            return Err(invalid(
                "--client-secret-hash-stdin takes a DOT hash (pbkdf2_sha256$…) or an argon2 PHC string",
            ));
        }
        Some(hash)
    } else {
        None
    };
    let plain_secret = match (client_type, arguments.client_secret_stdin) {
        _ if imported_hash.is_some() => None,
        (applications::ClientType::Public, true) => {
            return Err(invalid(
                "a public client has no secret: drop --client-secret-stdin",
            ));
        }
        (applications::ClientType::Public, false) => None,
        (applications::ClientType::Confidential, true) => {
            Some(read_line(input, "the client secret")?)
        }
        (applications::ClientType::Confidential, false) => {
            Some(secrets::generate(secrets::prefix::CLIENT_SECRET)?)
        }
    };
    let hash_client_secret = !arguments.no_hash_client_secret;
    // A generated secret has 256 bits: one keyed hash is enough. An imported one may be
    // weak, so it gets argon2id unless it is as long as a generated one.
    let stored_secret = match &plain_secret {
        Some(secret) if !hash_client_secret => secret.clone(),
        Some(secret)
            if arguments.client_secret_stdin && secret.len() < secrets::STRONG_SECRET_CHARS =>
        {
            secrets::hash_password(secret)?
        }
        Some(secret) => secrets::hash_client_secret(secret)?,
        None => imported_hash.unwrap_or_default(),
    };
    let mut new = applications::NewApplication {
        client_id,
        name: arguments.name.trim().to_owned(),
        client_type,
        grant_types,
        redirect_uris,
        post_logout_redirect_uris,
        allowed_origins,
        client_secret: stored_secret,
        hash_client_secret,
        skip_authorization: arguments.skip_authorization,
        algorithm,
        access_token_format,
        allowed_scopes: arguments
            .scopes
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        owner_user_id: None,
        extensions: serde_json::Map::new(),
        login_url: arguments.login_url.clone().unwrap_or_default(),
        login_client_id: arguments.login_client_id.clone().unwrap_or_default(),
    };
    new.check()?;
    let assignments = field_assignments(&arguments.fields)?;

    let (connected, tenant) = open_tenant(config, &arguments.tenant).await?;
    new.extensions = apply_fields(&tenant, &serde_json::Map::new(), &assignments, true)?;
    if let Some(owner) = &arguments.owner {
        let user = users::find_by_username(
            TenantData::new(&connected.databases, &tenant),
            owner,
            tenant.settings.usernames_ignore_case,
        )
        .await?
        .ok_or_else(|| {
            invalid(format!(
                "--owner {owner:?}: no such user in tenant {}",
                tenant.slug
            ))
        })?;
        new.owner_user_id = Some(user.id);
    }
    let created = applications::create(TenantData::new(&connected.databases, &tenant), new).await?;
    let summary = applications::ApplicationSummary::new(&created, &tenant.fields);
    if arguments.json {
        let mut document = json!(summary);
        // A generated secret is shown once; an imported one is never echoed.
        let shown = if arguments.client_secret_stdin {
            None
        } else {
            plain_secret.as_deref()
        };
        document["client_secret"] = json!(shown);
        document["tenant"] = json!(tenant.slug.as_str());
        document["issuer"] = json!(connected.config.issuer(&tenant.slug));
        writeln!(out, "{document:#}")?;
    } else {
        writeln!(
            out,
            "created application {:?} in tenant {}",
            created.name, tenant.slug
        )?;
        writeln!(out, "client_id: {}", created.client_id)?;
        if let Some(secret) = &plain_secret {
            if arguments.client_secret_stdin {
                writeln!(out, "client_secret: (as given on standard input)")?;
            } else {
                writeln!(out, "client_secret: {secret}")?;
                if hash_client_secret {
                    writeln!(out, "  (shown once: store it now; only a hash is kept)")?;
                }
            }
        }
    }
    Ok(())
}
