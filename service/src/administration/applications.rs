//! What operators (and an application's owner on the management pages) do to a
//! registered application beyond create and update: rotate its secret, delete it.

use entity::application;

use crate::db::Databases;
use crate::error::Error;
use crate::registration::ClientType;
use crate::secrets;
use crate::store::access::TenantData;
use crate::store::applications;
use crate::tenancy::Tenant;

use super::{Actor, audit};

/// The application with `client_id`, read from the primary (a change follows).
pub async fn find(
    databases: &Databases,
    tenant: &Tenant,
    client_id: &str,
) -> Result<application::Model, Error> {
    applications::find_by_client_id(TenantData::new(databases, tenant), client_id)
        .await?
        .ok_or_else(|| {
            Error::NotFound(format!(
                "no application {client_id:?} in tenant {}: `tessera app list --tenant {}` \
                 lists them",
                tenant.slug, tenant.slug
            ))
        })
}

/// Gives a confidential application a new generated secret and returns it (shown
/// once; only its hash is kept, or the secret itself for an application that signs
/// HS256 ID tokens with it). The old secret stops working at once, on every node.
pub async fn rotate_secret(
    databases: &Databases,
    tenant: &Tenant,
    stored: &application::Model,
    actor: &Actor,
) -> Result<String, Error> {
    if stored.client_type != ClientType::Confidential.as_str() {
        return Err(Error::InvalidInput(format!(
            "application {:?} is a public client: it has no secret to rotate",
            stored.client_id
        )));
    }
    let secret = secrets::generate(secrets::prefix::CLIENT_SECRET)?;
    let kept = if stored.hash_client_secret {
        secrets::hash_client_secret(&secret)?
    } else {
        secret.clone()
    };
    applications::set_secret(
        TenantData::new(databases, tenant),
        stored,
        kept,
        stored.hash_client_secret,
    )
    .await?;
    audit(
        actor,
        tenant.slug.as_str(),
        "application.rotate_secret",
        &stored.client_id,
    );
    Ok(secret)
}

/// Deletes the application and its CORS origins; its tokens die with it (a token
/// is live only while its client is registered).
pub async fn delete(
    databases: &Databases,
    tenant: &Tenant,
    stored: &application::Model,
    actor: &Actor,
) -> Result<(), Error> {
    applications::delete(TenantData::new(databases, tenant), stored).await?;
    audit(
        actor,
        tenant.slug.as_str(),
        "application.delete",
        &stored.client_id,
    );
    Ok(())
}
