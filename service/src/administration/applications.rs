//! What operators (and an application's owner on the management pages) do to a
//! registered application beyond create and update: rotate its secret, delete it.

use entity::application;

use crate::application_fields::Assignment;
use crate::db::Databases;
use crate::error::Error;
use crate::oauth::scope::ADMIN_SCOPE;
use crate::registration::{
    self, AccessTokenFormat, ClientType, GrantType, NewApplication, Registered, SecretSource,
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

/// What an operator changes of an application, as text (the CLI's arguments; the
/// admin API joins its arrays): `None` keeps a field. Never the client_id, the
/// type or the secret.
#[derive(Clone, Debug, Default)]
pub struct ApplicationChanges {
    /// Display name.
    pub name: Option<String>,
    /// Comma-separated grant types (RFC 7591 names).
    pub grant_types: Option<String>,
    /// Space-separated redirect URIs.
    pub redirect_uris: Option<String>,
    /// Space-separated post-logout redirect URIs.
    pub post_logout_redirect_uris: Option<String>,
    /// Space-separated CORS origins.
    pub allowed_origins: Option<String>,
    /// Space-separated allowed scopes (empty: the tenant's catalogue).
    pub scopes: Option<String>,
    /// Skip the consent page.
    pub skip_authorization: Option<bool>,
    /// ID token algorithm.
    pub algorithm: Option<String>,
    /// `opaque` or `jwt`.
    pub access_token_format: Option<String>,
    /// The client's own external login application ("" removes it).
    pub login_url: Option<String>,
    /// The credential that login application authenticates with.
    pub login_client_id: Option<String>,
    /// Its home page (RFC 7591 `client_uri`; "" removes it).
    pub client_uri: Option<String>,
    /// The token endpoint authentication method (RFC 7591; it must fit the type).
    pub token_endpoint_auth_method: Option<String>,
    /// Extension fields to set (or, without a value, remove).
    pub fields: Vec<Assignment>,
}

impl ApplicationChanges {
    /// `base` with these changes, each parsed by the registration rules (the
    /// whole is checked again by the store before it is written).
    pub fn apply(
        &self,
        tenant: &Tenant,
        mut base: NewApplication,
    ) -> Result<NewApplication, Error> {
        if let Some(name) = &self.name {
            base.name = name.trim().to_owned();
        }
        if let Some(grant_types) = &self.grant_types {
            base.grant_types = registration::parse_grant_types(grant_types)?;
        }
        if let Some(uris) = &self.redirect_uris {
            base.redirect_uris = registration::parse_redirect_uris("redirect URI", uris)?;
        }
        if let Some(uris) = &self.post_logout_redirect_uris {
            base.post_logout_redirect_uris =
                registration::parse_redirect_uris("post-logout redirect URI", uris)?;
        }
        if let Some(origins) = &self.allowed_origins {
            base.allowed_origins = registration::parse_origins(origins)?;
        }
        if let Some(scopes) = &self.scopes {
            base.allowed_scopes = scopes.split_whitespace().map(str::to_owned).collect();
        }
        if let Some(skip) = self.skip_authorization {
            base.skip_authorization = skip;
        }
        if let Some(algorithm) = &self.algorithm {
            base.algorithm = registration::parse_algorithm(Some(algorithm))?;
        }
        if let Some(format) = &self.access_token_format {
            base.access_token_format = AccessTokenFormat::parse(Some(format))?;
        }
        if let Some(login_url) = &self.login_url {
            base.login_url = login_url.trim().to_owned();
            if base.login_url.is_empty() {
                base.login_client_id.clear();
            }
        }
        if let Some(login_client_id) = &self.login_client_id {
            base.login_client_id = login_client_id.trim().to_owned();
        }
        if let Some(client_uri) = &self.client_uri {
            base.client_uri = client_uri.trim().to_owned();
        }
        if let Some(method) = &self.token_endpoint_auth_method {
            base.token_endpoint_auth_method = method.clone();
        }
        base.extensions = tenant
            .fields
            .apply(&base.extensions, &self.fields, false)
            .map_err(|problems| Error::InvalidInput(format!("fields: {problems}")))?;
        Ok(base)
    }
}

/// Stores a new application that passed the registration rules
/// ([`registration::register`]: its client_id and secret made): its extension
/// fields checked against the tenant's declarations (`assignments`), then stored
/// (the rules checked once more there). Returns it with its plain secret, if one
/// was generated or given.
pub async fn create(
    databases: &Databases,
    tenant: &Tenant,
    registered: Registered,
    assignments: &[Assignment],
    actor: &Actor,
) -> Result<(application::Model, Option<String>), Error> {
    let Registered {
        application: mut new,
        secret,
    } = registered;
    new.extensions = tenant
        .fields
        .apply(&serde_json::Map::new(), assignments, true)
        .map_err(|problems| Error::InvalidInput(format!("fields: {problems}")))?;
    let created = applications::create(TenantData::new(databases, tenant), new).await?;
    audit(
        actor,
        tenant.slug.as_str(),
        "application.create",
        &created.client_id,
    );
    Ok((created, secret))
}

/// Changes an application (compare and set on the row read: a change made since is
/// [`Error::StaleVersion`]); every node drops its cached copy.
pub async fn update(
    databases: &Databases,
    tenant: &Tenant,
    stored: &application::Model,
    changes: &ApplicationChanges,
    actor: &Actor,
) -> Result<application::Model, Error> {
    let changed = changes.apply(tenant, NewApplication::of(stored)?)?;
    let updated = applications::update(TenantData::new(databases, tenant), stored, changed).await?;
    audit(
        actor,
        tenant.slug.as_str(),
        "application.update",
        &stored.client_id,
    );
    Ok(updated)
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
        allowed_scopes: vec![ADMIN_SCOPE.to_owned()],
        ..NewApplication::named(
            "Tessera admin",
            ClientType::Confidential,
            vec![GrantType::ClientCredentials],
        )
    };
    let registered = registration::register(draft, SecretSource::Generate)?;
    let (created, secret) = create(databases, tenant, registered, &[], actor).await?;
    let secret = secret.ok_or_else(|| Error::Corrupt("no secret generated".to_owned()))?;
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
