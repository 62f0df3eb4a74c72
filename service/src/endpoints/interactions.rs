//! `/t/{tenant}/interactions/{id}`: the external login and consent application's API
//! over [`crate::oauth::external_login`] (JSON; the application authenticates as a
//! confidential client with HTTP Basic), and `…/continue`, where the browser comes
//! back with the answer's verifier.
//!
//! * `GET …/interactions/{id}` → the interaction (step, skip, subject, client, scopes).
//! * `POST …/interactions/{id}/login` `{"subject"|"username", "remember_for"}`,
//!   `…/consent` `{"grant_scope": [...], "remember", "remember_for"}`,
//!   `…/reject` `{"error", "error_description"}` → `{"redirect_to": URL}`.
//! * `GET …/interactions/{id}/continue?verifier=V` (the browser) → the next step.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::endpoints::browser::{bound, start_again_for, step_page};
use crate::endpoints::error::ApiError;
use crate::endpoints::issuer::resolve_tenant;
use crate::endpoints::page::{cookie, refused, respond, session_cookie_name};
use crate::endpoints::request::{Peer, authorization, client_address};
use crate::endpoints::token::NO_STORE;
use crate::oauth::authorize::{self, Interaction};
use crate::oauth::client_auth::authenticate;
use crate::oauth::error::OAuthError;
use crate::oauth::external_login::{self, Description};
use crate::oauth::form::Form;
use crate::oauth::session;
use crate::state::AppState;
use crate::tenancy::Tenant;

/// The tenant, after the application authenticated (HTTP Basic) as the login
/// application bound to interaction `key`, with the interaction and what it waits
/// for.
async fn driven(
    state: &AppState,
    slug: &str,
    key: &str,
    peer: &Peer,
    headers: &HeaderMap,
) -> Result<(std::sync::Arc<Tenant>, Interaction), OAuthError> {
    let tenant = resolve_tenant(state, slug).await?;
    let address = client_address(state, peer, headers);
    let client = authenticate(
        state,
        &tenant,
        authorization(headers)?,
        &Form::default(),
        address,
    )
    .await?;
    external_login::may_drive(&client)?;
    let found = authorize::lookup(state, &tenant, key)
        .await?
        .ok_or_else(|| OAuthError::NotFound("no such interaction: it expired or was finished"))?;
    external_login::may_drive_this(state, &tenant, &client, &found).await?;
    Ok((tenant, found))
}

fn answer<T: serde::Serialize>(result: Result<T, OAuthError>) -> Response {
    match result {
        Ok(document) => (NO_STORE, Json(document)).into_response(),
        Err(error) => ApiError::from(error).into_response(),
    }
}

/// A JSON body, or `invalid_request` saying what is wrong with it.
fn body_of<T: DeserializeOwned>(body: &Bytes) -> Result<T, OAuthError> {
    serde_json::from_slice(body)
        .map_err(|error| OAuthError::invalid_request(format!("the JSON body: {error}")))
}

/// `GET /t/{tenant}/interactions/{id}`.
pub async fn describe(
    State(state): State<AppState>,
    Path((slug, key)): Path<(String, String)>,
    peer: Peer,
    headers: HeaderMap,
) -> Response {
    let result: Result<Description, OAuthError> = async {
        let (tenant, found) = driven(&state, &slug, &key, &peer, &headers).await?;
        external_login::describe(&state, &tenant, &found).await
    }
    .await;
    answer(result)
}

/// `POST /t/{tenant}/interactions/{id}/{login|consent|reject}`.
pub async fn decide(
    State(state): State<AppState>,
    Path((slug, key, decision)): Path<(String, String, String)>,
    peer: Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let (tenant, found) = driven(&state, &slug, &key, &peer, &headers).await?;
        let request = found.pending().clone();
        // `request`: what the interaction waits for, answered below.
        let redirect_to = match decision.as_str() {
            "login" => {
                external_login::accept_login(&state, &tenant, &found, request, body_of(&body)?)
                    .await?
            }
            "consent" => {
                external_login::accept_consent(&state, &tenant, &found, request, body_of(&body)?)
                    .await?
            }
            "reject" => {
                external_login::reject(&state, &tenant, &found, request, body_of(&body)?).await?
            }
            _ => {
                return Err(OAuthError::NotFound(
                    "answer with …/login, …/consent or …/reject",
                ));
            }
        };
        Ok(json!({ "redirect_to": redirect_to }))
    }
    .await;
    answer(result)
}

/// The browser's return's query.
#[derive(Debug, Deserialize)]
pub struct ContinueQuery {
    verifier: Option<String>,
}

/// `GET /t/{tenant}/interactions/{id}/continue?verifier=V`: from the browser that
/// started the interaction (its cookie), with the answer's verifier.
pub async fn continue_interaction(
    State(state): State<AppState>,
    Path((slug, key)): Path<(String, String)>,
    Query(query): Query<ContinueQuery>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let tenant = resolve_tenant(&state, &slug).await?;
        let Some((found, _)) = bound(&state, &tenant, &headers, &key).await? else {
            return start_again_for(&state, &tenant, &key).await;
        };
        let verifier = query.verifier.unwrap_or_default();
        let continued = match authorize::continue_external(&state, &tenant, &found, &verifier).await
        {
            Ok(continued) => continued,
            Err(refusal) => return Ok(refused(&state, &tenant, refusal)),
        };
        let leaving = matches!(
            continued.step,
            authorize::Step::Answer(_) | authorize::Step::Redirect(_)
        );
        let page = step_page(
            &state,
            &tenant,
            continued.step,
            None,
            leaving.then_some(key.as_str()),
        );
        Ok(match continued.session {
            Some(started) => {
                let secret = session::start_for(
                    &state,
                    &tenant,
                    started.user_id,
                    &started.authority,
                    started.lifetime,
                    started.authenticated_at,
                )
                .await?;
                page.with_cookie(cookie(
                    &state,
                    &tenant,
                    &session_cookie_name(&tenant),
                    &secret,
                    started.lifetime,
                ))
            }
            None => page,
        })
    }
    .await;
    respond(&state, result)
}
