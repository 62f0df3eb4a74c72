//! The answer to the client (RFC 6749 §4.1.2, §4.2.2; OIDC Core §3.2.2.5, §3.3.2.5):
//! codes, front-channel tokens and ID tokens, or an error at the redirect URI.

use crate::oauth::authorization_response::{Delivery, Destination, ResponseMode};
use crate::oauth::claims;
use crate::oauth::error::OAuthError;
use crate::oauth::id_token;
use crate::oauth::issuance::Prepared;
use crate::oauth::scope::Scopes;
use crate::secrets::{self, checksum, prefix};
use crate::state::AppState;
use crate::store::applications;
use crate::store::authorization_codes::{self, NewCode};
use crate::store::interactions;
use crate::store::tokens;
use crate::store::users;
use crate::tenancy::Tenant;
use crate::time::{now, plus_seconds};

use super::request::AuthorizationRequest;
use super::{Refusal, page};

/// The error answer of a request whose redirect URI is trusted.
pub(super) fn refuse(destination: &Destination, error: &OAuthError) -> Refusal {
    Refusal::Answer(destination.error(error))
}

/// Where the stored request's answer goes.
pub(super) fn destination_of(
    state: &AppState,
    tenant: &Tenant,
    request: &AuthorizationRequest,
) -> Destination {
    Destination {
        redirect_uri: request.redirect_uri.clone(),
        mode: request
            .response_mode
            .unwrap_or(if request.response_type.has_front_channel_token() {
                ResponseMode::Fragment
            } else {
                ResponseMode::Query
            }),
        state: request.state.clone(),
        issuer: state.config.issuer(&tenant.slug),
    }
}

/// Issues the answer (RFC 6749 §4.1.2, §4.2.2; OIDC Core §3.2.2.5, §3.3.2.5), each
/// part the response type asks for: a code bound to tenant, client, redirect URI,
/// PKCE challenge, nonce, scopes and authentication time (stored while the
/// interaction is deleted, in one transaction); an access token (never a refresh
/// token); an ID token with `nonce`, `at_hash` and `c_hash`, carrying the user's
/// claims when no access token comes with it (§5.4).
pub(super) async fn finish(
    state: &AppState,
    tenant: &Tenant,
    request: &AuthorizationRequest,
    user_id: i64,
    interaction_id: Option<i64>,
) -> Result<Delivery, Refusal> {
    let settings = &tenant.settings;
    let destination = destination_of(state, tenant, request);
    let scope = request
        .scopes
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(" ");
    let already_answered = || {
        page(
            "Already answered",
            "This authorization was answered already. Go back to the application and start again.",
        )
    };
    let response_type = request.response_type;
    let mut answer: Vec<(&str, String)> = Vec::new();
    let code = if response_type.code {
        let code = secrets::generate(prefix::AUTHORIZATION_CODE)?;
        let stored = authorization_codes::create(
            state.data(tenant),
            NewCode {
                code_checksum: checksum(&code),
                application_id: request.application_id,
                user_id,
                redirect_uri: if request.redirect_uri_given {
                    request.redirect_uri.clone()
                } else {
                    String::new()
                },
                scope: scope.clone(),
                code_challenge: request.code_challenge.clone(),
                nonce: request.nonce.clone(),
                auth_time: request.authenticated_at,
                acr: request.acr.clone(),
                amr: request.amr.clone(),
                expires_at: plus_seconds(now(), settings.authorization_code_lifetime_secs),
            },
            interaction_id,
        )
        .await?;
        if !stored {
            return Err(already_answered());
        }
        answer.push(("code", code.clone()));
        Some(code)
    } else {
        // No code to store with it: the interaction is spent on its own, first.
        if let Some(id) = interaction_id
            && !interactions::take(state.data(tenant), id).await?
        {
            return Err(already_answered());
        }
        None
    };
    // What the front-channel parts need: the client and the user.
    let holder = if response_type.has_front_channel_token() {
        let application = applications::find_by_id(state.data(tenant), request.application_id)
            .await?
            .ok_or_else(|| page("Unknown application", "The application was removed."))?;
        let user = users::find_by_id(state.data(tenant), user_id)
            .await?
            .filter(|user| user.is_active)
            .ok_or_else(|| page("Signed out", "Your account cannot sign in. Start again."))?;
        Some((application, user))
    } else {
        None
    };
    // RFC 6749 §4.2.2: the access token in the fragment, minted as the token
    // endpoint mints (no refresh token on the front channel).
    let prepared = match (&holder, response_type.token) {
        (Some((application, user)), true) => Some(
            Prepared::new(
                tenant,
                request.application_id,
                Some(user_id),
                scope.clone(),
                false,
                None,
            )
            .map_err(Refusal::Failed)?
            .in_format(
                state,
                tenant,
                application,
                Some(&user.subject),
                request.authenticated_at,
            )
            .await
            .map_err(Refusal::Failed)?,
        ),
        _ => None,
    };
    let signed = if let (Some((application, user)), true) = (&holder, response_type.id_token) {
        let granted = Scopes::from_stored(&scope);
        let access_token = prepared.as_ref().map(Prepared::access_token);
        let authentication = id_token::Authentication {
            subject: &user.subject,
            auth_time: request.authenticated_at,
            acr: request.acr.as_deref(),
            amr: request.amr.as_deref(),
            nonce: request.nonce.as_deref(),
            access_token,
            code: code.as_deref(),
            claims: if access_token.is_none() && code.is_none() {
                claims::for_scopes(user, &granted)
            } else {
                serde_json::Map::new()
            },
        };
        Some(
            id_token::issue(state, tenant, application, &scope, &authentication)
                .await
                .map_err(Refusal::Failed)?,
        )
    } else {
        None
    };
    // With an access token, the ID token's record is stored beside it.
    let (prepared, mut id_token) = match (prepared, signed) {
        (Some(prepared), Some(signed)) => (Some(prepared.with_id_token(signed)), None),
        (prepared, signed) => (prepared, signed.map(|signed| signed.token)),
    };
    if let Some(prepared) = prepared {
        tokens::issue_access_only(state.data(tenant), prepared.access.clone()).await?;
        let response = prepared.response();
        answer.push(("access_token", response.access_token));
        answer.push(("token_type", response.token_type.to_owned()));
        answer.push(("expires_in", response.expires_in.to_string()));
        id_token = response.id_token;
    }
    if let Some(id_token) = id_token {
        answer.push(("id_token", id_token));
    }
    if response_type.has_front_channel_token() {
        answer.push(("scope", scope));
    }
    let parameters: Vec<(&str, &str)> = answer
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect();
    Ok(destination.answer(&parameters))
}
