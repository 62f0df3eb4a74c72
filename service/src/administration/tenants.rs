//! A tenant's life: create (placed by the router, with its first signing keys),
//! update its name and stored settings, disable and enable, and offboard: erase
//! every row of a disabled tenant, then its directory row.

use router_policies::TenantSlug;

use crate::db::Databases;
use crate::error::Error;
use crate::jose::jwk::SigningAlgorithm;
use crate::jose::keyring;
use crate::jose::sealing::KeyEncryptionKey;
use crate::registration;
use crate::settings::SettingsBook;
use crate::store::access::TenantData;
use crate::store::erasure::{Erased, erase_tenant_rows};
use crate::tenancy::{self, Tenant, TenantChanges};

use super::{Actor, audit};

/// Creates a tenant: the router's policies place it (the placement is stored for
/// good and validated first), then its signing keys are made, one per algorithm,
/// signing at once.
pub async fn create(
    databases: &Databases,
    settings: &SettingsBook,
    kek: &KeyEncryptionKey,
    slug: &str,
    display_name: Option<&str>,
    actor: &Actor,
) -> Result<Tenant, Error> {
    let slug = TenantSlug::new(slug.to_owned())
        .map_err(|error| Error::InvalidInput(format!("tenant slug {slug:?}: {error}")))?;
    let display_name = display_name.map_or_else(|| slug.to_string(), str::to_owned);
    registration::check_display_name(&display_name)?;
    let tenant = tenancy::create_tenant(databases, settings, &slug, &display_name).await?;
    keyring::create_keys(
        databases,
        kek,
        tenant.id,
        &SigningAlgorithm::ALL,
        crate::time::now(),
    )
    .await?;
    audit(actor, slug.as_str(), "tenant.create", slug.as_str());
    Ok(tenant)
}

/// Changes a tenant (name, stored settings, disabled), optionally only at
/// `expected_version`; every node reads it again.
pub async fn update(
    databases: &Databases,
    settings: &SettingsBook,
    slug: &TenantSlug,
    changes: &TenantChanges,
    expected_version: Option<&str>,
    actor: &Actor,
) -> Result<Tenant, Error> {
    let tenant =
        tenancy::update_tenant(databases, settings, slug, changes, expected_version).await?;
    let action = match changes.disabled {
        Some(true) => "tenant.disable",
        Some(false) => "tenant.enable",
        None => "tenant.update",
    };
    audit(actor, slug.as_str(), action, slug.as_str());
    Ok(tenant)
}

/// The rows erased per batch when a tenant is offboarded and nothing else is said.
pub const ERASE_BATCH: u64 = 1000;

/// Offboards a tenant: it must be disabled (so nothing uses it while it goes) and
/// not kept by the configuration (`kept`: why, from
/// [`crate::config::Config::keeps_tenant`]). Erases its rows pool by pool in batches (`progress`
/// hears the totals), then its signing keys and directory row. Interrupted, it is
/// run again: it carries on with what is left.
pub async fn delete(
    databases: &Databases,
    tenant: &Tenant,
    kept: Option<String>,
    batch: u64,
    progress: impl FnMut(&Erased),
    actor: &Actor,
) -> Result<Erased, Error> {
    let slug = &tenant.slug;
    if !tenant.disabled {
        return Err(Error::Conflict(format!(
            "tenant \"{slug}\" is enabled: disable it first (`tessera tenant disable {slug}` or \
             PATCH {{\"disabled\": true}}), so nothing uses it while its data goes"
        )));
    }
    if let Some(why) = kept {
        return Err(Error::Conflict(why));
    }
    if batch == 0 {
        return Err(Error::InvalidInput(
            "--batch-size must be at least 1".to_owned(),
        ));
    }
    let erased = erase_tenant_rows(TenantData::new(databases, tenant), batch, progress).await?;
    tenancy::delete_tenant(databases, slug).await?;
    audit(actor, slug.as_str(), "tenant.delete", slug.as_str());
    Ok(erased)
}

/// Parses `KEY=VALUE` settings assignments: the value is JSON when it parses as
/// JSON (`600`, `true`, `["openid"]`), else a string; `KEY=` removes the stored
/// value.
pub fn parse_setting(assignment: &str) -> Result<(String, serde_json::Value), Error> {
    let Some((key, value)) = assignment.split_once('=') else {
        return Err(Error::InvalidInput(format!(
            "--set {assignment:?}: write KEY=VALUE, e.g. --set access_token_lifetime_secs=600"
        )));
    };
    let key = key.trim();
    if key.is_empty() {
        return Err(Error::InvalidInput(format!(
            "--set {assignment:?}: the key is empty"
        )));
    }
    let value = if value.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(value).unwrap_or_else(|_| serde_json::Value::String(value.to_owned()))
    };
    Ok((key.to_owned(), value))
}
