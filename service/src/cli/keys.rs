//! `tessera keys …`: the key-encryption key and each tenant's signing keys.

use std::io::Write;

use serde_json::json;

use crate::administration::{self, Actor};
use crate::config::Config;
use crate::jose::sealing::KeyEncryptionKey;

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
            let listed = administration::keys::list(&connected.databases, &tenant).await?;
            if json {
                writeln!(out, "{:#}", json!(listed))?;
            } else {
                for key in &listed {
                    writeln!(
                        out,
                        "{}\t{}\t{}\tsigns from {}",
                        key.kid, key.algorithm, key.state, key.signs_from
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
            let algorithms = administration::keys::algorithms(algorithm.as_deref())
                .map_err(|error| invalid(format!("--{error}")))?;
            let kek = KeyEncryptionKey::from_config(&config)?;
            let key_cache_ttl_secs = config.key_cache_ttl_secs;
            let (connected, tenant) = open_tenant(config, &tenant).await?;
            if publish_ahead_secs == Some(0) {
                eprintln!(
                    "tessera: warning: the new keys sign at once; relying parties that cached \
                     the JWKS (up to {} s) fail to verify new ID tokens until they fetch it \
                     again. Do this only for a compromised key.",
                    crate::settings::JWKS_MAX_AGE_SECS
                );
            }
            let rotation = administration::keys::rotate(
                &connected.databases,
                &kek,
                key_cache_ttl_secs,
                &tenant,
                &algorithms,
                publish_ahead_secs,
                &Actor::CommandLine,
            )
            .await
            .map_err(|error| match error {
                crate::error::Error::InvalidInput(message) => {
                    invalid(message.replace("publish_ahead_secs", "--publish-ahead-secs"))
                }
                other => other.into(),
            })?;
            let created = rotation.created;
            let published_until = rotation.replaced_published_until;
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
                    published_until
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
