//! `tessera check`: the configuration and routing policy, and with `--connect` the
//! databases, tenants and applications, checked without serving.

use std::collections::BTreeMap;
use std::io::Write;

use router_policies::RoutingTable;
use serde_json::json;

use crate::config::Config;
use crate::error::render_violations;
use crate::routing::{router_from_config, tenant_entries};
use crate::startup::{self, Connected};
use crate::store::access::TenantData;
use crate::store::applications;
use crate::tenancy::{self, Tenant};

use super::CliError;

pub(super) async fn check(
    config: Config,
    connect: bool,
    json: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    // The OAuth settings, extension field declarations and page templates of every
    // tenant: what would stop `serve` stops the check.
    let settings = config.settings_book()?;
    crate::pages::Pages::load(&crate::pages::TemplateFolders::of(&config))?;
    // A key-encryption key that is there must parse (`serve` refuses a damaged one).
    // One that is not there yet (a Kubernetes secret mounted only in production) is
    // required with `--connect`, which needs the deployment's secrets anyway; on the
    // embedded default's first start `serve` makes it.
    let kek_present = config.key_encryption_key.is_some()
        || config
            .key_encryption_key_file
            .as_ref()
            .is_some_and(|path| path.exists())
        || std::path::Path::new(crate::jose::sealing::DEFAULT_KEK_FILE).exists();
    if (kek_present || connect) && !startup::makes_first_key_encryption_key(&config) {
        crate::jose::sealing::KeyEncryptionKey::from_config(&config)?;
    }
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
pub(super) async fn applications_missing_fields(
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
