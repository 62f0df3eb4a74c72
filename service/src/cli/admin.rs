//! `tessera admin bootstrap`: the first admin client of the admin API.

use std::io::Write;

use serde_json::json;

use crate::administration::{self, Actor};
use crate::config::Config;

use super::arguments::AdminCommand;
use super::{CliError, invalid, open_tenant};

pub(super) async fn admin(
    config: Config,
    command: AdminCommand,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    match command {
        AdminCommand::Bootstrap { tenant, json } => {
            let slug = match tenant.or_else(|| config.admin_tenant().map(str::to_owned)) {
                Some(slug) => slug,
                None => {
                    return Err(invalid(
                        "no admin tenant: give --tenant SLUG, or set [admin] tenant (or \
                         bootstrap_tenant) in the configuration",
                    ));
                }
            };
            let every = config.admin_tenant() == Some(slug.as_str());
            let (connected, tenant) = open_tenant(config, &slug).await?;
            let issuer = connected.config.issuer(&tenant.slug);
            let (created, secret) = administration::applications::create_admin_client(
                &connected.databases,
                &tenant,
                &Actor::CommandLine,
            )
            .await?;
            let reach = if every {
                "every tenant"
            } else {
                "this tenant only"
            };
            if json {
                writeln!(
                    out,
                    "{:#}",
                    json!({
                        "client_id": created.client_id,
                        "client_secret": secret,
                        "token_endpoint": format!("{issuer}/token"),
                        "scope": crate::oauth::scope::ADMIN_SCOPE,
                        "administers": if every { "*" } else { tenant.slug.as_str() },
                    })
                )?;
            } else {
                writeln!(out, "admin client of tenant {} ({reach})", tenant.slug)?;
                writeln!(out, "client_id:     {}", created.client_id)?;
                writeln!(out, "client_secret: {secret}")?;
                writeln!(out, "(shown once: store it now)")?;
                writeln!(
                    out,
                    "token: curl -u CLIENT_ID:CLIENT_SECRET -d grant_type=client_credentials \
                     -d scope={} {issuer}/token",
                    crate::oauth::scope::ADMIN_SCOPE
                )?;
                writeln!(
                    out,
                    "API:   {}/admin/v1/openapi.json",
                    connected.config.public_url.trim_end_matches('/')
                )?;
            }
            Ok(())
        }
    }
}
