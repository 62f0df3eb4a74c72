//! `tessera tenant …`: a tenant's life cycle, over [`crate::administration::tenants`].

use std::io::Write;

use router_policies::TenantSlug;
use serde_json::json;

use crate::administration::{Actor, tenants};
use crate::config::Config;
use crate::startup::Connected;
use crate::tenancy::{Tenant, TenantChanges};

use super::arguments::TenantCommand;
use super::{CliError, invalid, open, open_tenant};

pub(super) async fn tenant(
    config: Config,
    command: TenantCommand,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let actor = Actor::CommandLine;
    match command {
        TenantCommand::Create {
            slug,
            display_name,
            json,
        } => {
            TenantSlug::new(slug.clone())
                .map_err(|error| invalid(format!("tenant slug {slug:?}: {error}")))?;
            if let Some(name) = &display_name {
                crate::registration::check_display_name(name)
                    .map_err(|error| invalid(format!("--{error}")))?;
            }
            let kek = crate::startup::key_encryption_key(&config)?;
            let (connected, tenants) = open(config).await?;
            let tenant = tenants::create(
                &connected.databases,
                tenants.settings(),
                &kek,
                &slug,
                display_name.as_deref(),
                &actor,
            )
            .await?;
            if json {
                writeln!(out, "{:#}", describe(&connected, &tenant))?;
            } else {
                let issuer = connected.config.issuer(&tenant.slug);
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
                    .map(|tenant| describe(&connected, tenant))
                    .collect();
                writeln!(out, "{:#}", json!(list))?;
            } else {
                for tenant in &tenants {
                    writeln!(
                        out,
                        "{}\t{}\t{}\t{}",
                        tenant.slug,
                        connected.config.issuer(&tenant.slug),
                        if tenant.disabled {
                            "disabled"
                        } else {
                            "enabled"
                        },
                        placement_line(tenant)
                    )?;
                }
            }
            Ok(())
        }
        TenantCommand::Show { slug, json } => {
            let (connected, tenant) = open_tenant(config, &slug).await?;
            print_tenant(out, &connected, &tenant, json)
        }
        TenantCommand::Update {
            slug,
            display_name,
            settings,
            json,
        } => {
            let mut changes = TenantChanges {
                display_name,
                ..TenantChanges::default()
            };
            for assignment in &settings {
                let (key, value) = tenants::parse_setting(assignment)?;
                changes.settings.insert(key, value);
            }
            if changes.display_name.is_none() && changes.settings.is_empty() {
                return Err(invalid(
                    "nothing to change: give --display-name or --set KEY=VALUE",
                ));
            }
            let (connected, tenant) = open_tenant(config, &slug).await?;
            let tenant = tenants::update(
                &connected.databases,
                &connected.config.settings_book()?,
                &tenant.slug,
                &changes,
                None,
                &actor,
            )
            .await?;
            print_tenant(out, &connected, &tenant, json)
        }
        TenantCommand::Disable { slug } => set_disabled(config, &slug, true, &actor, out).await,
        TenantCommand::Enable { slug } => set_disabled(config, &slug, false, &actor, out).await,
        TenantCommand::Delete {
            slug,
            batch_size,
            json,
        } => {
            let (connected, tenant) = open_tenant(config, &slug).await?;
            let kept = connected.config.keeps_tenant(&tenant.slug);
            let erased = tenants::delete(
                &connected.databases,
                &tenant,
                kept,
                batch_size,
                |so_far| {
                    if !json {
                        eprintln!("tenant {slug}: {} rows erased so far", so_far.total());
                    }
                },
                &actor,
            )
            .await?;
            if json {
                writeln!(out, "{:#}", json!(erased))?;
            } else {
                writeln!(
                    out,
                    "deleted tenant {slug}: {} rows erased ({} access tokens, {} refresh \
                     tokens, {} applications, {} users), then its keys and directory entry",
                    erased.total(),
                    erased.access_tokens,
                    erased.refresh_tokens,
                    erased.applications,
                    erased.users
                )?;
            }
            Ok(())
        }
    }
}

async fn set_disabled(
    config: Config,
    slug: &str,
    disabled: bool,
    actor: &Actor,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let (connected, tenant) = open_tenant(config, slug).await?;
    let changes = TenantChanges {
        disabled: Some(disabled),
        ..TenantChanges::default()
    };
    tenants::update(
        &connected.databases,
        &connected.config.settings_book()?,
        &tenant.slug,
        &changes,
        None,
        actor,
    )
    .await?;
    if disabled {
        writeln!(
            out,
            "disabled tenant {}: its issuer answers 403 on every node until `tessera tenant \
             enable {}`",
            tenant.slug, tenant.slug
        )?;
    } else {
        writeln!(out, "enabled tenant {}", tenant.slug)?;
    }
    Ok(())
}

fn placement_line(tenant: &Tenant) -> String {
    tenant
        .placement
        .0
        .iter()
        .map(|(group, pool)| format!("{group}={pool}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn describe(connected: &Connected, tenant: &Tenant) -> serde_json::Value {
    let mut document = json!(tenant.summary());
    document["issuer"] = json!(connected.config.issuer(&tenant.slug));
    document
}

fn print_tenant(
    out: &mut dyn Write,
    connected: &Connected,
    tenant: &Tenant,
    json: bool,
) -> Result<(), CliError> {
    if json {
        writeln!(out, "{:#}", describe(connected, tenant))?;
        return Ok(());
    }
    writeln!(out, "tenant:    {}", tenant.slug)?;
    writeln!(out, "name:      {}", tenant.display_name)?;
    writeln!(out, "issuer:    {}", connected.config.issuer(&tenant.slug))?;
    writeln!(
        out,
        "state:     {}",
        if tenant.disabled {
            "disabled"
        } else {
            "enabled"
        }
    )?;
    writeln!(out, "placement: {}", placement_line(tenant))?;
    for (key, value) in &tenant.stored_settings {
        writeln!(out, "setting:   {key} = {value}")?;
    }
    Ok(())
}
