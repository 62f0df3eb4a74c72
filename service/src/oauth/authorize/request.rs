//! The authorization request (RFC 6749 §4.1.1, §4.2.1; OIDC Core §3.1.2.1): the
//! client's registration, the checks made once its redirect URI is trusted, and what
//! `prompt`, `max_age` and `id_token_hint` demand of the login; and the external
//! login application's answers recorded on it.

use std::collections::BTreeSet;

use entity::application;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::oauth::authorization_response::{ResponseMode, ResponseType};
use crate::oauth::error::OAuthError;
use crate::oauth::form::Form;
use crate::oauth::id_token;
use crate::oauth::pkce;
use crate::oauth::scope::Scopes;
use crate::registration::{ClientType, GrantType};
use crate::settings::ApprovalPrompt;
use crate::state::AppState;
use crate::tenancy::Tenant;
use crate::time::now;

use super::Authenticated;

/// Longest `state` or `nonce` accepted (they come back in URLs).
pub const MAX_ECHOED_CHARS: usize = 2048;

/// A validated authorization request, as stored in its interaction.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    /// The client's row id.
    pub application_id: i64,
    /// The redirect URI the answer goes to (as presented, or the one registered).
    pub redirect_uri: String,
    /// Whether the request named `redirect_uri` (then the token request must too,
    /// RFC 6749 §4.1.3).
    pub redirect_uri_given: bool,
    /// What to answer with.
    pub response_type: ResponseType,
    /// How; `None`: the response type's default.
    #[serde(default)]
    pub response_mode: Option<ResponseMode>,
    /// The scopes to grant.
    pub scopes: BTreeSet<String>,
    /// Echoed unchanged (RFC 6749 §4.1.2).
    pub state: Option<String>,
    /// PKCE challenge and method.
    pub code_challenge: Option<(String, String)>,
    /// OIDC nonce, bound to the code.
    pub nonce: Option<String>,
    /// The consent policy of this request.
    pub approval_prompt: ApprovalPrompt,
    /// When the user authenticated, once known (OIDC Core §2 `auth_time`).
    #[serde(default)]
    pub authenticated_at: Option<entity::Timestamp>,
    /// How, as an external login application reported it (OIDC Core §2 `acr`).
    #[serde(default)]
    pub acr: Option<String>,
    /// With which methods (`amr`), space-separated.
    #[serde(default)]
    pub amr: Option<String>,
    /// `prompt=consent`: ask even when consent could be skipped (OIDC Core §3.1.2.1).
    #[serde(default)]
    pub force_consent: bool,
    /// `login_hint`, to fill in the login form's username.
    #[serde(default)]
    pub login_hint: Option<String>,
    /// The request's `prompt` values (for an external login application).
    #[serde(default)]
    pub prompt: Vec<String>,
    /// What the external login and consent application answered so far.
    #[serde(default)]
    pub external: External,
}

/// The external login and consent application's answers on an interaction
/// ([`crate::oauth::external_login`]).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct External {
    /// The login was accepted (the interaction names the user); the session it
    /// starts lasts this long (`None`: the tenant's `session_lifetime_secs`).
    #[serde(default)]
    pub login: Option<ExternalLogin>,
    /// The consent was given.
    #[serde(default)]
    pub consent: Option<ExternalConsent>,
    /// The request was rejected.
    #[serde(default)]
    pub rejection: Option<ExternalRejection>,
    /// SHA-256 of the verifier the browser brings back to `…/continue`; one use.
    #[serde(default)]
    pub verifier_checksum: Option<String>,
}

/// An accepted login.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ExternalLogin {
    /// The session's lifetime.
    pub remember_for: Option<u64>,
}

/// A given consent.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ExternalConsent {
    /// The scopes granted (a subset of those requested).
    pub scopes: BTreeSet<String>,
    /// Remember it (as a consent grant).
    pub remember: bool,
    /// For this long; `None`: until revoked.
    pub remember_for: Option<u64>,
}

/// A rejection, delivered to the client as an error (RFC 6749 §4.1.2.1).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ExternalRejection {
    /// The error code.
    pub error: String,
    /// Its description.
    pub description: Option<String>,
}

/// What the request demands of the login (OIDC Core §3.1.2.1): `prompt`, `max_age`
/// and `id_token_hint`.
#[derive(Clone, Debug, Default)]
pub(super) struct LoginDemands {
    /// `prompt=none`: no page at all; an error when one would be needed.
    pub(super) no_interaction: bool,
    /// `prompt=login`: authenticate again, whatever the session.
    pub(super) fresh_login: bool,
    /// `prompt=create`: show the sign-up page (OpenID Connect Prompt Create 1.0 §4.1).
    pub(super) create_account: bool,
    /// `max_age`: a session older than this many seconds must log in again.
    pub(super) max_age: Option<u64>,
}

impl LoginDemands {
    pub(super) fn parse(form: &Form, allow_sign_up: bool) -> Result<Self, OAuthError> {
        let values: Vec<&str> = form
            .get("prompt")
            .unwrap_or_default()
            .split(' ')
            .filter(|value| !value.is_empty())
            .collect();
        // Prompt Create 1.0 §4.1: a value the OP does not support (not in its
        // `prompt_values_supported`) is `invalid_request`, naming the value.
        if let Some(unknown) = values.iter().find(|value| !PROMPT_VALUES.contains(value)) {
            return Err(OAuthError::invalid_request(format!(
                "prompt value {unknown:?} is not supported"
            )));
        }
        if values.contains(&"create") && !allow_sign_up {
            return Err(OAuthError::invalid_request(
                "prompt=create is not supported: this service does not offer sign-up",
            ));
        }
        if values.contains(&"none") && values.len() > 1 {
            return Err(OAuthError::invalid_request(
                "prompt=none cannot be combined with another value (OIDC Core §3.1.2.1)",
            ));
        }
        let max_age = form
            .get("max_age")
            .map(|value| {
                value.parse::<u64>().map_err(|_| {
                    OAuthError::invalid_request(format!(
                        "max_age {value:?} is not a number of seconds"
                    ))
                })
            })
            .transpose()?;
        Ok(Self {
            no_interaction: values.contains(&"none"),
            fresh_login: values.contains(&"login") || values.contains(&"select_account"),
            create_account: values.contains(&"create"),
            max_age,
        })
    }

    /// Whether the session `at` still satisfies the request.
    pub(super) fn accepts(&self, session: &Authenticated) -> bool {
        !self.fresh_login
            && self.max_age.is_none_or(|max_age| {
                (now() - session.at).whole_seconds() <= i64::try_from(max_age).unwrap_or(i64::MAX)
            })
    }
}

/// The `prompt` values understood: OIDC Core §3.1.2.1 and Prompt Create 1.0
/// (`create` only where the tenant allows sign-up). A browser holds one session per
/// tenant, so choosing an account (`select_account`) is signing in again, as anyone.
pub const PROMPT_VALUES: [&str; 5] = ["none", "login", "consent", "select_account", "create"];

/// The client's registration, through the client cache the token endpoint uses (a
/// change is announced to every node: `store::client_cache`).
pub async fn registration(
    state: &AppState,
    tenant: &Tenant,
    client_id: &str,
) -> Result<Option<std::sync::Arc<application::Model>>, Error> {
    state
        .clients
        .registration(state.data(tenant), client_id)
        .await
}

/// The checks after the redirect URI is trusted; each failure is redirected.
pub(super) fn validate(
    state: &AppState,
    tenant: &Tenant,
    application: &application::Model,
    form: &Form,
    redirect_uri: String,
    redirect_uri_given: bool,
) -> Result<AuthorizationRequest, OAuthError> {
    let settings = &tenant.settings;
    let response_type = ResponseType::parse(
        form.get("response_type")
            .ok_or_else(|| OAuthError::invalid_request("missing parameter \"response_type\""))?,
    )?;
    let response_mode = form
        .get("response_mode")
        .map(|value| ResponseMode::parse(Some(value), response_type))
        .transpose()?;
    // OIDC Core §6 (request objects) and §7.2.1 (`registration`): not supported yet,
    // so refused by name (§3.1.2.6) rather than ignored — ignoring a signed request
    // object would answer parameters the client never meant to send alone.
    if form.get("request").is_some() {
        return Err(OAuthError::RequestNotSupported);
    }
    if form.get("request_uri").is_some() {
        return Err(OAuthError::RequestUriNotSupported);
    }
    if form.get("registration").is_some() {
        return Err(OAuthError::RegistrationNotSupported);
    }
    // A code needs the code grant; a token or ID token from the authorization
    // endpoint needs the implicit grant (hybrid: both).
    let mut needed = Vec::new();
    if response_type.code {
        needed.push(GrantType::AuthorizationCode);
    }
    if response_type.has_front_channel_token() {
        needed.push(GrantType::Implicit);
    }
    if let Some(missing) = needed.into_iter().find(|grant| {
        !state
            .policies
            .allows_grant_type(tenant, application, *grant)
    }) {
        return Err(OAuthError::unauthorized_client(format!(
            "this client may not use the {missing} grant (response_type {response_type})"
        )));
    }
    for echoed in ["state", "nonce"] {
        if form
            .get(echoed)
            .is_some_and(|value| value.len() > MAX_ECHOED_CHARS)
        {
            return Err(OAuthError::invalid_request(format!(
                "{echoed} is longer than {MAX_ECHOED_CHARS} characters"
            )));
        }
    }
    let requested = form
        .get("scope")
        .map(Scopes::parse)
        .transpose()
        .map_err(|error| OAuthError::invalid_scope(error.description()))?;
    let allowed = Scopes::from_stored(&application.allowed_scopes);
    let scopes = Scopes::grant(requested, settings, &allowed)?;
    if response_type.id_token {
        // OIDC Core §3.2.2.1, §3.3.2.11: an ID token from the authorization endpoint
        // is OpenID Connect and binds a nonce (else it could be replayed).
        if !scopes.contains(id_token::OPENID) {
            return Err(OAuthError::invalid_scope(
                "response_type id_token needs the openid scope",
            ));
        }
        if form.get("nonce").is_none_or(str::is_empty) {
            return Err(OAuthError::invalid_request(
                "nonce is required when an ID token comes from the authorization endpoint",
            ));
        }
    }
    let is_public = application.client_type == ClientType::Public.as_str();
    let code_challenge = if response_type.code {
        pkce::check_challenge(
            settings,
            is_public,
            form.get("code_challenge"),
            form.get("code_challenge_method"),
        )?
    } else {
        None
    };
    let approval_prompt = match form.get("approval_prompt") {
        None => settings.approval_prompt,
        Some("force") => ApprovalPrompt::Force,
        Some("auto") => ApprovalPrompt::Auto,
        Some(other) => {
            return Err(OAuthError::invalid_request(format!(
                "approval_prompt {other:?}: use force or auto"
            )));
        }
    };
    Ok(AuthorizationRequest {
        application_id: application.id,
        redirect_uri,
        redirect_uri_given,
        response_type,
        response_mode,
        scopes: scopes.set().clone(),
        state: form.get("state").map(str::to_owned),
        code_challenge,
        nonce: form.get("nonce").map(str::to_owned),
        approval_prompt,
        authenticated_at: None,
        acr: None,
        amr: None,
        force_consent: form
            .get("prompt")
            .is_some_and(|prompt| prompt.split(' ').any(|value| value == "consent")),
        login_hint: form
            .get("login_hint")
            .filter(|hint| hint.len() <= 254)
            .map(str::to_owned),
        prompt: form
            .get("prompt")
            .unwrap_or_default()
            .split(' ')
            .filter(|value| PROMPT_VALUES.contains(value))
            .map(str::to_owned)
            .collect(),
        external: External::default(),
    })
}
