//! The command line: `tessera serve | check | migrate | cleartokens | tenant | keys |
//! user | app | consent | try-login | probe | completions`. [`arguments`] holds the clap definitions; each command group has its
//! own module; this one dispatches and holds what they share (errors, opening the
//! databases and a tenant, reading standard input).
//!
//! Every command takes `--config FILE`; data commands take `--json`. Bad input exits
//! with status 2 and one line saying what to fix; a refused routing check exits 1 with
//! every violation; nothing is half-written (all input is validated before the one
//! write a command makes).

mod admin;
mod app;
mod arguments;
mod check;
mod cleartokens;
mod consent;
mod keys;
mod migrate;
mod probe;
mod serve;
mod tenant;
mod try_login;
mod user;

pub use arguments::{
    AdminCommand, AppCommand, AppCreate, AppUpdate, Cli, Command, CompletionShell, ConsentCommand,
    KeysCommand, TenantCommand, UserCommand,
};

use std::future::Future;
use std::io::{BufRead, Write};
use std::pin::Pin;
use std::sync::Arc;

use router_policies::TenantSlug;

use crate::config::Config;
use crate::error::Error;
use crate::startup::{self, Connected};
use crate::tenancy::{Tenant, Tenants};

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
            | Error::UnknownTenant(_)
            | Error::NotFound(_)
            | Error::StaleVersion(_) => 2,
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
    if let Some(Command::Completions { shell }) = &cli.command {
        // Needs no configuration: it describes the command line itself.
        return completions(*shell, out);
    }
    let config = configure(Config::load(cli.config.as_deref())?);
    // Each command's future is boxed: the serve path alone nests deep enough that the
    // compiler's layout computation of one future holding them all overflows its
    // query depth in release builds; a box is a pointer whose layout needs nothing of
    // what it points to. One allocation per process run.
    let command: Pin<Box<dyn Future<Output = Result<(), CliError>> + '_>> = match cli
        .command
        .unwrap_or(Command::Serve)
    {
        Command::Serve => Box::pin(serve::serve(config, out)),
        Command::Check { connect, json } => Box::pin(check::check(config, connect, json, out)),
        Command::Migrate { json } => Box::pin(migrate::migrate(config, json, out)),
        Command::Cleartokens {
            batch_size,
            batch_interval_ms,
            json,
        } => Box::pin(cleartokens::cleartokens(
            config,
            batch_size,
            batch_interval_ms,
            json,
            out,
        )),
        Command::Tenant { command } => Box::pin(tenant::tenant(config, command, out)),
        Command::User { command } => Box::pin(user::user(config, command, input, out)),
        Command::App { command } => Box::pin(app::app(config, command, input, out)),
        Command::Keys { command } => Box::pin(keys::keys(config, command, out)),
        Command::Admin { command } => Box::pin(admin::admin(config, command, out)),
        Command::Consent { command } => Box::pin(consent::consent(config, command, out)),
        Command::TryLogin(arguments) => {
            Box::pin(try_login::try_login(config, arguments, input, out))
        }
        Command::Probe { path } => Box::pin(async move { probe::probe(config, &path, out).await }),
        Command::Completions { shell } => Box::pin(async move { completions(shell, out) }),
    };
    command.await
}

/// Writes the completion script for `shell`.
fn completions(shell: CompletionShell, out: &mut dyn Write) -> Result<(), CliError> {
    use clap::CommandFactory;
    let mut command = Cli::command();
    let generator = match shell {
        CompletionShell::Bash => clap_complete::Shell::Bash,
        CompletionShell::Zsh => clap_complete::Shell::Zsh,
        CompletionShell::Fish => clap_complete::Shell::Fish,
    };
    let mut script = Vec::new();
    clap_complete::generate(generator, &mut command, "tessera", &mut script);
    out.write_all(&script)?;
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
