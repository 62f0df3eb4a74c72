//! Client authentication at the token, revocation and introspection endpoints
//! (RFC 6749 §2.3): `client_secret_basic`, `client_secret_post`, and `none` for public
//! clients. Every failure — unknown client, wrong secret, wrong or mixed method — is
//! the same `401 invalid_client` (oxide-auth's rule): the answer never tells which.

use std::sync::Arc;

use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use entity::application;
use router_policies::{EntityGroup, Role};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};

use crate::endpoints::AppState;
use crate::endpoints::error::ApiError;
use crate::error::Error;
use crate::oauth::form::Form;
use crate::secrets::{self, SecretMatch};
use crate::store::applications::{self, ClientType, GrantType};
use crate::tenancy::Tenant;

/// How the client authenticated (RFC 8414 names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    /// HTTP Basic (RFC 6749 §2.3.1).
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the body.
    ClientSecretPost,
    /// A public client naming itself with `client_id`.
    None,
}

/// An authenticated client.
#[derive(Clone, Debug)]
pub struct Client {
    /// Its registration (shared with the client cache).
    pub application: Arc<application::Model>,
    /// How it proved who it is.
    pub method: AuthMethod,
}

impl Client {
    /// Whether the registration lists `grant`.
    pub fn holds(&self, grant: GrantType) -> bool {
        self.application
            .grant_types
            .split(',')
            .any(|name| name.trim() == grant.as_str())
    }
}

/// Credentials as presented, before looking the client up.
struct Presented {
    client_id: String,
    secret: Option<String>,
    method: AuthMethod,
}

/// Decodes `Authorization: Basic` (RFC 6749 §2.3.1: both parts form-urlencoded, then
/// joined by `:` and base64-encoded). `Ok(None)`: no Basic credentials.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| ApiError::invalid_client())?;
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let decoded = STANDARD
        .decode(encoded.trim())
        .map_err(|_| ApiError::invalid_client())?;
    let decoded = String::from_utf8(decoded).map_err(|_| ApiError::invalid_client())?;
    let (id, secret) = decoded
        .split_once(':')
        .ok_or_else(ApiError::invalid_client)?;
    match (form_decode(id), form_decode(secret)) {
        (Some(id), Some(secret)) => Ok(Some((id, secret))),
        _ => Err(ApiError::invalid_client()),
    }
}

/// `application/x-www-form-urlencoded` decoding of one value (`+` is a space); `None`
/// when the result is not UTF-8.
fn form_decode(value: &str) -> Option<String> {
    let spaced = value.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(|decoded| decoded.into_owned())
}

/// Which credentials the request carries; more than one method is refused
/// (RFC 6749 §2.3: "MUST NOT use more than one authentication method").
fn presented(headers: &HeaderMap, form: &Form) -> Result<Presented, ApiError> {
    let body_id = form.get("client_id");
    let body_secret = form.get("client_secret");
    match basic_credentials(headers)? {
        Some((id, secret)) => {
            if body_secret.is_some() || body_id.is_some_and(|body_id| body_id != id) {
                return Err(ApiError::invalid_client());
            }
            // An empty password is no secret: a public client may name itself this way.
            let (secret, method) = if secret.is_empty() {
                (None, AuthMethod::None)
            } else {
                (Some(secret), AuthMethod::ClientSecretBasic)
            };
            Ok(Presented {
                client_id: id,
                secret,
                method,
            })
        }
        None => match (body_id, body_secret) {
            (Some(id), Some(secret)) => Ok(Presented {
                client_id: id.to_owned(),
                secret: Some(secret.to_owned()),
                method: AuthMethod::ClientSecretPost,
            }),
            (Some(id), None) => Ok(Presented {
                client_id: id.to_owned(),
                secret: None,
                method: AuthMethod::None,
            }),
            _ => Err(ApiError::invalid_client()),
        },
    }
}

/// Authenticates the client of a request to `tenant`. One indexed read; a generated
/// secret costs one keyed hash. Slow stored hashes (imported) are checked on a
/// blocking thread and upgraded after a success.
pub async fn authenticate(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
    form: &Form,
) -> Result<Client, ApiError> {
    let presented = presented(headers, form)?;
    // Refuse malformed ids before they reach a query (a NUL byte is an error in
    // PostgreSQL text, not a miss).
    if applications::check_client_id(&presented.client_id).is_err() {
        return Err(ApiError::invalid_client());
    }
    let found = match state.clients.get(tenant.id, &presented.client_id) {
        Some(cached) => Some(cached),
        None => {
            let applications_pool = tenant.routes.connection(
                &state.databases,
                EntityGroup::Applications,
                Role::Read,
            )?;
            let found =
                applications::find_by_client_id(applications_pool, tenant.id, &presented.client_id)
                    .await?
                    .map(Arc::new);
            if let Some(application) = &found {
                state.clients.put(Arc::clone(application));
            }
            found
        }
    };
    let Some(application) = found else {
        // Spend what a real check would, so timing does not reveal unknown clients.
        if let Some(secret) = &presented.secret {
            let _ = secrets::verify_client_secret(DUMMY_HASH, secret);
        }
        return Err(ApiError::invalid_client());
    };
    let client_type = application
        .client_type
        .parse::<ClientType>()
        .map_err(|_| ApiError::invalid_client())?;
    match (client_type, &presented.secret) {
        (ClientType::Public, None) => Ok(Client {
            application,
            method: AuthMethod::None,
        }),
        (ClientType::Confidential, Some(secret)) => {
            match check_secret(state, &application, secret).await? {
                SecretMatch::No => Err(ApiError::invalid_client()),
                SecretMatch::Yes => Ok(Client {
                    application,
                    method: presented.method,
                }),
                SecretMatch::YesUpgrade => {
                    upgrade_secret(state, tenant, &application, secret).await;
                    Ok(Client {
                        application,
                        method: presented.method,
                    })
                }
            }
        }
        _ => Err(ApiError::invalid_client()),
    }
}

/// A well-formed hash no secret matches, for timing equalisation.
const DUMMY_HASH: &str =
    "hmac-sha256$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

async fn check_secret(
    state: &AppState,
    application: &application::Model,
    secret: &str,
) -> Result<SecretMatch, Error> {
    let stored = application.client_secret.clone();
    let hashed = application.hash_client_secret;
    if !secrets::is_slow_hash(&stored) || !hashed {
        return Ok(secrets::verify_stored_client_secret(
            &stored, hashed, secret,
        ));
    }
    let secret = secret.to_owned();
    state
        .slow_hash(move || secrets::verify_stored_client_secret(&stored, hashed, &secret))
        .await
}

/// Replaces a slow imported hash after a successful check. Failing to upgrade is
/// logged, never fatal: the secret stays valid under its old hash.
async fn upgrade_secret(
    state: &AppState,
    tenant: &Tenant,
    application: &application::Model,
    secret: &str,
) {
    let presented = secret.to_owned();
    let upgraded = match state
        .slow_hash(move || secrets::upgraded_hash(&presented))
        .await
        .and_then(|hash| hash)
    {
        Ok(upgraded) => upgraded,
        Err(error) => {
            tracing::warn!(tenant = %tenant.slug, client_id = %application.client_id, %error, "secret upgrade failed");
            return;
        }
    };
    let result = async {
        let pool =
            tenant
                .routes
                .connection(&state.databases, EntityGroup::Applications, Role::Write)?;
        // Compare-and-set: only replace the hash this check verified.
        application::Entity::update_many()
            .set(application::ActiveModel {
                client_secret: Set(upgraded),
                updated_at: Set(crate::time::now()),
                ..Default::default()
            })
            .filter(application::Column::Id.eq(application.id))
            .filter(application::Column::TenantId.eq(tenant.id))
            .filter(application::Column::ClientSecret.eq(application.client_secret.as_str()))
            .exec(pool)
            .await?;
        Ok::<(), Error>(())
    }
    .await;
    state.clients.forget(tenant.id, &application.client_id);
    match result {
        Ok(()) => {
            tracing::info!(tenant = %tenant.slug, client_id = %application.client_id, "client secret hash upgraded")
        }
        Err(error) => {
            tracing::warn!(tenant = %tenant.slug, client_id = %application.client_id, %error, "secret upgrade failed")
        }
    }
}

/// The start of every client-authenticated endpoint (token, revocation): the tenant of
/// the path, the strict form, and the authenticated client.
pub async fn authenticated_request(
    state: &AppState,
    slug: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Arc<Tenant>, Form, Client), ApiError> {
    let tenant = crate::endpoints::issuer::resolve_tenant(state, slug).await?;
    let form = Form::parse(headers, body)?;
    let client = authenticate(state, &tenant, headers, &form).await?;
    Ok((tenant, form, client))
}
