//! What an application (an OAuth client of a tenant) may be: the registration rules
//! (RFC 6749 §2, §3.1.2; RFC 7591 §2 metadata names), applied once for every way in —
//! the CLI, the management pages and the next issues' admin API and dynamic
//! registration. [`NewApplication::check`] holds the cross-field rules, [`register`]
//! the rules of a new registration (its client_id and secret); the store inserts
//! only what passed them.

use std::fmt;
use std::str::FromStr;

use entity::application;
use serde::Serialize;

use crate::application_fields::{FieldCatalogue, Visibility};
use crate::error::Error;
use crate::secrets;
use crate::syntax::{check_client_id, check_scope_token};

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

/// A tenant's display name: not blank, at most 255 characters.
pub fn check_display_name(name: &str) -> Result<(), Error> {
    if name.trim().is_empty() {
        return Err(Error::InvalidInput(
            "display name is empty: give the tenant a name".to_owned(),
        ));
    }
    check_length("display name", name, 255)
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

/// A trusted software statement issuer's key (RFC 7591 §2.3): the one algorithm its
/// statements are signed with, and the public key.
#[derive(Clone)]
pub struct StatementKey {
    /// RS256 for an RSA key, ES256 for P-256, EdDSA for Ed25519.
    pub algorithm: jsonwebtoken::Algorithm,
    /// The public key.
    pub key: jsonwebtoken::DecodingKey,
}

/// Parses a software statement issuer's public key, a JWK (RFC 7517) as JSON text:
/// RSA (RS256), EC P-256 (ES256) or OKP Ed25519 (EdDSA); never a symmetric key.
pub fn software_statement_key(jwk: &str) -> Result<StatementKey, String> {
    use jsonwebtoken::Algorithm;
    use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk};
    let parsed: Jwk = serde_json::from_str(jwk)
        .map_err(|error| format!("not a JWK (a JSON object with kty, …): {error}"))?;
    let algorithm = match &parsed.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            Algorithm::ES256
        }
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
            Algorithm::EdDSA
        }
        _ => {
            return Err(
                "use an RSA, EC P-256 or Ed25519 public key (a shared secret would let \
                 anyone holding it sign statements)"
                    .to_owned(),
            );
        }
    };
    let key = jsonwebtoken::DecodingKey::from_jwk(&parsed)
        .map_err(|error| format!("unusable key: {error}"))?;
    Ok(StatementKey { algorithm, key })
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
    /// Its home page (RFC 7591 §2 `client_uri`); empty: none.
    pub client_uri: String,
    /// The token endpoint authentication method it registered (RFC 7591 §2);
    /// empty: any that fits its type.
    pub token_endpoint_auth_method: String,
    /// The keyed hash of its registration access token (RFC 7592 §3); empty: not
    /// registered dynamically. Written at creation only.
    pub registration_token_hash: String,
}

/// The token endpoint authentication methods a registration may name (RFC 7591 §2;
/// `private_key_jwt` and `client_secret_jwt` are not supported).
pub const AUTH_METHODS: [&str; 3] = ["client_secret_basic", "client_secret_post", "none"];

impl NewApplication {
    /// A registration of `name`, `client_type` and `grant_types` with every other
    /// field at its default: no client_id yet ([`register`] makes one), no redirect
    /// URIs, origins, owner, extension fields, home page or login application; the
    /// tenant's scope catalogue; the secret hashed; consent asked; RS256 ID tokens,
    /// opaque access tokens. Callers set the rest with struct update syntax.
    pub fn named(name: &str, client_type: ClientType, grant_types: Vec<GrantType>) -> Self {
        Self {
            client_id: String::new(),
            name: name.trim().to_owned(),
            client_type,
            grant_types,
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            allowed_origins: Vec::new(),
            client_secret: String::new(),
            hash_client_secret: true,
            skip_authorization: false,
            algorithm: String::new(),
            access_token_format: AccessTokenFormat::Opaque,
            allowed_scopes: Vec::new(),
            owner_user_id: None,
            extensions: serde_json::Map::new(),
            login_url: String::new(),
            login_client_id: String::new(),
            client_uri: String::new(),
            token_endpoint_auth_method: String::new(),
            registration_token_hash: String::new(),
        }
    }

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
            client_uri: model.client_uri.clone(),
            token_endpoint_auth_method: model.token_endpoint_auth_method.clone(),
            registration_token_hash: model.registration_token_hash.clone(),
        })
    }

    /// The rules every registration and every change passes: a name and a grant type;
    /// a redirecting grant needs a redirect URI; HS256 needs the plain secret; a
    /// public client has no secret and cannot use client credentials.
    pub fn check(&self) -> Result<(), Error> {
        if self.name.trim().is_empty() {
            return Err(Error::InvalidInput(
                "the application has no name: give it one (--name)".to_owned(),
            ));
        }
        if self.grant_types.is_empty() {
            return Err(Error::InvalidInput(
                "the application has no grant type: choose at least one (--grant-types)".to_owned(),
            ));
        }
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
        if !self.client_uri.is_empty() {
            check_length("client_uri", &self.client_uri, 2048)?;
            let usable = url::Url::parse(&self.client_uri).is_ok_and(|url| {
                url.host().is_some()
                    && (url.scheme() == "https"
                        || (url.scheme() == "http" && is_loopback_host(&url)))
            });
            if !usable {
                return Err(Error::InvalidInput(format!(
                    "client_uri {:?} is not an absolute https URL (http only on loopback)",
                    self.client_uri
                )));
            }
        }
        match (self.token_endpoint_auth_method.as_str(), self.client_type) {
            ("", _)
            | ("none", ClientType::Public)
            | ("client_secret_basic" | "client_secret_post", ClientType::Confidential) => {}
            (method, _) if !AUTH_METHODS.contains(&method) => {
                return Err(Error::InvalidInput(format!(
                    "token_endpoint_auth_method {method:?} is not supported: use one of {}",
                    AUTH_METHODS.join(", ")
                )));
            }
            (method, client_type) => {
                return Err(Error::InvalidInput(format!(
                    "token_endpoint_auth_method {method:?} does not fit a {} client",
                    client_type.as_str()
                )));
            }
        }
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

/// Where a new confidential client's secret comes from.
#[derive(Debug)]
pub enum SecretSource {
    /// Generated here (256 bits) and shown once.
    Generate,
    /// Given by the operator (`--client-secret-stdin`).
    Given(String),
    /// A hash imported from DOT or another Tessera (`--client-secret-hash-stdin`).
    ImportedHash(String),
}

/// A new registration that passed the rules: the row to insert and the plain secret
/// (generated or given), to show once.
#[derive(Debug)]
pub struct Registered {
    /// The application to store.
    pub application: NewApplication,
    /// Its plain secret; `None` for a public client or an imported hash.
    pub secret: Option<String>,
}

/// The rules of a new registration, applied to `draft`: a client_id when it has
/// none; the secret its type calls for (a public client has none, RFC 6749 §2.1),
/// stored as a hash unless `draft.hash_client_secret` is off; then
/// [`NewApplication::check`].
pub fn register(mut draft: NewApplication, source: SecretSource) -> Result<Registered, Error> {
    if draft.client_id.is_empty() {
        draft.client_id = secrets::generate_identifier()?;
    }
    let public = draft.client_type == ClientType::Public;
    let (stored, secret) = match source {
        SecretSource::Given(_) if public => {
            return Err(Error::InvalidInput(
                "a public client has no secret: drop --client-secret-stdin".to_owned(),
            ));
        }
        SecretSource::ImportedHash(_) if public => {
            return Err(Error::InvalidInput(
                "a public client has no secret: drop --client-secret-hash-stdin".to_owned(),
            ));
        }
        SecretSource::Generate if public => (String::new(), None),
        SecretSource::ImportedHash(hash) => {
            if !secrets::is_slow_hash(&hash) {
                return Err(Error::InvalidInput(
                    "--client-secret-hash-stdin takes a DOT hash (pbkdf2_sha256$…) or an \
                     argon2 PHC string"
                        .to_owned(),
                ));
            }
            (hash, None)
        }
        SecretSource::Generate => {
            let secret = secrets::generate(secrets::prefix::CLIENT_SECRET)?;
            // 256 random bits: one keyed hash is enough.
            let stored = if draft.hash_client_secret {
                secrets::hash_client_secret(&secret)?
            } else {
                secret.clone()
            };
            (stored, Some(secret))
        }
        SecretSource::Given(secret) => {
            // A given secret may be weak: argon2id unless it is as long as a
            // generated one.
            let stored = if !draft.hash_client_secret {
                secret.clone()
            } else if secret.len() < secrets::STRONG_SECRET_CHARS {
                secrets::hash_password(&secret)?
            } else {
                secrets::hash_client_secret(&secret)?
            };
            (stored, Some(secret))
        }
    };
    draft.client_secret = stored;
    draft.check()?;
    Ok(Registered {
        application: draft,
        secret,
    })
}

/// An application as an operator sees it (the CLI, the admin API; never the secret).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
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
    #[schema(value_type = Object)]
    pub fields: serde_json::Map<String, serde_json::Value>,
    /// Its own external login application, if any.
    pub login_url: String,
    /// The client_id that login application authenticates with.
    pub login_client_id: String,
    /// Its home page (RFC 7591 `client_uri`); empty: none.
    pub client_uri: String,
    /// Whether it was registered dynamically (RFC 7591) and can be managed with its
    /// registration access token (RFC 7592).
    pub dynamically_registered: bool,
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
            client_uri: model.client_uri.clone(),
            dynamically_registered: !model.registration_token_hash.is_empty(),
            fields: catalogue.visible(
                &crate::application_fields::document_of(&model.extensions),
                Visibility::Admin,
            ),
        }
    }
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

    /// A trusted software statement issuer is a public key: a shared secret (which
    /// would let anyone holding it sign statements) or a curve Tessera does not
    /// verify is refused, saying what to paste.
    #[test]
    fn software_statement_keys_are_public_keys() {
        let ed25519 =
            r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;
        let key = software_statement_key(ed25519).unwrap();
        assert_eq!(key.algorithm, jsonwebtoken::Algorithm::EdDSA);
        let secret = r#"{"kty":"oct","k":"c2VjcmV0"}"#;
        assert!(
            software_statement_key(secret)
                .err()
                .unwrap_or_default()
                .contains("shared secret")
        );
        assert!(
            software_statement_key("-----BEGIN PUBLIC KEY-----")
                .err()
                .unwrap_or_default()
                .contains("JWK")
        );
    }

    /// The authentication method a registration names must fit the client type.
    #[test]
    fn the_authentication_method_fits_the_client_type() {
        let mut application = NewApplication {
            client_id: "web".to_owned(),
            redirect_uris: vec!["https://a.example/cb".to_owned()],
            client_uri: "https://a.example".to_owned(),
            token_endpoint_auth_method: "none".to_owned(),
            ..NewApplication::named(
                "Web",
                ClientType::Public,
                vec![GrantType::AuthorizationCode],
            )
        };
        assert!(application.check().is_ok());
        application.token_endpoint_auth_method = "client_secret_basic".to_owned();
        assert!(
            application
                .check()
                .unwrap_err()
                .to_string()
                .contains("does not fit")
        );
        application.token_endpoint_auth_method = "private_key_jwt".to_owned();
        assert!(
            application
                .check()
                .unwrap_err()
                .to_string()
                .contains("not supported")
        );
        application.token_endpoint_auth_method = String::new();
        application.client_uri = "http://a.example".to_owned();
        assert!(
            application
                .check()
                .unwrap_err()
                .to_string()
                .contains("client_uri")
        );
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
