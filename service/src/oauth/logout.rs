//! RP-Initiated Logout 1.0: a relying party sends the browser to the end-session
//! endpoint with `id_token_hint` (expired accepted), `client_id`,
//! `post_logout_redirect_uri` and `state`. The URI must be one the client registered,
//! exactly (§3: never redirect to an unvalidated URI). The user confirms; then the
//! session ends and, when the tenant says so, the tokens the user holds for that client
//! are revoked.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use entity::application;
use serde_json::Value;

use crate::error::Error;
use crate::oauth::authorize::{MAX_ECHOED_CHARS, registration};
use crate::oauth::error::OAuthError;
use crate::oauth::form::Form;
use crate::oauth::id_token;
use crate::oauth::session::{self, SignedIn};
use crate::state::AppState;
use crate::store::authorized_tokens;
use crate::tenancy::Tenant;

/// A validated logout request.
#[derive(Clone, Debug, Default)]
pub struct LogoutRequest {
    /// The client that asked, when it named itself (by `client_id` or the hint).
    pub application: Option<Arc<application::Model>>,
    /// Where to send the browser afterwards: registered by that client.
    pub post_logout_redirect_uri: Option<String>,
    /// Echoed to the redirect.
    pub state: Option<String>,
    /// The hint as sent (kept in the confirmation form).
    pub id_token_hint: Option<String>,
}

/// The `aud` of an ID token, read without verifying (to find the client whose key or
/// secret verifies it).
fn unverified_audience(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    match &claims["aud"] {
        Value::String(audience) => Some(audience.clone()),
        Value::Array(audiences) => audiences.first()?.as_str().map(str::to_owned),
        _ => None,
    }
}

/// Validates the parameters (RP-Initiated Logout §2, §3).
pub async fn validate(
    state: &AppState,
    tenant: &Tenant,
    form: &Form,
) -> Result<LogoutRequest, OAuthError> {
    let hint = form.get("id_token_hint").filter(|hint| !hint.is_empty());
    let named = form.get("client_id").filter(|id| !id.is_empty());
    let client_id = match (named, hint.and_then(unverified_audience)) {
        (Some(named), Some(audience)) if named != audience => {
            return Err(OAuthError::invalid_request(
                "client_id is not the audience of id_token_hint",
            ));
        }
        (Some(named), _) => Some(named.to_owned()),
        (None, audience) => audience,
    };
    let application = match &client_id {
        Some(client_id) if crate::syntax::check_client_id(client_id).is_ok() => Some(
            registration(state, tenant, client_id)
                .await?
                .ok_or_else(|| OAuthError::invalid_request("the client is not registered"))?,
        ),
        Some(_) => return Err(OAuthError::invalid_request("the client is not registered")),
        None => None,
    };
    if let Some(hint) = hint {
        let verified = match &application {
            Some(application) => id_token::verify_hint(state, tenant, application, hint).await?,
            None => None,
        };
        if verified.is_none() {
            return Err(OAuthError::invalid_request(
                "id_token_hint is not an ID token this issuer signed",
            ));
        }
    }
    let post_logout_redirect_uri = match form.get("post_logout_redirect_uri") {
        None | Some("") => None,
        Some(uri) => {
            let registered = application.as_ref().is_some_and(|application| {
                application
                    .post_logout_redirect_uris
                    .split_whitespace()
                    .any(|candidate| candidate == uri)
            });
            if !registered {
                return Err(OAuthError::invalid_request(
                    "post_logout_redirect_uri is not one the client registered (send \
                     client_id or id_token_hint with it)",
                ));
            }
            Some(uri.to_owned())
        }
    };
    let echoed = form.get("state");
    if echoed.is_some_and(|value| value.len() > MAX_ECHOED_CHARS) {
        return Err(OAuthError::invalid_request(format!(
            "state is longer than {MAX_ECHOED_CHARS} characters"
        )));
    }
    Ok(LogoutRequest {
        application,
        post_logout_redirect_uri,
        state: echoed.map(str::to_owned),
        id_token_hint: hint.map(str::to_owned),
    })
}

impl LogoutRequest {
    /// The redirect after the logout (§3): the URI with `state`, if one was given.
    pub fn redirect(&self) -> Option<String> {
        let uri = self.post_logout_redirect_uri.as_deref()?;
        let Some(state) = &self.state else {
            return Some(uri.to_owned());
        };
        let mut url = url::Url::parse(uri).ok()?;
        url.query_pairs_mut().append_pair("state", state);
        Some(url.to_string())
    }
}

/// Ends `signed_in`'s session and, per the tenant, revokes what the user holds for the
/// client that asked.
pub async fn finish(
    state: &AppState,
    tenant: &Tenant,
    request: &LogoutRequest,
    signed_in: &SignedIn,
) -> Result<(), Error> {
    session::end(state, tenant, &signed_in.secret).await?;
    if tenant.settings.logout_revokes_tokens
        && let Some(application) = &request.application
    {
        authorized_tokens::revoke_user_application(
            state.data(tenant),
            signed_in.user.id,
            application.id,
        )
        .await?;
    }
    Ok(())
}
