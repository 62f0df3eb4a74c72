//! What operators (and an application's owner on the management pages) do to a
//! registered application beyond create and update: rotate its secret, delete it.

use entity::application;

use crate::db::Databases;
use crate::error::Error;
use crate::oauth::scope::ADMIN_SCOPE;
use crate::registration::{
    AccessTokenFormat, ClientType, GrantType, NewApplication, Registered, SecretSource,
};
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

/// Registers an admin client in `tenant`: confidential, client credentials only,
/// allowed the `tessera:admin` scope (and nothing else). Returns it with its
/// generated secret (shown once).
pub async fn create_admin_client(
    databases: &Databases,
    tenant: &Tenant,
    actor: &Actor,
) -> Result<(application::Model, String), Error> {
    let draft = NewApplication {
        client_id: String::new(),
        name: "Tessera admin".to_owned(),
        client_type: ClientType::Confidential,
        grant_types: vec![GrantType::ClientCredentials],
        redirect_uris: Vec::new(),
        post_logout_redirect_uris: Vec::new(),
        allowed_origins: Vec::new(),
        client_secret: String::new(),
        hash_client_secret: true,
        skip_authorization: false,
        algorithm: String::new(),
        access_token_format: AccessTokenFormat::Opaque,
        allowed_scopes: vec![ADMIN_SCOPE.to_owned()],
        owner_user_id: None,
        extensions: tenant
            .fields
            .apply(&serde_json::Map::new(), &[], true)
            .map_err(|problems| {
                Error::InvalidInput(format!(
                    "the tenant's required application fields have no default: {problems}"
                ))
            })?,
        login_url: String::new(),
        login_client_id: String::new(),
    };
    let Registered {
        application,
        secret,
    } = crate::registration::register(draft, SecretSource::Generate)?;
    let created = applications::create(TenantData::new(databases, tenant), application).await?;
    let secret = secret.ok_or_else(|| Error::Corrupt("no secret generated".to_owned()))?;
    audit(
        actor,
        tenant.slug.as_str(),
        "application.create_admin",
        &created.client_id,
    );
    Ok((created, secret))
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
