//! `tessera app …`: register, show, update and remove applications.

use std::io::{BufRead, Write};

use serde_json::json;

use crate::administration::applications::ApplicationChanges;
use crate::administration::{self, Actor};
use crate::application_fields::Assignment;
use crate::config::Config;
use crate::registration::{self, NewApplication, SecretSource};
use crate::startup::Connected;
use crate::store::access::TenantData;
use crate::store::{applications, users};
use crate::tenancy::Tenant;

use super::arguments::{AppCommand, AppCreate, AppUpdate};
use super::{CliError, invalid, open_tenant, read_line};

pub(super) async fn app(
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
                    .map(|app| registration::ApplicationSummary::new(app, &tenant.fields))
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
        AppCommand::Delete { client_id, tenant } => {
            let (connected, tenant) = open_tenant(config, &tenant).await?;
            let found =
                administration::applications::find(&connected.databases, &tenant, &client_id)
                    .await?;
            administration::applications::delete(
                &connected.databases,
                &tenant,
                &found,
                &Actor::CommandLine,
            )
            .await?;
            writeln!(
                out,
                "deleted application {client_id} of tenant {}: its tokens no longer work",
                tenant.slug
            )?;
            Ok(())
        }
        AppCommand::RotateSecret {
            client_id,
            tenant,
            json,
        } => {
            let (connected, tenant) = open_tenant(config, &tenant).await?;
            let found =
                administration::applications::find(&connected.databases, &tenant, &client_id)
                    .await?;
            let secret = administration::applications::rotate_secret(
                &connected.databases,
                &tenant,
                &found,
                &Actor::CommandLine,
            )
            .await?;
            if json {
                writeln!(
                    out,
                    "{:#}",
                    json!({"client_id": client_id, "client_secret": secret})
                )?;
            } else {
                writeln!(out, "client_id:     {client_id}")?;
                writeln!(out, "client_secret: {secret}")?;
                writeln!(
                    out,
                    "(shown once: store it now; the old secret no longer works)"
                )?;
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

/// A field problem as the command line names it (`--field: …`).
fn field_problem(error: crate::error::Error) -> CliError {
    match error {
        crate::error::Error::InvalidInput(message) if message.starts_with("fields: ") => invalid(
            format!("--field: {}", message.trim_start_matches("fields: ")),
        ),
        other => other.into(),
    }
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
    let summary = registration::ApplicationSummary::new(app, &tenant.fields);
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
    if !summary.client_uri.is_empty() {
        writeln!(out, "client_uri: {}", summary.client_uri)?;
    }
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
    let changes = ApplicationChanges {
        name: arguments.name.clone(),
        grant_types: arguments.grant_types.clone(),
        redirect_uris: arguments.redirect_uris.clone(),
        post_logout_redirect_uris: arguments.post_logout_redirect_uris.clone(),
        allowed_origins: arguments.allowed_origins.clone(),
        scopes: arguments.scopes.clone(),
        skip_authorization: arguments.skip_authorization,
        algorithm: arguments.algorithm.clone(),
        access_token_format: arguments.access_token_format.clone(),
        login_url: arguments.login_url.clone(),
        login_client_id: arguments.login_client_id.clone(),
        client_uri: arguments.client_uri.clone(),
        token_endpoint_auth_method: None,
        fields: assignments,
    };
    let updated = administration::applications::update(
        &connected.databases,
        &tenant,
        &stored,
        &changes,
        &Actor::CommandLine,
    )
    .await
    .map_err(field_problem)?;
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
    let client_type: registration::ClientType = arguments.client_type.parse()?;
    let grant_types = registration::parse_grant_types(&arguments.grant_types)?;
    let redirect_uris =
        registration::parse_redirect_uris("redirect URI", &arguments.redirect_uris)?;
    let post_logout_redirect_uris = registration::parse_redirect_uris(
        "post-logout redirect URI",
        &arguments.post_logout_redirect_uris,
    )?;
    let allowed_origins = registration::parse_origins(&arguments.allowed_origins)?;
    let algorithm = registration::parse_algorithm(arguments.algorithm.as_deref())?;
    let access_token_format =
        registration::AccessTokenFormat::parse(arguments.access_token_format.as_deref())?;
    let source = if arguments.client_secret_hash_stdin {
        SecretSource::ImportedHash(read_line(input, "the client secret hash")?)
    } else if arguments.client_secret_stdin {
        SecretSource::Given(read_line(input, "the client secret")?)
    } else {
        SecretSource::Generate
    };
    let draft = NewApplication {
        client_id: arguments.client_id.clone().unwrap_or_default(),
        redirect_uris,
        post_logout_redirect_uris,
        allowed_origins,
        hash_client_secret: !arguments.no_hash_client_secret,
        skip_authorization: arguments.skip_authorization,
        algorithm,
        access_token_format,
        allowed_scopes: arguments
            .scopes
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        login_url: arguments.login_url.clone().unwrap_or_default(),
        login_client_id: arguments.login_client_id.clone().unwrap_or_default(),
        client_uri: arguments.client_uri.clone().unwrap_or_default(),
        ..NewApplication::named(&arguments.name, client_type, grant_types)
    };
    // The registration rules first: nothing is opened before they pass.
    let mut registered = registration::register(draft, source)?;
    let assignments = field_assignments(&arguments.fields)?;

    let (connected, tenant) = open_tenant(config, &arguments.tenant).await?;
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
        registered.application.owner_user_id = Some(user.id);
    }
    let (created, plain_secret) = administration::applications::create(
        &connected.databases,
        &tenant,
        registered,
        &assignments,
        &Actor::CommandLine,
    )
    .await
    .map_err(field_problem)?;
    let summary = registration::ApplicationSummary::new(&created, &tenant.fields);
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
                if !arguments.no_hash_client_secret {
                    writeln!(out, "  (shown once: store it now; only a hash is kept)")?;
                }
            }
        }
    }
    Ok(())
}
