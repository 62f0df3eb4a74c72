//! Dynamic client registration over HTTP: `POST {issuer}/register` (RFC 7591 §3)
//! and the client configuration endpoint `{issuer}/register/{client_id}` (RFC 7592:
//! `GET` reads, `PUT` replaces, `DELETE` removes, with the registration access
//! token as a bearer). JSON in and out; errors are RFC 7591 §3.2.2 bodies. The
//! rules live in [`crate::administration::client_registration`].

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::administration::Actor;
use crate::administration::client_registration as dynamic;
use crate::endpoints::error::ApiError;
use crate::endpoints::issuer::resolve_tenant;
use crate::endpoints::request::{Peer, bearer_token, client_address, content_type};
use crate::limits::failures::{FailureKey, Limit};
use crate::oauth::error::OAuthError;
use crate::oauth::introspection::bearer_client_with_scope;
use crate::oauth::scope::REGISTER_SCOPE;
use crate::settings::DynamicRegistration;
use crate::state::AppState;
use crate::tenancy::Tenant;

/// The largest registration request read (a client's metadata is a few KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// `POST {issuer}/register`: registers a client (RFC 7591 §3.1) if the tenant's
/// `dynamic_registration` lets this caller: anyone (`open`, within the per-address
/// limit) or the holder of an initial access token (`initial_access_token`).
/// Answers 201 with the client information response (§3.2.1).
pub async fn register(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    peer: Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let tenant = resolve_tenant(&state, &slug).await?;
    let actor = match tenant.settings.dynamic_registration {
        DynamicRegistration::Off => {
            return Err(OAuthError::Forbidden(
                "this tenant does not accept dynamic client registration".to_owned(),
            )
            .into());
        }
        DynamicRegistration::Open => {
            let key = FailureKey::Registration {
                tenant_id: tenant.id,
                address: client_address(&state, &peer, &headers),
            };
            let limit = Limit::new(
                tenant.settings.max_registrations_per_address,
                tenant.settings.failure_window_secs,
            );
            if let Err(retry) = state.failures.count_creation(key, limit).await {
                return Err(OAuthError::TooManyAttempts {
                    retry_after_secs: retry.seconds(),
                }
                .into());
            }
            Actor::Registrant {
                credential: "open".to_owned(),
            }
        }
        DynamicRegistration::InitialAccessToken => {
            let bearer = bearer_token(&headers).ok_or(OAuthError::InvalidToken)?;
            let client_id =
                bearer_client_with_scope(&state, &tenant, bearer, REGISTER_SCOPE).await?;
            Actor::Registrant {
                credential: format!("initial_access_token:{client_id}"),
            }
        }
    };
    let metadata = json_object(&headers, &body)?;
    let issued = dynamic::register(&state.databases, &tenant, metadata, &actor).await?;
    let mut answer = dynamic::describe(
        &tenant,
        &issued.application,
        &client_uri(&state, &tenant, &issued.application.client_id),
    );
    if let Some(secret) = issued.client_secret {
        answer.insert("client_secret".to_owned(), json!(secret));
    }
    answer.insert(
        "registration_access_token".to_owned(),
        json!(issued.registration_access_token),
    );
    Ok(answer_with(StatusCode::CREATED, answer))
}

/// `GET {issuer}/register/{client_id}`: the client's registration (RFC 7592 §2.1).
pub async fn read(
    State(state): State<AppState>,
    Path((slug, client_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (tenant, stored) = managed(&state, &slug, &client_id, &headers).await?;
    let answer = dynamic::describe(&tenant, &stored, &client_uri(&state, &tenant, &client_id));
    Ok(answer_with(StatusCode::OK, answer))
}

/// `PUT {issuer}/register/{client_id}`: replaces the registration (RFC 7592 §2.2).
pub async fn replace(
    State(state): State<AppState>,
    Path((slug, client_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (tenant, stored) = managed(&state, &slug, &client_id, &headers).await?;
    let metadata = json_object(&headers, &body)?;
    let updated = dynamic::replace(&state.databases, &tenant, &stored, metadata).await?;
    let answer = dynamic::describe(&tenant, &updated, &client_uri(&state, &tenant, &client_id));
    Ok(answer_with(StatusCode::OK, answer))
}

/// `DELETE {issuer}/register/{client_id}`: removes the client (RFC 7592 §2.3): 204.
pub async fn remove(
    State(state): State<AppState>,
    Path((slug, client_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (tenant, stored) = managed(&state, &slug, &client_id, &headers).await?;
    dynamic::remove(&state.databases, &tenant, &stored).await?;
    Ok((StatusCode::NO_CONTENT, no_store()).into_response())
}

/// The tenant and the client a registration access token manages (RFC 7592 §3).
/// Management stays possible after the tenant turns registration off: the token
/// was issued, and deleting a client must stay possible.
async fn managed(
    state: &AppState,
    slug: &str,
    client_id: &str,
    headers: &HeaderMap,
) -> Result<(std::sync::Arc<Tenant>, entity::application::Model), ApiError> {
    let tenant = resolve_tenant(state, slug).await?;
    let bearer = bearer_token(headers).ok_or(OAuthError::InvalidToken)?;
    let stored = dynamic::authorized(&state.databases, &tenant, client_id, bearer).await?;
    Ok((tenant, stored))
}

/// The request body as a JSON object (RFC 7591 §3.1: `application/json`).
fn json_object(headers: &HeaderMap, body: &[u8]) -> Result<Map<String, Value>, OAuthError> {
    let is_json = content_type(headers).is_some_and(|value| {
        value
            .split(';')
            .next()
            .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
    });
    if !is_json {
        return Err(OAuthError::invalid_request(
            "send the client metadata as Content-Type: application/json (RFC 7591 §3.1)",
        ));
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(metadata)) => Ok(metadata),
        _ => Err(OAuthError::InvalidClientMetadata(
            "the body is not a JSON object of client metadata".to_owned(),
        )),
    }
}

/// The client configuration endpoint of `client_id` (RFC 7592 §3).
fn client_uri(state: &AppState, tenant: &Tenant, client_id: &str) -> String {
    let encoded: String = url::form_urlencoded::byte_serialize(client_id.as_bytes()).collect();
    format!("{}/register/{encoded}", state.config.issuer(&tenant.slug))
}

/// RFC 7591 §3.2.1: answers carrying credentials are not cached.
fn no_store() -> [(header::HeaderName, &'static str); 2] {
    [
        (header::CACHE_CONTROL, "no-store"),
        (header::PRAGMA, "no-cache"),
    ]
}

fn answer_with(status: StatusCode, answer: Map<String, Value>) -> Response {
    (status, no_store(), Json(Value::Object(answer))).into_response()
}
