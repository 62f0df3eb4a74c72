//! `tessera migrate`: runs every connection's pending migrations.

use std::io::Write;

use serde_json::json;

use crate::config::Config;
use crate::startup;

use super::CliError;

pub(super) async fn migrate(
    config: Config,
    json: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
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
