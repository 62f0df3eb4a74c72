//! Dynamic client registration: RFC 7591 (a client registers itself at
//! `{issuer}/register`) and RFC 7591's management protocol, RFC 7592 (it reads,
//! replaces and deletes its registration at `{issuer}/register/{client_id}` with the
//! registration access token it received). The request's metadata becomes an
//! application through the same registration rules and life cycle functions as the
//! CLI's and the admin API's, under the tenant's registration policy
//! (`dynamic_registration`, `registration_grant_types`,
//! `registration_redirect_uri_schemes`, `software_statement_issuers`): a registered
//! client never skips consent and never gets a privileged scope.
//!
//! Who may register (open, or an initial access token) is the endpoint's decision;
//! this module takes the metadata and the actor.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use entity::application;
use serde_json::{Map, Value, json};

use crate::application_fields::{Assignment, Visibility, Writer};
use crate::db::Databases;
use crate::error::Error;
use crate::oauth::error::OAuthError;
use crate::oauth::external_login::INTERACTIONS_SCOPE;
use crate::oauth::scope::{INTROSPECTION_SCOPE, is_operator_scope};
use crate::registration::{
    self, AUTH_METHODS, ClientType, GrantType, NewApplication, SecretSource,
};
use crate::secrets;
use crate::tenancy::Tenant;
use crate::time::unix_seconds;

use super::Actor;
use super::applications::{self as lifecycle, ApplicationChanges};

/// The most entries a list member (`redirect_uris`, `grant_types`, …) may hold.
pub const MAX_LIST_ENTRIES: usize = 20;

/// The longest URI a registration may carry.
const MAX_URI_CHARS: usize = 2048;

/// Members only the server sets (RFC 7591 §3.2.1, RFC 7592 §2.2): ignored in a
/// request, as a client echoing a read response sends them back. (A
/// `client_secret` sent is never stored; [`replace`] checks it is the current one.)
const SERVER_MEMBERS: [&str; 4] = [
    "client_id_issued_at",
    "client_secret_expires_at",
    "registration_access_token",
    "registration_client_uri",
];

/// A new registration: the application, its secret (confidential clients) and its
/// registration access token, each shown once.
#[derive(Debug)]
pub struct Issued {
    /// The stored application.
    pub application: application::Model,
    /// Its client secret, unless it is public.
    pub client_secret: Option<String>,
    /// The bearer token of its registration client URI (RFC 7592 §3).
    pub registration_access_token: String,
}

/// Registers a client from its metadata (RFC 7591 §3.1): the software statement's
/// claims, when one is trusted, over the plain members (§2.3); the tenant's policy;
/// the registration rules; then stored with a generated client_id, secret and
/// registration access token.
pub async fn register(
    databases: &Databases,
    tenant: &Tenant,
    metadata: Map<String, Value>,
    actor: &Actor,
) -> Result<Issued, OAuthError> {
    let metadata = with_software_statement(tenant, metadata)?;
    let requested = Requested::read(tenant, &metadata)?;
    let mut draft = requested.draft();
    let registration_access_token = secrets::generate(secrets::prefix::REGISTRATION_TOKEN)?;
    draft.registration_token_hash = secrets::hash_client_secret(&registration_access_token)?;
    let registered =
        registration::register(draft, SecretSource::Generate).map_err(metadata_error)?;
    let (application, client_secret) =
        lifecycle::create(databases, tenant, registered, &requested.fields, actor)
            .await
            .map_err(metadata_error)?;
    Ok(Issued {
        application,
        client_secret,
        registration_access_token,
    })
}

/// The dynamically registered application `client_id` whose registration access
/// token is `bearer` (RFC 7592 §3); anything else — no such client, one registered
/// otherwise, a wrong token — is `invalid_token` (§2.1: 401, whatever failed).
pub async fn authorized(
    databases: &Databases,
    tenant: &Tenant,
    client_id: &str,
    bearer: &str,
) -> Result<application::Model, OAuthError> {
    if crate::syntax::check_client_id(client_id).is_err() {
        return Err(OAuthError::InvalidToken);
    }
    let stored = match lifecycle::find(databases, tenant, client_id).await {
        Ok(stored) => stored,
        Err(Error::NotFound(_)) => return Err(OAuthError::InvalidToken),
        Err(other) => return Err(other.into()),
    };
    if stored.registration_token_hash.is_empty()
        || !secrets::verify_client_secret(&stored.registration_token_hash, bearer)
    {
        return Err(OAuthError::InvalidToken);
    }
    Ok(stored)
}

/// Replaces the registration of `stored` with `metadata` (RFC 7592 §2.2): members
/// left out are removed or return to their defaults; the client_id must match; a
/// `client_secret` sent must be the current one; the client cannot turn from
/// confidential to public or back. The secret and the registration access token
/// stay.
pub async fn replace(
    databases: &Databases,
    tenant: &Tenant,
    stored: &application::Model,
    metadata: Map<String, Value>,
) -> Result<application::Model, OAuthError> {
    match metadata.get("client_id") {
        Some(Value::String(client_id)) if *client_id == stored.client_id => {}
        _ => {
            return Err(OAuthError::invalid_request(
                "the body's client_id must be the client's own (RFC 7592 §2.2)",
            ));
        }
    }
    if let Some(secret) = metadata.get("client_secret") {
        let matches = secret.as_str().is_some_and(|secret| {
            secrets::verify_stored_client_secret(
                &stored.client_secret,
                stored.hash_client_secret,
                secret,
            ) != secrets::SecretMatch::No
        });
        if !matches {
            return Err(OAuthError::InvalidClientMetadata(
                "client_secret is not the current secret: a client cannot choose its own \
                 (RFC 7592 §2.2); leave it out"
                    .to_owned(),
            ));
        }
    }
    let metadata = with_software_statement(tenant, metadata)?;
    let requested = Requested::read(tenant, &metadata)?;
    if requested.client_type.as_str() != stored.client_type {
        return Err(OAuthError::InvalidClientMetadata(format!(
            "token_endpoint_auth_method {:?} would make this {} client {}: register a new \
             client instead",
            requested.auth_method,
            stored.client_type,
            requested.client_type.as_str()
        )));
    }
    let changes = ApplicationChanges {
        name: Some(requested.name.clone()),
        grant_types: Some(join(&requested.grant_types, ",")),
        redirect_uris: Some(requested.redirect_uris.join(" ")),
        post_logout_redirect_uris: Some(requested.post_logout_redirect_uris.join(" ")),
        allowed_origins: None,
        scopes: Some(requested.scopes.join(" ")),
        skip_authorization: Some(false),
        algorithm: Some(requested.algorithm.clone()),
        access_token_format: None,
        login_url: None,
        login_client_id: None,
        client_uri: Some(requested.client_uri.clone()),
        token_endpoint_auth_method: Some(requested.auth_method.clone()),
        fields: requested.fields.clone(),
    };
    let actor = Actor::Registrant {
        credential: "self".to_owned(),
    };
    lifecycle::update(databases, tenant, stored, &changes, &actor)
        .await
        .map_err(metadata_error)
}

/// Deletes `stored` (RFC 7592 §2.3): its tokens stop working at once, and the
/// registration access token with it.
pub async fn remove(
    databases: &Databases,
    tenant: &Tenant,
    stored: &application::Model,
) -> Result<(), OAuthError> {
    let actor = Actor::Registrant {
        credential: "self".to_owned(),
    };
    Ok(lifecycle::delete(databases, tenant, stored, &actor).await?)
}

/// The client information response (RFC 7591 §3.2.1, RFC 7592 §3): the registered
/// metadata, the extension fields the registrant may see, and
/// `registration_client_uri`. The caller adds the secret and tokens issued once.
pub fn describe(
    tenant: &Tenant,
    stored: &application::Model,
    registration_client_uri: &str,
) -> Map<String, Value> {
    let words =
        |text: &str| -> Vec<String> { text.split_whitespace().map(str::to_owned).collect() };
    let grant_types: Vec<&str> = stored
        .grant_types
        .split(',')
        .map(str::trim)
        .filter(|grant| !grant.is_empty())
        .collect();
    let public = stored.client_type == ClientType::Public.as_str();
    let auth_method = match stored.token_endpoint_auth_method.as_str() {
        "" if public => "none",
        "" => "client_secret_basic",
        method => method,
    };
    let mut response_types = Vec::new();
    if grant_types.contains(&GrantType::AuthorizationCode.as_str()) {
        response_types.push("code");
    }
    if grant_types.contains(&GrantType::Implicit.as_str()) {
        response_types.extend(["token", "id_token", "id_token token"]);
    }
    let mut described = Map::new();
    described.insert("client_id".to_owned(), json!(stored.client_id));
    described.insert(
        "client_id_issued_at".to_owned(),
        json!(unix_seconds(stored.created_at)),
    );
    if !public {
        // RFC 7591 §3.2.1: 0, the secret does not expire.
        described.insert("client_secret_expires_at".to_owned(), json!(0));
    }
    described.insert("client_name".to_owned(), json!(stored.name));
    described.insert(
        "redirect_uris".to_owned(),
        json!(words(&stored.redirect_uris)),
    );
    described.insert("grant_types".to_owned(), json!(grant_types));
    described.insert("response_types".to_owned(), json!(response_types));
    described.insert("token_endpoint_auth_method".to_owned(), json!(auth_method));
    if !stored.allowed_scopes.is_empty() {
        described.insert("scope".to_owned(), json!(stored.allowed_scopes));
    }
    if !stored.client_uri.is_empty() {
        described.insert("client_uri".to_owned(), json!(stored.client_uri));
    }
    if !stored.post_logout_redirect_uris.is_empty() {
        described.insert(
            "post_logout_redirect_uris".to_owned(),
            json!(words(&stored.post_logout_redirect_uris)),
        );
    }
    if !stored.algorithm.is_empty() {
        described.insert(
            "id_token_signed_response_alg".to_owned(),
            json!(stored.algorithm),
        );
    }
    // The fields the registrant wrote and may see: what a client reads here it may
    // send back in a replacement (RFC 7592 §2.2) without meeting an operator-only
    // field.
    let document = crate::application_fields::document_of(&stored.extensions);
    for (name, value) in tenant.fields.visible(&document, Visibility::Public) {
        let writable = tenant
            .fields
            .fields
            .get(&name)
            .is_some_and(|field| field.write == Writer::Registration);
        if writable {
            described.entry(name).or_insert(value);
        }
    }
    described.insert(
        "registration_client_uri".to_owned(),
        json!(registration_client_uri),
    );
    described
}

/// What a registration request asks for, read and checked against the tenant's
/// policy.
#[derive(Debug)]
struct Requested {
    name: String,
    client_type: ClientType,
    auth_method: String,
    grant_types: Vec<GrantType>,
    redirect_uris: Vec<String>,
    post_logout_redirect_uris: Vec<String>,
    scopes: Vec<String>,
    algorithm: String,
    client_uri: String,
    /// Every extension field a registration may write: set when the request has
    /// it, removed (or its default, on create) when it has not.
    fields: Vec<Assignment>,
}

impl Requested {
    /// Reads the RFC 7591 §2 members Tessera understands; other members are
    /// ignored (§2), but an extension field only operators may set, or
    /// `skip_authorization`, is refused.
    fn read(tenant: &Tenant, metadata: &Map<String, Value>) -> Result<Self, OAuthError> {
        let settings = &tenant.settings;
        if metadata
            .get("skip_authorization")
            .is_some_and(|skip| !skip.is_null() && *skip != Value::Bool(false))
        {
            return Err(OAuthError::InvalidClientMetadata(
                "skip_authorization cannot be registered: users always consent to a \
                 dynamically registered client"
                    .to_owned(),
            ));
        }
        let auth_method = text(metadata, "token_endpoint_auth_method")?
            .unwrap_or("client_secret_basic")
            .to_owned();
        if !AUTH_METHODS.contains(&auth_method.as_str()) {
            return Err(OAuthError::InvalidClientMetadata(format!(
                "token_endpoint_auth_method {auth_method:?} is not supported: use one of {}",
                AUTH_METHODS.join(", ")
            )));
        }
        let client_type = if auth_method == "none" {
            ClientType::Public
        } else {
            ClientType::Confidential
        };

        // RFC 7591 §2: grant_types defaults to authorization_code.
        let grant_names = list(metadata, "grant_types")?
            .unwrap_or_else(|| vec![GrantType::AuthorizationCode.as_str().to_owned()]);
        let mut grant_types = Vec::new();
        for name in &grant_names {
            let grant: GrantType = name.parse().map_err(metadata_error)?;
            let open = settings
                .registration_grant_types
                .iter()
                .any(|allowed| allowed == grant.as_str())
                && (grant != GrantType::Password || settings.allow_password_grant);
            if !open {
                return Err(OAuthError::InvalidClientMetadata(format!(
                    "grant type {name:?} is not open to dynamic registration in this tenant \
                     (open: {})",
                    settings.registration_grant_types.join(", ")
                )));
            }
            grant_types.push(grant);
        }
        grant_types.sort();
        grant_types.dedup();

        // RFC 7591 §2.1: each response type must go with a registered grant type.
        // Left out, it is `code` for a client of the code flow and nothing for one
        // without a front channel (client credentials, device).
        let response_types = list(metadata, "response_types")?.unwrap_or_else(|| {
            if grant_types.contains(&GrantType::AuthorizationCode) {
                vec!["code".to_owned()]
            } else {
                Vec::new()
            }
        });
        for response_type in &response_types {
            for word in response_type.split(' ') {
                let needed = match word {
                    "code" => GrantType::AuthorizationCode,
                    "token" | "id_token" => GrantType::Implicit,
                    other => {
                        return Err(OAuthError::InvalidClientMetadata(format!(
                            "response type {other:?} is not supported: use code, token or \
                             id_token"
                        )));
                    }
                };
                if !grant_types.contains(&needed) {
                    return Err(OAuthError::InvalidClientMetadata(format!(
                        "response type {response_type:?} needs the {needed} grant type \
                         (RFC 7591 §2.1)"
                    )));
                }
            }
        }

        let redirect_uris = checked_redirect_uris(tenant, metadata, "redirect_uris")?;
        if redirect_uris.is_empty() && grant_types.iter().any(|grant| grant.needs_redirect_uri()) {
            return Err(OAuthError::InvalidRedirectUri(
                "redirect_uris is required with the authorization_code and implicit grant \
                 types"
                    .to_owned(),
            ));
        }
        let post_logout_redirect_uris =
            checked_redirect_uris(tenant, metadata, "post_logout_redirect_uris")?;

        let scopes: Vec<String> = text(metadata, "scope")?
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        for scope in &scopes {
            if is_operator_scope(scope)
                || scope == INTROSPECTION_SCOPE
                || scope == INTERACTIONS_SCOPE
            {
                return Err(OAuthError::InvalidClientMetadata(format!(
                    "scope {scope:?} is granted by the tenant's operators only"
                )));
            }
            if !settings.scopes.contains_key(scope) {
                return Err(OAuthError::InvalidClientMetadata(format!(
                    "scope {scope:?} is not in this tenant's catalogue (its discovery \
                     document lists scopes_supported)"
                )));
            }
        }

        let algorithm =
            registration::parse_algorithm(text(metadata, "id_token_signed_response_alg")?)
                .map_err(metadata_error)?;
        let client_uri = text(metadata, "client_uri")?
            .unwrap_or_default()
            .trim()
            .to_owned();
        let name = match text(metadata, "client_name")?.map(str::trim) {
            Some(name) if !name.is_empty() => name.to_owned(),
            _ => default_name(&client_uri, &redirect_uris),
        };

        let mut fields = Vec::new();
        for (member, value) in metadata {
            if let Some(field) = tenant.fields.fields.get(member)
                && field.write != Writer::Registration
                && !value.is_null()
            {
                return Err(OAuthError::InvalidClientMetadata(format!(
                    "{member} is set by the tenant's operators only"
                )));
            }
        }
        for (name, field) in &tenant.fields.fields {
            if field.write != Writer::Registration {
                continue;
            }
            let value = metadata.get(name).unwrap_or(&Value::Null);
            fields.push(
                Assignment::from_json(name, value).map_err(OAuthError::InvalidClientMetadata)?,
            );
        }

        Ok(Self {
            name,
            client_type,
            auth_method,
            grant_types,
            redirect_uris,
            post_logout_redirect_uris,
            scopes,
            algorithm,
            client_uri,
            fields,
        })
    }

    /// The application to register (its client_id and secret are made by
    /// [`registration::register`]).
    fn draft(&self) -> NewApplication {
        NewApplication {
            redirect_uris: self.redirect_uris.clone(),
            post_logout_redirect_uris: self.post_logout_redirect_uris.clone(),
            // HS256 ID tokens are signed with the secret itself (OIDC Core §10.1).
            hash_client_secret: self.algorithm != "HS256",
            algorithm: self.algorithm.clone(),
            allowed_scopes: self.scopes.clone(),
            client_uri: self.client_uri.clone(),
            token_endpoint_auth_method: self.auth_method.clone(),
            ..NewApplication::named(&self.name, self.client_type, self.grant_types.clone())
        }
    }
}

/// A name for a client that gave none: the host of its home page or first
/// redirect URI.
fn default_name(client_uri: &str, redirect_uris: &[String]) -> String {
    std::iter::once(client_uri)
        .chain(redirect_uris.iter().map(String::as_str))
        .find_map(|uri| {
            url::Url::parse(uri)
                .ok()
                .and_then(|url| url.host_str().map(str::to_owned))
        })
        .unwrap_or_else(|| "Unnamed client".to_owned())
}

/// A string member, if present (`null` is absent).
fn text<'a>(metadata: &'a Map<String, Value>, member: &str) -> Result<Option<&'a str>, OAuthError> {
    match metadata.get(member) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(OAuthError::InvalidClientMetadata(format!(
            "{member} must be a string"
        ))),
    }
}

/// An array-of-strings member, if present, of at most [`MAX_LIST_ENTRIES`].
fn list(metadata: &Map<String, Value>, member: &str) -> Result<Option<Vec<String>>, OAuthError> {
    let refuse = || {
        OAuthError::InvalidClientMetadata(format!(
            "{member} must be an array of at most {MAX_LIST_ENTRIES} strings"
        ))
    };
    match metadata.get(member) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) if items.len() <= MAX_LIST_ENTRIES => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned).ok_or_else(refuse))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(refuse()),
    }
}

/// The redirect URIs of `member` under the registration rules (RFC 6749 §3.1.2,
/// RFC 8252 §7) and the tenant's `registration_redirect_uri_schemes`.
fn checked_redirect_uris(
    tenant: &Tenant,
    metadata: &Map<String, Value>,
    member: &str,
) -> Result<Vec<String>, OAuthError> {
    let uris = list(metadata, member)?.unwrap_or_default();
    let schemes = &tenant.settings.registration_redirect_uri_schemes;
    for uri in &uris {
        if uri.chars().count() > MAX_URI_CHARS || uri.chars().any(char::is_whitespace) {
            return Err(OAuthError::InvalidRedirectUri(format!(
                "{member}: {uri:.64?} is not a URI of at most {MAX_URI_CHARS} characters \
                 without spaces"
            )));
        }
        let scheme = uri
            .split(':')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if !schemes.contains(&scheme) {
            return Err(OAuthError::InvalidRedirectUri(format!(
                "{member}: the {scheme:?} scheme is not open to dynamic registration in \
                 this tenant (open: {})",
                schemes.join(", ")
            )));
        }
    }
    registration::parse_redirect_uris(member, &uris.join(" "))
        .map_err(|error| OAuthError::InvalidRedirectUri(error.to_string()))
}

/// `metadata` with a trusted software statement's claims over its plain members
/// (RFC 7591 §2.3, §3.1.1). A statement from an issuer the tenant does not list,
/// or any statement where it lists none, is `unapproved_software_statement`; one
/// that is malformed or whose signature does not verify, `invalid_software_statement`.
fn with_software_statement(
    tenant: &Tenant,
    mut metadata: Map<String, Value>,
) -> Result<Map<String, Value>, OAuthError> {
    for member in SERVER_MEMBERS {
        metadata.remove(member);
    }
    let Some(statement) = metadata.remove("software_statement") else {
        return Ok(metadata);
    };
    let statement = statement.as_str().ok_or_else(|| {
        OAuthError::InvalidSoftwareStatement("software_statement must be a JWT string".to_owned())
    })?;
    let claims = verified_statement(&tenant.settings.software_statement_issuers, statement)?;
    for (member, value) in claims {
        if !matches!(
            member.as_str(),
            "iss" | "iat" | "exp" | "nbf" | "jti" | "aud"
        ) {
            metadata.insert(member, value);
        }
    }
    Ok(metadata)
}

/// The claims of `statement` if an issuer of `trusted` signed it.
fn verified_statement(
    trusted: &BTreeMap<String, String>,
    statement: &str,
) -> Result<Map<String, Value>, OAuthError> {
    let invalid = |why: &str| OAuthError::InvalidSoftwareStatement(why.to_owned());
    // The issuer picks the key; it is read before the signature is checked, and
    // only used to choose among the keys the tenant trusts.
    let payload = statement
        .split('.')
        .nth(1)
        .ok_or_else(|| invalid("software_statement is not a signed JWT (RFC 7519)"))?;
    let unverified: Map<String, Value> = URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| invalid("software_statement's claims are not a JSON object"))?;
    let issuer = unverified
        .get("iss")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let Some(jwk) = trusted.get(issuer) else {
        return Err(OAuthError::UnapprovedSoftwareStatement(format!(
            "software statements of issuer {issuer:.128?} are not accepted by this tenant"
        )));
    };
    let key = registration::software_statement_key(jwk)
        .map_err(|why| Error::Config(format!("software_statement_issuers.{issuer}: {why}")))?;
    let mut validation = jsonwebtoken::Validation::new(key.algorithm);
    validation.required_spec_claims.clear();
    validation.validate_aud = false;
    validation.set_issuer(&[issuer]);
    jsonwebtoken::decode::<Map<String, Value>>(statement, &key.key, &validation)
        .map(|data| data.claims)
        .map_err(|error| {
            OAuthError::InvalidSoftwareStatement(format!(
                "software_statement does not verify against its issuer's key: {error}"
            ))
        })
}

/// A registration rule's refusal as `invalid_client_metadata` (the rule names the
/// member); anything else stays what it is.
fn metadata_error(error: Error) -> OAuthError {
    match error {
        Error::InvalidInput(why) | Error::Conflict(why) => OAuthError::InvalidClientMetadata(why),
        Error::StaleVersion(why) => OAuthError::invalid_request(why),
        Error::NotFound(_) => OAuthError::InvalidToken,
        other => other.into(),
    }
}

fn join(grants: &[GrantType], separator: &str) -> String {
    grants
        .iter()
        .map(|grant| grant.as_str())
        .collect::<Vec<_>>()
        .join(separator)
}
