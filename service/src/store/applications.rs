//! OAuth clients of a tenant, validated on the way in (RFC 6749 §2, §3.1.2; RFC 7591
//! grant type names).

use std::fmt;
use std::str::FromStr;

use entity::{application, application_origin};
use router_policies::EntityGroup;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use serde::Serialize;

use crate::application_fields::{FieldCatalogue, Visibility};
use crate::error::Error;
use crate::store::access::TenantData;
use crate::store::is_unique_violation;
use crate::syntax::{check_client_id, check_scope_token};
use crate::time::now;

/// Client type (RFC 6749 §2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientType {
    /// Can keep a secret: authenticates at the token endpoint.
    Confidential,
    /// Cannot keep a secret (SPA, native app): no secret, PKCE required.
    Public,
}

impl ClientType {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientType::Confidential => "confidential",
            ClientType::Public => "public",
        }
    }
}

impl FromStr for ClientType {
    type Err = Error;
    fn from_str(value: &str) -> Result<Self, Error> {
        match value {
            "confidential" => Ok(ClientType::Confidential),
            "public" => Ok(ClientType::Public),
            other => Err(Error::InvalidInput(format!(
                "unknown client type {other:?}: use confidential or public"
            ))),
        }
    }
}

/// Grant types, named as in RFC 7591 §2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum GrantType {
    /// RFC 6749 §4.1.
    AuthorizationCode,
    /// RFC 6749 §6.
    RefreshToken,
    /// RFC 6749 §4.4.
    ClientCredentials,
    /// RFC 6749 §4.3.
    Password,
    /// RFC 6749 §4.2.
    Implicit,
    /// RFC 8628 §3.4.
    DeviceCode,
}

impl GrantType {
    /// Every grant type Tessera knows.
    pub const ALL: [GrantType; 6] = [
        GrantType::AuthorizationCode,
        GrantType::RefreshToken,
        GrantType::ClientCredentials,
        GrantType::Password,
        GrantType::Implicit,
        GrantType::DeviceCode,
    ];

    /// The RFC 7591 name.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
            GrantType::Password => "password",
            GrantType::Implicit => "implicit",
            GrantType::DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
        }
    }

    /// Whether the grant sends the user agent to a redirect URI.
    pub fn needs_redirect_uri(self) -> bool {
        matches!(self, GrantType::AuthorizationCode | GrantType::Implicit)
    }
}

impl fmt::Display for GrantType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for GrantType {
    type Err = Error;
    fn from_str(value: &str) -> Result<Self, Error> {
        GrantType::ALL
            .into_iter()
            .find(|grant| grant.as_str() == value)
            .ok_or_else(|| {
                let known: Vec<&str> = GrantType::ALL.iter().map(|grant| grant.as_str()).collect();
                Error::InvalidInput(format!(
                    "unknown grant type {value:?}: use one of {}",
                    known.join(", ")
                ))
            })
    }
}

/// Whether the registration of `application` lists `grant`.
pub fn lists_grant(application: &application::Model, grant: GrantType) -> bool {
    application
        .grant_types
        .split(',')
        .any(|name| name.trim() == grant.as_str())
}

/// Parses a comma-separated grant type list (as DOT and the CLI write it).
pub fn parse_grant_types(list: &str) -> Result<Vec<GrantType>, Error> {
    let mut grants: Vec<GrantType> = list
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(GrantType::from_str)
        .collect::<Result<_, _>>()?;
    if grants.is_empty() {
        return Err(Error::InvalidInput(
            "no grant type given: pass --grant-types, e.g. authorization_code,refresh_token"
                .to_owned(),
        ));
    }
    grants.sort();
    grants.dedup();
    Ok(grants)
}

/// Validates a space-separated list of redirect URIs (RFC 6749 §3.1.2: absolute, no
/// fragment; plain `http` only for loopback hosts, custom schemes allowed for native
/// apps per RFC 8252 §7.1).
pub fn parse_redirect_uris(kind: &str, list: &str) -> Result<Vec<String>, Error> {
    list.split_whitespace()
        .map(|uri| {
            let parsed = url::Url::parse(uri).map_err(|error| {
                Error::InvalidInput(format!("{kind} {uri:?} is not an absolute URI: {error}"))
            })?;
            if parsed.fragment().is_some() {
                return Err(Error::InvalidInput(format!(
                    "{kind} {uri:?} has a fragment, which RFC 6749 §3.1.2 forbids"
                )));
            }
                        if parsed.cannot_be_a_base()
                || matches!(parsed.scheme(), "javascript" | "data" | "file" | "vbscript" | "blob")
            {
                return Err(Error::InvalidInput(format!(
                    "{kind} {uri:?} cannot be a redirect target: use https, loopback http, or a private-use scheme such as com.example.app:/cb"
                )));
            }
            if !matches!(parsed.scheme(), "http" | "https") && !parsed.scheme().contains('.') {
                return Err(Error::InvalidInput(format!(
                    "{kind} {uri:?}: a private-use scheme must be a reverse domain name such as com.example.app (RFC 8252 §7.1)"
                )));
            }
            if !parsed.username().is_empty() || parsed.password().is_some() {
                return Err(Error::InvalidInput(format!(
                    "{kind} {uri:?} carries credentials: remove the user:password@ part"
                )));
            }
            if parsed.scheme() == "http" && !is_loopback_host(&parsed) {
                return Err(Error::InvalidInput(format!(
                    "{kind} {uri:?} uses http on a non-loopback host: use https"
                )));
            }
            Ok(uri.to_owned())
        })
        .collect()
}

fn is_loopback_host(uri: &url::Url) -> bool {
    match uri.host() {
        Some(url::Host::Domain(domain)) => domain == "localhost",
        Some(url::Host::Ipv4(address)) => address.is_loopback(),
        Some(url::Host::Ipv6(address)) => address.is_loopback(),
        None => false,
    }
}

/// Validates a space-separated list of CORS origins (`scheme://host[:port]`).
pub fn parse_origins(list: &str) -> Result<Vec<String>, Error> {
    list.split_whitespace()
        .map(|origin| {
            let parsed = url::Url::parse(origin).map_err(|error| {
                Error::InvalidInput(format!("allowed origin {origin:?} is not a URL: {error}"))
            })?;
            let serialized = parsed.origin().ascii_serialization();
            if serialized != origin.trim_end_matches('/') {
                return Err(Error::InvalidInput(format!(
                    "allowed origin {origin:?} must be scheme://host[:port] with no path"
                )));
            }
            Ok(serialized)
        })
        .collect()
}

/// Refuses a value longer than its column (`max` characters), naming the option.
pub fn check_length(option: &str, value: &str, max: usize) -> Result<(), Error> {
    if value.chars().count() > max {
        return Err(Error::InvalidInput(format!(
            "{option} is {} characters long: at most {max}",
            value.chars().count()
        )));
    }
    Ok(())
}

/// ID token signing algorithm of a client.
pub fn parse_algorithm(value: Option<&str>) -> Result<String, Error> {
    match value {
        None | Some("") => Ok(String::new()),
        Some(algorithm @ ("RS256" | "ES256" | "EdDSA" | "HS256")) => Ok(algorithm.to_owned()),
        Some(other) => Err(Error::InvalidInput(format!(
            "unknown algorithm {other:?}: use RS256, ES256, EdDSA or HS256"
        ))),
    }
}

/// The format of a client's access tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessTokenFormat {
    /// A random secret (`tsa_…`), the default.
    Opaque,
    /// A signed JWT (RFC 9068).
    Jwt,
}

impl AccessTokenFormat {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Opaque => "opaque",
            Self::Jwt => "jwt",
        }
    }

    /// Parses `--access-token-format`.
    pub fn parse(value: Option<&str>) -> Result<Self, Error> {
        match value {
            None | Some("opaque") => Ok(Self::Opaque),
            Some("jwt") => Ok(Self::Jwt),
            Some(other) => Err(Error::InvalidInput(format!(
                "--access-token-format {other:?}: use opaque or jwt"
            ))),
        }
    }

    /// The format of a stored application (anything unknown is opaque).
    pub fn of(application: &application::Model) -> Self {
        if application.access_token_format == "jwt" {
            Self::Jwt
        } else {
            Self::Opaque
        }
    }
}

/// A validated application ready to insert.
#[derive(Clone, Debug)]
pub struct NewApplication {
    /// Public identifier.
    pub client_id: String,
    /// Display name.
    pub name: String,
    /// Confidential or public.
    pub client_type: ClientType,
    /// Grant types it may use.
    pub grant_types: Vec<GrantType>,
    /// Exact redirect URIs.
    pub redirect_uris: Vec<String>,
    /// URIs allowed after logout.
    pub post_logout_redirect_uris: Vec<String>,
    /// CORS origins.
    pub allowed_origins: Vec<String>,
    /// Stored secret (hash, or plain when `hash_client_secret` is false); empty for
    /// public clients.
    pub client_secret: String,
    /// Whether `client_secret` is a hash.
    pub hash_client_secret: bool,
    /// Skip the consent page.
    pub skip_authorization: bool,
    /// ID token algorithm or empty.
    pub algorithm: String,
    /// Access token format.
    pub access_token_format: AccessTokenFormat,
    /// Allowed scopes (empty: the tenant's catalogue).
    pub allowed_scopes: Vec<String>,
    /// Owning user.
    pub owner_user_id: Option<i64>,
    /// Extension field values (validated by the tenant's
    /// [`crate::application_fields::FieldCatalogue`] before they get here).
    pub extensions: serde_json::Map<String, serde_json::Value>,
    /// Its own external login application (empty: the tenant's).
    pub login_url: String,
    /// The client_id that application authenticates with (required with
    /// `login_url`): it alone drives this application's interactions.
    pub login_client_id: String,
}

impl NewApplication {
    /// The registration of a stored application, to change and store again with
    /// [`update`] (the secret stays as stored).
    pub fn of(model: &application::Model) -> Result<Self, Error> {
        let corrupt = |what: &str, error: Error| {
            Error::Corrupt(format!("application {}: {what}: {error}", model.client_id))
        };
        let words = |text: &str| text.split_whitespace().map(str::to_owned).collect();
        Ok(Self {
            client_id: model.client_id.clone(),
            name: model.name.clone(),
            client_type: model
                .client_type
                .parse()
                .map_err(|error| corrupt("client type", error))?,
            grant_types: parse_grant_types(&model.grant_types)
                .map_err(|error| corrupt("grant types", error))?,
            redirect_uris: words(&model.redirect_uris),
            post_logout_redirect_uris: words(&model.post_logout_redirect_uris),
            allowed_origins: words(&model.allowed_origins),
            client_secret: model.client_secret.clone(),
            hash_client_secret: model.hash_client_secret,
            skip_authorization: model.skip_authorization,
            algorithm: model.algorithm.clone(),
            access_token_format: AccessTokenFormat::of(model),
            allowed_scopes: words(&model.allowed_scopes),
            owner_user_id: model.owner_user_id,
            extensions: crate::application_fields::document_of(&model.extensions),
            login_url: model.login_url.clone(),
            login_client_id: model.login_client_id.clone(),
        })
    }

    /// Cross-field checks: a redirecting grant needs a redirect URI; HS256 needs the
    /// plain secret; a public client has no secret and cannot use client credentials.
    pub fn check(&self) -> Result<(), Error> {
        check_client_id(&self.client_id)?;
        if !self.login_url.is_empty() {
            check_length("--login-url", &self.login_url, 2048)?;
            let usable = url::Url::parse(&self.login_url)
                .is_ok_and(|url| matches!(url.scheme(), "https" | "http") && url.host().is_some());
            if !usable {
                return Err(Error::InvalidInput(format!(
                    "--login-url {:?} is not an absolute http(s) URL",
                    self.login_url
                )));
            }
            if self.login_client_id.is_empty() {
                return Err(Error::InvalidInput(
                    "--login-url needs --login-client-id: the client_id its login application \
                     authenticates with (only that credential drives the interactions)"
                        .to_owned(),
                ));
            }
            check_client_id(&self.login_client_id)
                .map_err(|error| Error::InvalidInput(format!("--login-client-id: {error}")))?;
        } else if !self.login_client_id.is_empty() {
            return Err(Error::InvalidInput(
                "--login-client-id goes with --login-url".to_owned(),
            ));
        }
        check_length("--name", &self.name, 255)?;
        for scope in &self.allowed_scopes {
            check_scope_token(scope)?;
        }
        if self
            .grant_types
            .iter()
            .any(|grant| grant.needs_redirect_uri())
            && self.redirect_uris.is_empty()
        {
            return Err(Error::InvalidInput(
                "authorization_code and implicit need at least one redirect URI: pass --redirect-uris"
                    .to_owned(),
            ));
        }
        if self.client_type == ClientType::Public
            && self.grant_types.contains(&GrantType::ClientCredentials)
        {
            return Err(Error::InvalidInput(
                "a public client cannot use client_credentials (RFC 6749 §4.4): make it confidential"
                    .to_owned(),
            ));
        }
        if self.algorithm == "HS256" && self.hash_client_secret {
            return Err(Error::InvalidInput(
                "HS256 signs with the client secret, which must stay readable: add --no-hash-client-secret"
                    .to_owned(),
            ));
        }
        if self.algorithm == "HS256" && self.client_type == ClientType::Public {
            return Err(Error::InvalidInput(
                "HS256 needs a client secret, which a public client does not have".to_owned(),
            ));
        }
        Ok(())
    }
}

/// An application as shown by the CLI (never the secret).
#[derive(Clone, Debug, Serialize)]
pub struct ApplicationSummary {
    /// Public identifier.
    pub client_id: String,
    /// Display name.
    pub name: String,
    /// confidential / public.
    pub client_type: String,
    /// Grant types.
    pub grant_types: Vec<String>,
    /// Redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Allowed scopes.
    pub allowed_scopes: Vec<String>,
    /// ID token algorithm.
    pub algorithm: String,
    /// `opaque` or `jwt`.
    pub access_token_format: String,
    /// Consent skipped.
    pub skip_authorization: bool,
    /// Post-logout redirect URIs.
    pub post_logout_redirect_uris: Vec<String>,
    /// CORS origins.
    pub allowed_origins: Vec<String>,
    /// Extension field values an operator may see (never `secret` ones).
    pub fields: serde_json::Map<String, serde_json::Value>,
    /// Its own external login application, if any.
    pub login_url: String,
    /// The client_id that login application authenticates with.
    pub login_client_id: String,
}

impl ApplicationSummary {
    /// The summary of `model`, with the fields of `catalogue` an operator may see.
    pub fn new(model: &application::Model, catalogue: &FieldCatalogue) -> Self {
        let words = |text: &str| text.split_whitespace().map(str::to_owned).collect();
        Self {
            client_id: model.client_id.clone(),
            name: model.name.clone(),
            client_type: model.client_type.clone(),
            grant_types: model
                .grant_types
                .split(',')
                .filter(|grant| !grant.is_empty())
                .map(str::to_owned)
                .collect(),
            redirect_uris: words(&model.redirect_uris),
            allowed_scopes: words(&model.allowed_scopes),
            // Empty in the row means the default (OIDC Core §15.1: RS256).
            algorithm: if model.algorithm.is_empty() {
                "RS256".to_owned()
            } else {
                model.algorithm.clone()
            },
            access_token_format: model.access_token_format.clone(),
            skip_authorization: model.skip_authorization,
            post_logout_redirect_uris: words(&model.post_logout_redirect_uris),
            allowed_origins: words(&model.allowed_origins),
            login_url: model.login_url.clone(),
            login_client_id: model.login_client_id.clone(),
            fields: catalogue.visible(
                &crate::application_fields::document_of(&model.extensions),
                Visibility::Admin,
            ),
        }
    }
}

/// Inserts a validated application and its CORS origins, in one transaction. A
/// `client_id` taken in this tenant is [`Error::Conflict`].
pub async fn create(
    data: TenantData<'_>,
    new: NewApplication,
) -> Result<application::Model, Error> {
    let tenant_id = data.tenant_id();
    new.check()?;
    let taken = || {
        Error::Conflict(format!(
            "client_id {:?} is taken in this tenant",
            new.client_id
        ))
    };
    let created = now();
    let grant_types: Vec<&str> = new.grant_types.iter().map(|grant| grant.as_str()).collect();
    let transaction = data.transaction(EntityGroup::Applications).await?;
    let result = async {
        let model = application::ActiveModel {
            tenant_id: Set(tenant_id),
            client_id: Set(new.client_id.clone()),
            owner_user_id: Set(new.owner_user_id),
            name: Set(new.name.clone()),
            client_type: Set(new.client_type.as_str().to_owned()),
            grant_types: Set(grant_types.join(",")),
            redirect_uris: Set(new.redirect_uris.join(" ")),
            post_logout_redirect_uris: Set(new.post_logout_redirect_uris.join(" ")),
            allowed_origins: Set(new.allowed_origins.join(" ")),
            client_secret: Set(new.client_secret.clone()),
            hash_client_secret: Set(new.hash_client_secret),
            skip_authorization: Set(new.skip_authorization),
            algorithm: Set(new.algorithm.clone()),
            access_token_format: Set(new.access_token_format.as_str().to_owned()),
            allowed_scopes: Set(new.allowed_scopes.join(" ")),
            extensions: Set(serde_json::Value::Object(new.extensions.clone()).to_string()),
            login_url: Set(new.login_url.clone()),
            login_client_id: Set(new.login_client_id.clone()),
            created_at: Set(created),
            updated_at: Set(created),
            ..Default::default()
        }
        .insert(&transaction.inner)
        .await
        .map_err(|error| {
            if is_unique_violation(&error) {
                taken()
            } else {
                Error::Database(error)
            }
        })?;
        insert_origins(
            &transaction.inner,
            tenant_id,
            model.id,
            &new.allowed_origins,
        )
        .await?;
        Ok(model)
    }
    .await;
    transaction.finish(result).await
}

/// One row per origin of the application; a client lists a handful, far below any
/// parameter limit.
async fn insert_origins(
    db: &impl ConnectionTrait,
    tenant_id: i64,
    application_id: i64,
    allowed_origins: &[String],
) -> Result<(), Error> {
    let mut origins: Vec<&String> = allowed_origins.iter().collect();
    origins.sort();
    origins.dedup();
    if !origins.is_empty() {
        application_origin::Entity::insert_many(origins.into_iter().map(|origin| {
            application_origin::ActiveModel {
                tenant_id: Set(tenant_id),
                origin: Set(origin.clone()),
                application_id: Set(application_id),
                ..Default::default()
            }
        }))
        .exec_without_returning(db)
        .await?;
    }
    Ok(())
}

/// Stores `changed` over the application `id` (what an operator or owner may change:
/// name, grant types, URIs, origins, scopes, consent, algorithm, access token format,
/// extension fields; never the client_id, type or secret), with its CORS origins
/// rewritten, in one transaction. Nodes see it within `client_cache_ttl_secs`.
pub async fn update(
    data: TenantData<'_>,
    stored: &application::Model,
    changed: NewApplication,
) -> Result<application::Model, Error> {
    let tenant_id = data.tenant_id();
    let id = stored.id;
    changed.check()?;
    let grant_types: Vec<&str> = changed
        .grant_types
        .iter()
        .map(|grant| grant.as_str())
        .collect();
    let transaction = data.transaction(EntityGroup::Applications).await?;
    let result = async {
        let model = application::ActiveModel {
            id: sea_orm::ActiveValue::Unchanged(id),
            name: Set(changed.name.clone()),
            grant_types: Set(grant_types.join(",")),
            redirect_uris: Set(changed.redirect_uris.join(" ")),
            post_logout_redirect_uris: Set(changed.post_logout_redirect_uris.join(" ")),
            allowed_origins: Set(changed.allowed_origins.join(" ")),
            skip_authorization: Set(changed.skip_authorization),
            algorithm: Set(changed.algorithm.clone()),
            access_token_format: Set(changed.access_token_format.as_str().to_owned()),
            allowed_scopes: Set(changed.allowed_scopes.join(" ")),
            extensions: Set(serde_json::Value::Object(changed.extensions.clone()).to_string()),
            login_url: Set(changed.login_url.clone()),
            login_client_id: Set(changed.login_client_id.clone()),
            updated_at: Set(now()),
            ..Default::default()
        };
        let updated = application::Entity::update_many()
            .set(model)
            .filter(application::Column::Id.eq(id))
            .filter(application::Column::TenantId.eq(tenant_id))
            .exec(&transaction.inner)
            .await?;
        if updated.rows_affected != 1 {
            return Err(Error::InvalidInput(format!(
                "application {} no longer exists",
                changed.client_id
            )));
        }
        // Keyed by the stored origins (a handful), so the (tenant, origin, application)
        // index finds the rows.
        let old_origins: Vec<&str> = stored.allowed_origins.split_whitespace().collect();
        if !old_origins.is_empty() {
            application_origin::Entity::delete_many()
                .filter(application_origin::Column::TenantId.eq(tenant_id))
                .filter(application_origin::Column::Origin.is_in(old_origins))
                .filter(application_origin::Column::ApplicationId.eq(id))
                .exec(&transaction.inner)
                .await?;
        }
        insert_origins(&transaction.inner, tenant_id, id, &changed.allowed_origins).await?;
        Ok(())
    }
    .await;
    transaction.finish(result).await?;
    find_by_id(data, id)
        .await?
        .ok_or_else(|| Error::Corrupt(format!("application {} vanished", changed.client_id)))
}

/// Whether any application of the tenant lists `origin` (CORS before the client is
/// known): one exact, indexed lookup — no pattern, so `%` or `_` in an `Origin`
/// header match nothing but themselves.
pub async fn any_lists_origin(data: TenantData<'_>, origin: &str) -> Result<bool, Error> {
    // A replica may answer: CORS only lets an origin's scripts read what the request's
    // own credential already authorizes.
    let db = data.replica(EntityGroup::Applications)?;
    let tenant_id = data.tenant_id();
    Ok(application_origin::Entity::find()
        .select_only()
        .column(application_origin::Column::Id)
        .filter(application_origin::Column::TenantId.eq(tenant_id))
        .filter(application_origin::Column::Origin.eq(origin))
        .into_tuple::<i64>()
        .one(db)
        .await?
        .is_some())
}

/// The application with `client_id` in the tenant, from the primary: whether a
/// client is registered, and with which secret, grants and redirect URIs, is a
/// security decision (the client cache in front of it bounds how often it is asked).
pub async fn find_by_client_id(
    data: TenantData<'_>,
    client_id: &str,
) -> Result<Option<application::Model>, Error> {
    Ok(application::Entity::find()
        .filter(application::Column::TenantId.eq(data.tenant_id()))
        .filter(application::Column::ClientId.eq(client_id))
        .one(data.primary(EntityGroup::Applications)?)
        .await?)
}

/// The application with row id `id` in the tenant, from the primary (a token is live
/// only while its client is registered).
pub async fn find_by_id(
    data: TenantData<'_>,
    id: i64,
) -> Result<Option<application::Model>, Error> {
    Ok(application::Entity::find_by_id(id)
        .filter(application::Column::TenantId.eq(data.tenant_id()))
        .one(data.primary(EntityGroup::Applications)?)
        .await?)
}

/// The applications with these row ids in the tenant (one query; callers pass a
/// bounded list, such as the applications one user authorized), from the primary
/// (the page shows what was just revoked or registered).
pub async fn find_by_ids(
    data: TenantData<'_>,
    ids: Vec<i64>,
) -> Result<Vec<application::Model>, Error> {
    let db = data.primary(EntityGroup::Applications)?;
    let tenant_id = data.tenant_id();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(application::Entity::find()
        .filter(application::Column::TenantId.eq(tenant_id))
        .filter(application::Column::Id.is_in(ids))
        .order_by_asc(application::Column::Name)
        .all(db)
        .await?)
}

/// Every application of the tenant, by name (a listing: a replica may answer).
pub async fn list(data: TenantData<'_>) -> Result<Vec<application::Model>, Error> {
    let db = data.replica(EntityGroup::Applications)?;
    Ok(application::Entity::find()
        .filter(application::Column::TenantId.eq(data.tenant_id()))
        .order_by_asc(application::Column::Name)
        .order_by_asc(application::Column::Id)
        .all(db)
        .await?)
}

/// The applications `owner` registered (the management pages), by name; at most 200,
/// found by the (tenant, owner) index, from the primary (the owner sees what they
/// just registered or deleted).
pub async fn list_owned(
    data: TenantData<'_>,
    owner: i64,
) -> Result<Vec<application::Model>, Error> {
    let db = data.primary(EntityGroup::Applications)?;
    Ok(application::Entity::find()
        .filter(application::Column::TenantId.eq(data.tenant_id()))
        .filter(application::Column::OwnerUserId.eq(owner))
        .order_by_asc(application::Column::Name)
        .limit(200)
        .all(db)
        .await?)
}

/// Deletes the application and its CORS origins in one transaction. Its tokens die
/// with it: a token is live only while its client is registered.
pub async fn delete(data: TenantData<'_>, stored: &application::Model) -> Result<(), Error> {
    let tenant_id = data.tenant_id();
    let transaction = data.transaction(EntityGroup::Applications).await?;
    let result = async {
        let origins: Vec<&str> = stored.allowed_origins.split_whitespace().collect();
        if !origins.is_empty() {
            application_origin::Entity::delete_many()
                .filter(application_origin::Column::TenantId.eq(tenant_id))
                .filter(application_origin::Column::Origin.is_in(origins))
                .filter(application_origin::Column::ApplicationId.eq(stored.id))
                .exec(&transaction.inner)
                .await?;
        }
        application::Entity::delete_many()
            .filter(application::Column::TenantId.eq(tenant_id))
            .filter(application::Column::Id.eq(stored.id))
            .exec(&transaction.inner)
            .await?;
        Ok(())
    }
    .await;
    transaction.finish(result).await
}

/// Replaces the stored secret: `stored` is its hash, or the secret itself when
/// `hashed` is false (an application that signs HS256 ID tokens with it, which must
/// stay readable, as `--no-hash-client-secret` keeps it).
pub async fn set_secret(
    data: TenantData<'_>,
    id: i64,
    stored: String,
    hashed: bool,
) -> Result<(), Error> {
    let writer = data.writer(EntityGroup::Applications).await?;
    let tenant_id = data.tenant_id();
    application::Entity::update_many()
        .set(application::ActiveModel {
            client_secret: Set(stored),
            hash_client_secret: Set(hashed),
            updated_at: Set(now()),
            ..Default::default()
        })
        .filter(application::Column::TenantId.eq(tenant_id))
        .filter(application::Column::Id.eq(id))
        .exec(writer.connection)
        .await?;
    Ok(())
}

/// Replaces a secret hash with a stronger one (after a successful check of an
/// imported or slow hash), only if the stored hash is still `verified` (compare and
/// set: a rotation meanwhile wins).
pub async fn upgrade_secret_hash(
    data: TenantData<'_>,
    id: i64,
    verified: &str,
    upgraded: String,
) -> Result<(), Error> {
    let writer = data.writer(EntityGroup::Applications).await?;
    application::Entity::update_many()
        .set(application::ActiveModel {
            client_secret: Set(upgraded),
            updated_at: Set(now()),
            ..Default::default()
        })
        .filter(application::Column::Id.eq(id))
        .filter(application::Column::TenantId.eq(data.tenant_id()))
        .filter(application::Column::ClientSecret.eq(verified))
        .exec(writer.connection)
        .await?;
    Ok(())
}

/// The client_ids of the tenant's applications that have no value for one of
/// `required` extension fields, each with the missing names. Reads the applications
/// in id order, 500 at a time (a check, not a request path).
pub async fn missing_fields(
    data: TenantData<'_>,
    required: &[&str],
) -> Result<Vec<(String, Vec<String>)>, Error> {
    let db = data.replica(EntityGroup::Applications)?;
    let tenant_id = data.tenant_id();
    let mut missing = Vec::new();
    let mut after = 0_i64;
    loop {
        let page: Vec<(i64, String, String)> = application::Entity::find()
            .select_only()
            .column(application::Column::Id)
            .column(application::Column::ClientId)
            .column(application::Column::Extensions)
            .filter(application::Column::TenantId.eq(tenant_id))
            .filter(application::Column::Id.gt(after))
            .order_by_asc(application::Column::Id)
            .limit(500)
            .into_tuple()
            .all(db)
            .await?;
        let Some((last, _, _)) = page.last() else {
            break;
        };
        after = *last;
        for (_, client_id, extensions) in page {
            let document = crate::application_fields::document_of(&extensions);
            let absent: Vec<String> = required
                .iter()
                .filter(|name| !document.contains_key(**name))
                .map(|name| (*name).to_owned())
                .collect();
            if !absent.is_empty() {
                missing.push((client_id, absent));
            }
        }
    }
    Ok(missing)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn grant_types_use_rfc7591_names() {
        let grants = parse_grant_types(
            "refresh_token,authorization_code,urn:ietf:params:oauth:grant-type:device_code",
        )
        .unwrap();
        assert_eq!(
            grants,
            vec![
                GrantType::AuthorizationCode,
                GrantType::RefreshToken,
                GrantType::DeviceCode
            ]
        );
        let error = parse_grant_types("authorization-code")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("unknown grant type \"authorization-code\""),
            "{error}"
        );
        assert!(parse_grant_types(" , ").is_err());
    }

    #[test]
    fn redirect_uris_are_absolute_without_fragment() {
        assert!(
            parse_redirect_uris(
                "redirect URI",
                "https://a.example/cb http://127.0.0.1:9/cb com.example.app:/cb"
            )
            .is_ok()
        );
        assert!(parse_redirect_uris("redirect URI", "/relative").is_err());
        assert!(parse_redirect_uris("redirect URI", "https://a.example/cb#x").is_err());
        assert!(parse_redirect_uris("redirect URI", "http://evil.example/cb").is_err());
        for bad in [
            "javascript:alert(1)",
            "data:text/html,x",
            "file:///etc/passwd",
            "myapp:/cb",
            "https://user:pw@a.example/cb",
        ] {
            assert!(parse_redirect_uris("redirect URI", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn origins_have_no_path() {
        assert_eq!(
            parse_origins("https://a.example").unwrap(),
            vec!["https://a.example"]
        );
        assert!(parse_origins("https://a.example/path").is_err());
    }
}
