//! Client authentication at the token, revocation and introspection endpoints
//! (RFC 6749 §2.3): `client_secret_basic`, `client_secret_post`, and `none` for public
//! clients. Every failure — unknown client, wrong secret, wrong or mixed method — is
//! the same `401 invalid_client` (oxide-auth's rule): the answer never tells which.
//!
//! Failures are counted per (tenant, client_id as presented) and per source address
//! (RFC 6749 §2.3.1: the server MUST protect this endpoint against brute force); a
//! client or address over its limit is refused with `TooManyAttempts` before any
//! lookup or hash.

use std::net::IpAddr;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use entity::application;

use crate::error::Error;
use crate::limits::failures::FailureKey;
use crate::oauth::brute_force::Guard;
use crate::oauth::error::OAuthError;
use crate::oauth::form::{Form, form_decode};
use crate::registration::ClientType;
use crate::secrets::{self, SecretMatch};
use crate::state::AppState;
use crate::store::applications;
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

impl AuthMethod {
    /// The RFC 7591 §2 name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::None => "none",
        }
    }
}

/// An authenticated client.
#[derive(Clone, Debug)]
pub struct Client {
    /// Its registration (shared with the client cache).
    pub application: Arc<application::Model>,
    /// How it proved who it is.
    pub method: AuthMethod,
}

/// Credentials as presented, before looking the client up.
struct Presented {
    client_id: String,
    secret: Option<String>,
    method: AuthMethod,
}

/// Decodes `Authorization: Basic` (RFC 6749 §2.3.1: both parts form-urlencoded, then
/// joined by `:` and base64-encoded). `Ok(None)`: no Basic credentials.
fn basic_credentials(authorization: Option<&str>) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = authorization else {
        return Ok(None);
    };
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let decoded = STANDARD
        .decode(encoded.trim())
        .map_err(|_| OAuthError::InvalidClient)?;
    let decoded = String::from_utf8(decoded).map_err(|_| OAuthError::InvalidClient)?;
    let (id, secret) = decoded.split_once(':').ok_or(OAuthError::InvalidClient)?;
    match (form_decode(id), form_decode(secret)) {
        (Some(id), Some(secret)) => Ok(Some((id, secret))),
        _ => Err(OAuthError::InvalidClient),
    }
}

/// Which credentials the request carries; more than one method is refused
/// (RFC 6749 §2.3: "MUST NOT use more than one authentication method").
fn presented(authorization: Option<&str>, form: &Form) -> Result<Presented, OAuthError> {
    let body_id = form.get("client_id");
    let body_secret = form.get("client_secret");
    match basic_credentials(authorization)? {
        Some((id, secret)) => {
            if body_secret.is_some() || body_id.is_some_and(|body_id| body_id != id) {
                return Err(OAuthError::InvalidClient);
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
            _ => Err(OAuthError::InvalidClient),
        },
    }
}

/// Authenticates the client of a request to `tenant` coming from `address`, by its
/// `Authorization` header (`authorization`) or its form. One
/// indexed read; a generated secret costs one keyed hash. Slow stored hashes
/// (imported) are checked on a blocking thread and upgraded after a success.
pub async fn authenticate(
    state: &AppState,
    tenant: &Tenant,
    authorization: Option<&str>,
    form: &Form,
    address: IpAddr,
) -> Result<Client, OAuthError> {
    let presented = presented(authorization, form)?;
    let guard = Guard::new(
        state,
        tenant,
        FailureKey::Client {
            tenant_id: tenant.id,
            client_id: &presented.client_id,
        },
        tenant.settings.max_failures_per_client,
        address,
    );
    guard.check().await?;
    match verify(state, tenant, &presented).await {
        Err(OAuthError::InvalidClient) => {
            guard.failed().await;
            Err(OAuthError::InvalidClient)
        }
        // A client registered with one method (RFC 7591 §2
        // `token_endpoint_auth_method`) authenticates with that one only.
        Ok(client)
            if !client.application.token_endpoint_auth_method.is_empty()
                && client.application.token_endpoint_auth_method != client.method.as_str() =>
        {
            guard.failed().await;
            Err(OAuthError::InvalidClient)
        }
        Ok(client) => {
            if client.method != AuthMethod::None {
                guard.succeeded().await;
            }
            Ok(client)
        }
        other => other,
    }
}

/// Looks the presented client up and checks its secret.
async fn verify(
    state: &AppState,
    tenant: &Tenant,
    presented: &Presented,
) -> Result<Client, OAuthError> {
    // Refuse malformed ids before they reach a query (a NUL byte is an error in
    // PostgreSQL text, not a miss).
    if crate::syntax::check_client_id(&presented.client_id).is_err() {
        return Err(OAuthError::InvalidClient);
    }
    let data = state.data(tenant);
    let found = state
        .clients
        .registration(data, &presented.client_id)
        .await?;
    let Some(application) = found else {
        // Spend what a real check would, so timing does not reveal unknown clients.
        if let Some(secret) = &presented.secret {
            let _ = secrets::verify_client_secret(DUMMY_HASH, secret);
        }
        return Err(OAuthError::InvalidClient);
    };
    let client_type = application
        .client_type
        .parse::<ClientType>()
        .map_err(|_| OAuthError::InvalidClient)?;
    match (client_type, &presented.secret) {
        (ClientType::Public, None) => Ok(Client {
            application,
            method: AuthMethod::None,
        }),
        (ClientType::Confidential, Some(secret)) => {
            let mut application = application;
            let mut matched = check_secret(state, &application, secret).await?;
            if matched == SecretMatch::No {
                // The registration may be a cached copy older than a rotation made
                // on another node: one more check against the primary's before the
                // attempt counts as a failure (a rotated client is never locked out).
                match state.clients.reread(data, &presented.client_id).await? {
                    Some(current) if current.client_secret != application.client_secret => {
                        matched = check_secret(state, &current, secret).await?;
                        application = current;
                    }
                    Some(_) => {}
                    None => return Err(OAuthError::InvalidClient),
                }
            }
            match matched {
                SecretMatch::No => Err(OAuthError::InvalidClient),
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
        _ => Err(OAuthError::InvalidClient),
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
        .slow_hashes
        .run(move || secrets::verify_stored_client_secret(&stored, hashed, &secret))
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
        .slow_hashes
        .run(move || secrets::upgraded_hash(&presented))
        .await
        .and_then(|hash| hash)
    {
        Ok(upgraded) => upgraded,
        Err(error) => {
            tracing::warn!(tenant = %tenant.slug, client_id = %application.client_id, %error, "secret upgrade failed");
            return;
        }
    };
    // Compare-and-set: only replace the hash this check verified.
    let result = applications::upgrade_secret_hash(state.data(tenant), application, upgraded).await;
    match result {
        Ok(()) => {
            tracing::info!(tenant = %tenant.slug, client_id = %application.client_id, "client secret hash upgraded")
        }
        Err(error) => {
            tracing::warn!(tenant = %tenant.slug, client_id = %application.client_id, %error, "secret upgrade failed")
        }
    }
}
