//! A tenant's signing keys: their states, and rotation (new keys published at once,
//! signing after the publish-ahead time; the old ones sign until then and stay
//! published until the longest token they signed has expired).

use serde::Serialize;

use crate::db::Databases;
use crate::error::Error;
use crate::jose::jwk::SigningAlgorithm;
use crate::jose::keyring::{self, CreatedKey};
use crate::jose::sealing::KeyEncryptionKey;
use crate::store::signing_keys;
use crate::tenancy::Tenant;

use super::{Actor, audit};

/// A signing key as operators see it (never the private key).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct KeyView {
    /// RFC 7638 thumbprint, the `kid`.
    pub kid: String,
    /// JWA name.
    pub algorithm: String,
    /// `published` (not signing yet), `signing`, `retired` (published, not signing)
    /// or `expired`.
    pub state: &'static str,
    /// When it signs from (RFC 3339).
    pub signs_from: String,
    /// When it stopped signing.
    pub retired_at: Option<String>,
    /// When it leaves the JWKS.
    pub published_until: Option<String>,
}

/// The tenant's keys, oldest first.
pub async fn list(databases: &Databases, tenant: &Tenant) -> Result<Vec<KeyView>, Error> {
    let now = crate::time::now();
    Ok(signing_keys::all(databases, tenant.id)
        .await?
        .into_iter()
        .map(|row| {
            let signs_from = row.signs_from.unwrap_or(row.created_at);
            let state = match (row.retired_at, row.published_until) {
                (_, Some(until)) if until <= now => "expired",
                (Some(retired), _) if retired <= now => "retired",
                _ if signs_from > now => "published",
                _ => "signing",
            };
            KeyView {
                kid: row.kid,
                algorithm: row.algorithm,
                state,
                signs_from: crate::time::rfc3339(signs_from),
                retired_at: row.retired_at.map(crate::time::rfc3339),
                published_until: row.published_until.map(crate::time::rfc3339),
            }
        })
        .collect())
}

/// What a rotation made.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Rotation {
    /// The new keys.
    pub created: Vec<CreatedKey>,
    /// Until when the keys they replace stay published (RFC 3339).
    pub replaced_published_until: String,
}

/// Parses an algorithm name (`RS256`, `ES256`, `EdDSA`); `None`: every algorithm.
pub fn algorithms(name: Option<&str>) -> Result<Vec<SigningAlgorithm>, Error> {
    match name {
        None => Ok(SigningAlgorithm::ALL.to_vec()),
        Some(name) => Ok(vec![SigningAlgorithm::parse(name).ok_or_else(|| {
            Error::InvalidInput(format!("algorithm {name:?}: use RS256, ES256 or EdDSA"))
        })?]),
    }
}

/// Rotates the tenant's keys of `algorithms`, the new ones signing after
/// `publish_ahead_secs` (the tenant's `key_publish_ahead_secs` when `None`; at
/// least 300 + `key_cache_ttl_secs`, or 0 after a compromise).
pub async fn rotate(
    databases: &Databases,
    kek: &KeyEncryptionKey,
    key_cache_ttl_secs: u64,
    tenant: &Tenant,
    algorithms: &[SigningAlgorithm],
    publish_ahead_secs: Option<u64>,
    actor: &Actor,
) -> Result<Rotation, Error> {
    let settings = &tenant.settings;
    let publish_ahead = publish_ahead_secs.unwrap_or(settings.key_publish_ahead_secs);
    crate::settings::check_publish_ahead("publish_ahead_secs", publish_ahead, key_cache_ttl_secs)
        .map_err(Error::InvalidInput)?;
    let signs_from = crate::time::plus_seconds(crate::time::now(), publish_ahead);
    // Retired keys stay published until every token they signed has expired.
    let longest_token = settings
        .id_token_lifetime_secs
        .max(settings.access_token_lifetime_secs);
    let published_until = crate::time::plus_seconds(signs_from, longest_token + 60);
    let created = keyring::rotate(
        databases,
        kek,
        tenant.id,
        algorithms,
        signs_from,
        published_until,
    )
    .await?;
    audit(
        actor,
        tenant.slug.as_str(),
        "keys.rotate",
        tenant.slug.as_str(),
    );
    Ok(Rotation {
        created,
        replaced_published_until: crate::time::rfc3339(published_until),
    })
}
