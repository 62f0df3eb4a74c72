//! `tessera cleartokens`: removes expired tokens, codes, interactions, sessions and
//! consents in batches, with an optional pause after each.

use std::io::Write;
use std::time::Duration;

use serde_json::json;

use crate::config::Config;
use crate::store::expired::Batches;

use super::{CliError, invalid, open};

pub(super) async fn cleartokens(
    config: Config,
    batch_size: u64,
    batch_interval_ms: u64,
    json: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    if batch_size == 0 {
        return Err(invalid("--batch-size must be at least 1"));
    }
    let batches = Batches {
        size: batch_size,
        interval: Duration::from_millis(batch_interval_ms),
    };
    let (connected, tenants) = open(config).await?;
    let reports = crate::store::expired::clear_expired(
        &connected.databases,
        &tenants.all(),
        batches,
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
