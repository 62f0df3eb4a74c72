//! `tessera keys …`: the key-encryption key and each tenant's signing keys.

use std::io::Write;

use serde_json::json;

use crate::config::Config;
use crate::jose::jwk::SigningAlgorithm;
use crate::jose::keyring;
use crate::jose::sealing::KeyEncryptionKey;
use crate::store::signing_keys;

use super::arguments::KeysCommand;
use super::{CliError, invalid, open_tenant};

pub(super) async fn keys(
    config: Config,
    command: KeysCommand,
    out: &mut dyn Write,
) -> Result<(), CliError> {
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
    crate::secrets::write_new_secret_file(path, content).map_err(|error| {
        if error.kind() == std::io::ErrorKind::AlreadyExists {
            invalid(format!(
                "{} exists already: it may be the key that opens your signing keys; \
                 choose another path",
                path.display()
            ))
        } else {
            CliError::from(error)
        }
    })
}
