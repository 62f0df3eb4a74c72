//! `tessera tenant …`: create, list and place tenants.

use std::io::Write;

use router_policies::TenantSlug;
use serde_json::json;

use crate::config::Config;
use crate::jose::jwk::SigningAlgorithm;
use crate::jose::keyring;
use crate::jose::sealing::KeyEncryptionKey;
use crate::registration;
use crate::tenancy;

use super::arguments::TenantCommand;
use super::{CliError, invalid, open};

pub(super) async fn tenant(
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
            registration::check_length("--display-name", &display_name, 255)?;
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
