//! The command line's arguments (clap): commands, subcommands and their flags.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

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
        /// Milliseconds to pause after each full batch, leaving the database to live
        /// traffic in between (0: no pause).
        #[arg(long, default_value_t = 0)]
        batch_interval_ms: u64,
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
    /// The admin API's credentials.
    Admin {
        /// Admin command.
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// A user's authorized applications: list them, revoke one.
    Consent {
        /// Consent command.
        #[command(subcommand)]
        command: ConsentCommand,
    },
    /// Sign in as a client would (code flow, PKCE, loopback redirect) and print the
    /// tokens and the verified ID token's claims: a first sign-in, or a check of a
    /// deployment.
    TryLogin(TryLogin),
    /// Ask the node on this host (`listen`) for a path and exit 0 on 200: a
    /// container HEALTHCHECK without curl.
    Probe {
        /// The path to ask for.
        #[arg(long, default_value = "/healthz")]
        path: String,
    },
    /// Print a shell completion script: `tessera completions bash > /etc/bash_completion.d/tessera`.
    Completions {
        /// bash, zsh or fish.
        shell: CompletionShell,
    },
}

/// Arguments of `tessera try-login`.
#[derive(Debug, clap::Args)]
pub struct TryLogin {
    /// Tenant slug.
    #[arg(long)]
    pub tenant: String,
    /// The application's client_id; it must list `http://127.0.0.1/callback`.
    #[arg(long)]
    pub client_id: String,
    /// A confidential client's secret, read from standard input.
    #[arg(long)]
    pub client_secret_stdin: bool,
    /// Scopes to ask for.
    #[arg(long, default_value = "openid profile email")]
    pub scope: String,
    /// The issuer [default: public_url/t/TENANT].
    #[arg(long)]
    pub issuer: Option<String>,
    /// The loopback port to receive the browser on [default: any free one].
    #[arg(long, default_value_t = 0)]
    pub port: u16,
}

/// The shells `tessera completions` writes for.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum CompletionShell {
    /// GNU bash.
    Bash,
    /// Z shell.
    Zsh,
    /// fish.
    Fish,
}

/// `tessera admin …`
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Register an admin client (client credentials, scope `tessera:admin`) and print
    /// its credentials once. In `admin.tenant` (the default) its tokens administer
    /// every tenant; in another tenant, only that one.
    Bootstrap {
        /// The tenant [default: admin.tenant, else the bootstrap tenant].
        #[arg(long)]
        tenant: Option<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

/// `tessera consent …`
#[derive(Debug, Subcommand)]
pub enum ConsentCommand {
    /// The applications a user has authorized (live tokens or a remembered consent).
    List {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
        /// The user: username or subject.
        #[arg(long)]
        user: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Revoke every token the user holds for one application and forget the consent.
    Revoke {
        /// The application's client_id.
        client_id: String,
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
        /// The user: username or subject.
        #[arg(long)]
        user: String,
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
    /// Show one tenant: placement, state, stored settings.
    Show {
        /// Tenant slug.
        slug: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Change a tenant's name or settings; every node picks the change up.
    Update {
        /// Tenant slug.
        slug: String,
        /// New name shown to users.
        #[arg(long)]
        display_name: Option<String>,
        /// A setting stored over the configuration's `[oauth]` (repeatable):
        /// `--set access_token_lifetime_secs=600 --set allow_sign_up=true`;
        /// `--set KEY=` removes the stored value.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        settings: Vec<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Disable a tenant: every endpoint of its issuer answers 403 until it is
    /// enabled again; nothing is deleted.
    Disable {
        /// Tenant slug.
        slug: String,
    },
    /// Enable a disabled tenant.
    Enable {
        /// Tenant slug.
        slug: String,
    },
    /// Offboard a disabled tenant: erase every row it has in its pools (tokens,
    /// applications, users, sessions), in batches, then its signing keys and its
    /// directory entry. Interrupted, run it again: it carries on.
    Delete {
        /// Tenant slug (disabled first with `tessera tenant disable`).
        slug: String,
        /// Rows per delete statement.
        #[arg(long, default_value_t = crate::administration::tenants::ERASE_BATCH)]
        batch_size: u64,
        /// Machine-readable output (the rows erased per table).
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
    /// Show one user (username or subject).
    Show {
        /// Username or subject.
        user: String,
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Stop a user: ends their sessions and revokes every token they hold.
    Disable {
        /// Username or subject.
        user: String,
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
    },
    /// Let a disabled user sign in again (revoked tokens stay revoked).
    Enable {
        /// Username or subject.
        user: String,
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
    },
    /// Set a user's password, read from standard input; ends their sessions.
    SetPassword {
        /// Username or subject.
        user: String,
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
        /// Read the password from standard input (the only way).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Delete a user: revokes their tokens, forgets their consents, ends their
    /// sessions; applications they own keep working without an owner.
    Delete {
        /// Username or subject.
        user: String,
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
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
    /// Delete an application; its tokens stop working at once, on every node.
    Delete {
        /// The application's client_id.
        client_id: String,
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
    },
    /// Give a confidential application a new secret, printed once; the old one
    /// stops working at once.
    RotateSecret {
        /// The application's client_id.
        client_id: String,
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
    /// Its home page (RFC 7591 `client_uri`), linked from error pages; "" removes it.
    #[arg(long)]
    pub client_uri: Option<String>,
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
    /// Its home page (RFC 7591 `client_uri`): error pages link back to it.
    #[arg(long)]
    pub client_uri: Option<String>,
    /// The client_id that login application authenticates with: only that
    /// credential drives this client's interactions.
    #[arg(long, requires = "login_url")]
    pub login_client_id: Option<String>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}
