//! The authorization endpoint's logic (RFC 6749 §3.1, §4.1, §4.2; RFC 7636; RFC 9207),
//! as public functions over which the HTTP handlers are thin (DESIGN.md §4):
//!
//! * [`begin`] validates a request. The client and `redirect_uri` come first: if
//!   either is bad the answer is [`Refusal::Page`] and the browser is **not**
//!   redirected (§4.1.2.1). Later errors redirect with `error`, `state` and `iss`.
//!   When a login or a consent is still needed, the request is stored as an
//!   interaction bound to the browser by a secret for its cookie.
//! * [`resume_with_login`] records the subject a login named.
//! * [`resume_with_consent`] applies the user's decision.
//! * Each ends, when nothing more is needed, in [`Step::Redirect`] to the client with
//!   a code (or, for `response_type=token`, a token in the fragment).
//!
//! A later handler (an external login application) drives the same functions.

use std::collections::BTreeSet;
use std::net::IpAddr;

use entity::{application, interaction};
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::limits::pending::PendingKind;
use crate::oauth::access_token;
use crate::oauth::authorization_response::{Delivery, Destination, ResponseMode, ResponseType};
use crate::oauth::claims;
use crate::oauth::error::OAuthError;
use crate::oauth::form::Form;
use crate::oauth::id_token;
use crate::oauth::login_authority::LoginAuthority;
use crate::oauth::pending_limits;
use crate::oauth::scope::Scopes;
use crate::oauth::{pkce, redirect_uri};
use crate::secrets::{self, checksum, prefix};
use crate::settings::ApprovalPrompt;
use crate::state::AppState;
use crate::store::applications::{self, ClientType, GrantType};
use crate::store::authorization_codes::{self, NewCode};
use crate::store::consents;
use crate::store::interactions::{self, NewInteraction};
use crate::store::tokens::{self, NewAccessToken};
use crate::store::users;
use crate::tenancy::Tenant;
use crate::time::{now, plus_seconds, seconds_until};

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
struct LoginDemands {
    /// `prompt=none`: no page at all; an error when one would be needed.
    no_interaction: bool,
    /// `prompt=login`: authenticate again, whatever the session.
    fresh_login: bool,
    /// `prompt=create`: show the sign-up page (OpenID Connect Prompt Create 1.0 §4.1).
    create_account: bool,
    /// `max_age`: a session older than this many seconds must log in again.
    max_age: Option<u64>,
}

/// The `prompt` values understood: OIDC Core §3.1.2.1 and Prompt Create 1.0
/// (`create` only where the tenant allows sign-up). A browser holds one session per
/// tenant, so choosing an account (`select_account`) is signing in again, as anyone.
pub const PROMPT_VALUES: [&str; 5] = ["none", "login", "consent", "select_account", "create"];

impl LoginDemands {
    fn parse(form: &Form, allow_sign_up: bool) -> Result<Self, OAuthError> {
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
    fn accepts(&self, session: &Authenticated) -> bool {
        !self.fresh_login
            && self.max_age.is_none_or(|max_age| {
                (now() - session.at).whole_seconds() <= i64::try_from(max_age).unwrap_or(i64::MAX)
            })
    }
}

/// The user of the browser's live session and when they authenticated.
#[derive(Clone, Debug)]
pub struct Authenticated {
    /// The user's row id.
    pub user_id: i64,
    /// The user's subject (to compare with an `id_token_hint`).
    pub subject: String,
    /// When they authenticated.
    pub at: entity::Timestamp,
    /// Who signed the session in ([`LoginAuthority::session_key`]): it counts only
    /// where that authority decides.
    pub authority: String,
}

/// What an interaction waits to do once its login (and consent) are done.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Pending {
    /// Answer an authorization request (boxed: far larger than a plain login).
    Authorize(Box<AuthorizationRequest>),
    /// Sign the user in at an external login application and go back to a page of
    /// this tenant (device, tokens, management pages). Tessera's own pages need no
    /// stored interaction for this (the login form carries the path).
    Login {
        /// A path under `/t/{tenant}/`, built by the server.
        return_to: String,
        /// What the external login application answered so far.
        #[serde(default)]
        external: External,
    },
}

impl Pending {
    /// The external login application's answers so far.
    pub fn external(&self) -> &External {
        match self {
            Self::Authorize(request) => &request.external,
            Self::Login { external, .. } => external,
        }
    }

    /// The same, to record an answer.
    pub fn external_mut(&mut self) -> &mut External {
        match self {
            Self::Authorize(request) => &mut request.external,
            Self::Login { external, .. } => external,
        }
    }

    /// Whether the external login application answered anything yet.
    pub fn answered_externally(&self) -> bool {
        let external = self.external();
        external.login.is_some() || external.consent.is_some() || external.rejection.is_some()
    }
}

/// Where the browser goes next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Leave for this page of the tenant.
    Redirect(String),
    /// Deliver the answer to the client.
    Answer(Delivery),
    /// Show the login page of interaction `key`.
    Login {
        /// The interaction's key.
        key: String,
    },
    /// Send the browser to the external login and consent application (the
    /// client's, else the tenant's) with interaction `key`.
    External {
        /// The interaction's key.
        key: String,
        /// The application's URL.
        login_url: String,
    },
    /// Show the sign-up page of interaction `key` (Prompt Create 1.0).
    SignUp {
        /// The interaction's key.
        key: String,
    },
    /// Show the consent page of interaction `key`.
    Consent {
        /// The interaction's key.
        key: String,
    },
}

/// What [`begin`] decided; `secret` is set when it stored an interaction, for the
/// cookie that binds it to this browser.
#[derive(Debug)]
pub struct Begun {
    /// Next step.
    pub step: Step,
    /// The interaction's browser secret, for its cookie.
    pub secret: Option<String>,
}

/// Why an authorization request got no code.
#[derive(Debug)]
pub enum Refusal {
    /// The client or the redirect URI cannot be trusted: show this on a page and
    /// never redirect (RFC 6749 §4.1.2.1).
    Page {
        /// One-line title.
        title: String,
        /// What went wrong and what to do.
        message: String,
    },
    /// Send the browser back to the client with this error.
    Answer(Delivery),
    /// An external login application decides this sign-in: Tessera's pages do not
    /// (a 403 page; nothing changes).
    Elsewhere,
    /// A database or another part failed.
    Failed(OAuthError),
}

impl From<Error> for Refusal {
    fn from(error: Error) -> Self {
        Refusal::Failed(error.into())
    }
}

fn page(title: &str, message: impl Into<String>) -> Refusal {
    Refusal::Page {
        title: title.to_owned(),
        message: message.into(),
    }
}

/// The client's registration, through the client cache the token endpoint uses
/// (`client_cache_ttl_secs`): a changed registration reaches every node within it.
pub async fn registration(
    state: &AppState,
    tenant: &Tenant,
    client_id: &str,
) -> Result<Option<std::sync::Arc<application::Model>>, Error> {
    if let Some(cached) = state.clients.get(tenant.id, client_id) {
        return Ok(Some(cached));
    }
    let found = applications::find_by_client_id(state.data(tenant), client_id)
        .await?
        .map(std::sync::Arc::new);
    if let Some(application) = &found {
        state.clients.put(std::sync::Arc::clone(application));
    }
    Ok(found)
}

/// Validates an authorization request for `tenant` and decides the next step.
/// `signed_in`: the user of the browser's live session, if any (it counts only when
/// the authority deciding this client's sign-ins started it); `source`: the
/// browser's address, which a stored interaction counts against.
pub async fn begin(
    state: &AppState,
    tenant: &Tenant,
    form: &Form,
    signed_in: Option<Authenticated>,
    source: IpAddr,
) -> Result<Begun, Refusal> {
    let settings = &tenant.settings;
    // §4.1.2.1: without a valid client and redirect URI, tell the user, not the URI.
    let client_id = form.get("client_id").ok_or_else(|| {
        page(
            "Invalid request",
            "The request names no client (client_id).",
        )
    })?;
    let unknown = || {
        page(
            "Unknown application",
            "The application that sent you here is not registered with this service.",
        )
    };
    if crate::syntax::check_client_id(client_id).is_err() {
        return Err(unknown());
    }
    let registered = registration(state, tenant, client_id)
        .await?
        .ok_or_else(unknown)?;
    let application: &application::Model = &registered;
    let bad_redirect = |message: &str| page("Invalid redirect URI", message);
    let (redirect_uri, redirect_uri_given) = match form.get("redirect_uri") {
        Some(presented) => {
            let allowed = state
                .policies
                .redirect_uris
                .allows_redirect_uri(tenant, application, presented)
                .unwrap_or_else(|| {
                    redirect_uri::find_registered(&application.redirect_uris, presented).is_some()
                });
            if !allowed {
                return Err(bad_redirect(
                    "The redirect_uri does not match one the application registered. \
                     The application's developer must send a registered URI, exactly.",
                ));
            }
            (presented.to_owned(), true)
        }
        None => {
            // OIDC Core §3.1.2.1: redirect_uri is REQUIRED in an OpenID request (the
            // single-URI shortcut is OAuth 2's, RFC 6749 §3.1.2.3). Nothing can be
            // redirected before the client names where to.
            let openid = form
                .get("scope")
                .is_some_and(|scope| scope.split(' ').any(|value| value == id_token::OPENID));
            if openid {
                return Err(bad_redirect(
                    "An OpenID Connect request must name its redirect_uri (OpenID Connect \
                     Core 1.0 §3.1.2.1). The application's developer must add it.",
                ));
            }
            let mut registered = application.redirect_uris.split_whitespace();
            match (registered.next(), registered.next()) {
                (Some(only), None) => (only.to_owned(), false),
                _ => {
                    return Err(bad_redirect(
                        "The request has no redirect_uri and the application registers \
                         none or several: it must name one.",
                    ));
                }
            }
        }
    };
    if !redirect_uri::scheme_allowed(settings, &redirect_uri) {
        return Err(bad_redirect(
            "This service does not redirect to that URI scheme.",
        ));
    }
    // Errors found below go back the way the request asked, as far as it can be read.
    let response_type = form
        .get("response_type")
        .and_then(|value| ResponseType::parse(value).ok())
        .unwrap_or(ResponseType::CODE);
    let mode = ResponseMode::parse(form.get("response_mode"), response_type)
        .or_else(|_| ResponseMode::parse(None, response_type))
        .unwrap_or(ResponseMode::Query);
    let destination = Destination {
        redirect_uri: redirect_uri.clone(),
        mode,
        state: form
            .get("state")
            .filter(|value| value.len() <= MAX_ECHOED_CHARS)
            .map(str::to_owned),
        issuer: state.config.issuer(&tenant.slug),
    };
    let mut request = validate(
        state,
        tenant,
        application,
        form,
        redirect_uri,
        redirect_uri_given,
    )
    .map_err(|error| refuse(&destination, &error))?;
    let demands = LoginDemands::parse(form, settings.allow_sign_up)
        .map_err(|error| refuse(&destination, &error))?;
    // `id_token_hint` (OIDC Core §3.1.2.1): an ID token this issuer signed for this
    // client (expired ones too); a session of another user does not count.
    let hinted_subject = match form.get("id_token_hint") {
        Some(hint) => Some(
            id_token::verify_hint(state, tenant, application, hint)
                .await
                .map_err(Refusal::Failed)?
                .ok_or_else(|| {
                    refuse(
                        &destination,
                        &OAuthError::invalid_request(
                            "id_token_hint is not an ID token this issuer signed for this client",
                        ),
                    )
                })?,
        ),
        None => None,
    };
    // Whoever decides this client's sign-ins; a session counts only if it signed it.
    let authority = LoginAuthority::of_client(tenant, application);
    let signed_in = signed_in
        .filter(|session| session.authority == authority.session_key())
        .filter(|session| demands.accepts(session))
        .filter(|session| {
            hinted_subject
                .as_ref()
                .is_none_or(|subject| *subject == session.subject)
        });
    if demands.no_interaction {
        // OIDC Core §3.1.2.6: never a page; say what would have been needed.
        let Some(Authenticated { user_id, at, .. }) = signed_in else {
            return Err(refuse(
                &destination,
                &OAuthError::LoginRequired("prompt=none, but the user must sign in".to_owned()),
            ));
        };
        request.authenticated_at = Some(at);
        // No page may be shown, so what the user already approved is the answer: a
        // remembered consent covering the scopes counts whatever `approval_prompt`
        // says (docs/browser-flows.md, "prompt and approval_prompt").
        request.approval_prompt = ApprovalPrompt::Auto;
        if needs_consent(state, tenant, application, &request, user_id).await? {
            return Err(refuse(&destination, &OAuthError::ConsentRequired));
        }
        let answer = finish(state, tenant, &request, user_id, None).await?;
        return Ok(Begun {
            step: Step::Answer(answer),
            secret: None,
        });
    }
    // An external login and consent application decides both steps; a live session
    // it started is told to it (`skip`), not used behind its back.
    if let LoginAuthority::External { login_url, .. } = authority {
        if let Some(session) = &signed_in {
            request.authenticated_at = Some(session.at);
        }
        let user_id = signed_in.as_ref().map(|session| session.user_id);
        let (key, secret) = store_pending(
            state,
            tenant,
            Some(application.id),
            Pending::Authorize(Box::new(request)),
            user_id,
            source,
        )
        .await
        .map_err(Refusal::Failed)?;
        return Ok(Begun {
            step: Step::External { key, login_url },
            secret: Some(secret),
        });
    }
    // Prompt Create 1.0 §4.1: the account creation page, whatever the session (a
    // signed-in user who asks to create an account means a new one).
    let signed_in = signed_in.filter(|_| !demands.create_account);
    let Some(Authenticated { user_id, at, .. }) = signed_in else {
        let (key, secret) = store_pending(
            state,
            tenant,
            Some(application.id),
            Pending::Authorize(Box::new(request)),
            None,
            source,
        )
        .await
        .map_err(Refusal::Failed)?;
        let step = if demands.create_account {
            Step::SignUp { key }
        } else {
            Step::Login { key }
        };
        return Ok(Begun {
            step,
            secret: Some(secret),
        });
    };
    request.authenticated_at = Some(at);
    if !needs_consent(state, tenant, application, &request, user_id).await? {
        let answer = finish(state, tenant, &request, user_id, None).await?;
        return Ok(Begun {
            step: Step::Answer(answer),
            secret: None,
        });
    }
    let (key, secret) = store_pending(
        state,
        tenant,
        Some(application.id),
        Pending::Authorize(Box::new(request)),
        Some(user_id),
        source,
    )
    .await
    .map_err(Refusal::Failed)?;
    Ok(Begun {
        step: Step::Consent { key },
        secret: Some(secret),
    })
}

/// The checks after the redirect URI is trusted; each failure is redirected.
fn validate(
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

/// Whether the user must still approve: never for `skip_authorization` applications;
/// with `approval_prompt=auto`, only when no live remembered consent of theirs for
/// the application covers the scopes (read from the token pool's primary).
pub(crate) async fn needs_consent(
    state: &AppState,
    tenant: &Tenant,
    application: &application::Model,
    request: &AuthorizationRequest,
    user_id: i64,
) -> Result<bool, Error> {
    if request.force_consent {
        return Ok(true);
    }
    if let Some(skip) =
        state
            .policies
            .consent
            .skip_consent(tenant, application, user_id, &request.scopes)
    {
        return Ok(!skip);
    }
    if application.skip_authorization {
        return Ok(false);
    }
    match request.approval_prompt {
        ApprovalPrompt::Force => Ok(true),
        ApprovalPrompt::Auto => {
            Ok(
                !consents::covers(state.data(tenant), user_id, application.id, &request.scopes)
                    .await?,
            )
        }
    }
}

/// Remembers the user's approval of `request`'s scopes for its client, for
/// `lifetime` seconds (`None`: until revoked).
async fn remember_consent(
    state: &AppState,
    tenant: &Tenant,
    request: &AuthorizationRequest,
    user_id: i64,
    lifetime: Option<u64>,
) -> Result<(), Error> {
    let expires_at = lifetime.map(|lifetime| plus_seconds(now(), lifetime));
    consents::remember(
        state.data(tenant),
        user_id,
        request.application_id,
        &request.scopes,
        expires_at,
    )
    .await
}

/// Stores an interaction, if `source` and the tenant are under their caps of
/// pending interactions; returns its key and the browser secret.
async fn store_pending(
    state: &AppState,
    tenant: &Tenant,
    application_id: Option<i64>,
    pending: Pending,
    user_id: Option<i64>,
    source: IpAddr,
) -> Result<(String, String), OAuthError> {
    let key = secrets::generate_identifier()?;
    let secret = secrets::generate("tsi_")?;
    let parameters = serde_json::to_string(&pending)
        .map_err(|error| Error::Corrupt(format!("interaction parameters: {error}")))?;
    let slot = pending_limits::reserve(state, tenant, PendingKind::Interaction, source).await?;
    interactions::create(
        &slot.writer,
        NewInteraction {
            interaction_key: key.clone(),
            secret_checksum: checksum(&secret),
            application_id,
            parameters,
            user_id,
            source_address: slot.source.clone(),
            expires_at: plus_seconds(now(), tenant.settings.interaction_lifetime_secs),
        },
    )
    .await?;
    slot.stored();
    Ok((key, secret))
}

/// Stores a plain sign-in (no client asking) that an external login application
/// decides and that returns to `return_to`, a path of this tenant built by the server.
/// `application_id`: the client a device code is for, whose login application then
/// decides (else the tenant's). Tessera's own login page needs no stored interaction.
pub async fn begin_external_login(
    state: &AppState,
    tenant: &Tenant,
    return_to: String,
    application_id: Option<i64>,
    login_url: String,
    source: IpAddr,
) -> Result<Begun, OAuthError> {
    let pending = Pending::Login {
        return_to,
        external: External::default(),
    };
    let (key, secret) = store_pending(state, tenant, application_id, pending, None, source).await?;
    Ok(Begun {
        step: Step::External { key, login_url },
        secret: Some(secret),
    })
}

/// Refuses interaction `found` to Tessera's own login, sign-up and consent pages
/// when an external login application decides it, or answered it already (its
/// rejection or narrowed scope stands: RFC 6749 §4.1.2.1, §3.3).
pub async fn pages_decide(
    state: &AppState,
    tenant: &Tenant,
    found: &interaction::Model,
) -> Result<(), Refusal> {
    if pending(found)?.answered_externally() {
        return Err(Refusal::Elsewhere);
    }
    if LoginAuthority::of_interaction(state, tenant, found)
        .await?
        .is_external()
    {
        return Err(Refusal::Elsewhere);
    }
    Ok(())
}

/// The live interaction `key` of the tenant if `secret` (from the browser's cookie)
/// is its secret; `None` otherwise — the caller shows a "start again" page.
pub async fn bind(
    state: &AppState,
    tenant: &Tenant,
    key: &str,
    secret: Option<&str>,
) -> Result<Option<interaction::Model>, Error> {
    let Some(secret) = secret else {
        return Ok(None);
    };
    if key.len() > 43 {
        return Ok(None);
    }
    Ok(interactions::find_live(state.data(tenant), key)
        .await?
        .filter(|found| secrets::equal(&found.secret_checksum, &checksum(secret))))
}

/// What interaction `found` waits for.
pub fn pending(found: &interaction::Model) -> Result<Pending, Error> {
    serde_json::from_str(&found.parameters)
        .map_err(|error| Error::Corrupt(format!("interaction {}: {error}", found.id)))
}

/// A login (or a sign-up) named `user_id` for interaction `found`: a plain login
/// returns to its page; an authorization goes to consent, or straight back to the
/// client.
pub async fn resume_with_login(
    state: &AppState,
    tenant: &Tenant,
    found: &interaction::Model,
    user_id: i64,
    authenticated_at: entity::Timestamp,
) -> Result<Step, Refusal> {
    pages_decide(state, tenant, found).await?;
    match pending(found)? {
        Pending::Login { return_to, .. } => {
            interactions::take(state.data(tenant), found.id).await?;
            Ok(Step::Redirect(return_to))
        }
        Pending::Authorize(mut request) => {
            // The user authenticated just now (OIDC Core §2 `auth_time`), the instant
            // their new session records too.
            request.authenticated_at = Some(authenticated_at);
            let application = applications::find_by_id(state.data(tenant), request.application_id)
                .await?
                .ok_or_else(|| page("Unknown application", "The application was removed."))?;
            if needs_consent(state, tenant, &application, &request, user_id).await? {
                let parameters = serde_json::to_string(&Pending::Authorize(request))
                    .map_err(|error| Error::Corrupt(format!("interaction parameters: {error}")))?;
                interactions::set_user(state.data(tenant), found.id, user_id, parameters).await?;
                return Ok(Step::Consent {
                    key: found.interaction_key.clone(),
                });
            }
            let answer = finish(state, tenant, &request, user_id, Some(found.id)).await?;
            Ok(Step::Answer(answer))
        }
    }
}

/// The user's decision on interaction `found` (which a login or session named the
/// user of): a code (or token) on `allow`, `access_denied` otherwise (RFC 6749
/// §4.1.2.1). Either way the interaction is spent.
pub async fn resume_with_consent(
    state: &AppState,
    tenant: &Tenant,
    found: &interaction::Model,
    allow: bool,
) -> Result<Step, Refusal> {
    pages_decide(state, tenant, found).await?;
    let (Pending::Authorize(request), Some(user_id)) = (pending(found)?, found.user_id) else {
        return Err(page(
            "Nothing to approve",
            "This sign-in has no pending authorization. Start again from the application.",
        ));
    };
    let destination = destination_of(state, tenant, &request);
    if !allow {
        interactions::take(state.data(tenant), found.id).await?;
        return Err(refuse(
            &destination,
            &OAuthError::AccessDenied("the user refused the authorization".to_owned()),
        ));
    }
    let lifetime = tenant.settings.consent_lifetime_secs;
    remember_consent(state, tenant, &request, user_id, lifetime).await?;
    let answer = finish(state, tenant, &request, user_id, Some(found.id)).await?;
    Ok(Step::Answer(answer))
}

/// What the browser's return from the external login and consent application
/// (`…/interactions/{id}/continue`) leads to, and the session to start for a login
/// it accepted (user id, lifetime).
pub struct Continued {
    /// Next step.
    pub step: Step,
    /// A session to start.
    pub session: Option<NewBrowserSession>,
}

/// A session an external login application's accepted login starts.
pub struct NewBrowserSession {
    /// The user.
    pub user_id: i64,
    /// The login application that signed them in.
    pub authority: LoginAuthority,
    /// Its lifetime in seconds (the acceptance's `remember_for`).
    pub lifetime: u64,
    /// When the user authenticated (the ID tokens' `auth_time`).
    pub authenticated_at: entity::Timestamp,
}

/// Goes on with interaction `found` after the external application answered, if
/// the browser brings the answer's `verifier`: a rejection goes to the client as an
/// error; a consent ends in the answer (remembered as asked); an accepted login goes
/// to the consent step (the application again) or, when none is needed, the answer
/// — or, for a plain sign-in, back to its page of the tenant.
pub async fn continue_external(
    state: &AppState,
    tenant: &Tenant,
    found: &interaction::Model,
    verifier: &str,
) -> Result<Continued, Refusal> {
    let expired = || {
        page(
            "Start again",
            "This sign-in was already used or has expired. Go back to the application.",
        )
    };
    let mut pending = pending(found)?;
    let presented = checksum(verifier);
    if !pending
        .external()
        .verifier_checksum
        .as_deref()
        .is_some_and(|expected| secrets::equal(expected, &presented))
    {
        return Err(expired());
    }
    pending.external_mut().verifier_checksum = None;
    let authority = LoginAuthority::of_interaction(state, tenant, found).await?;
    let mut request = match pending {
        Pending::Authorize(request) => request,
        Pending::Login {
            return_to,
            mut external,
        } => {
            if !interactions::take(state.data(tenant), found.id).await? {
                return Err(expired());
            }
            if external.rejection.take().is_some() {
                return Err(page(
                    "Sign-in refused",
                    "The sign-in service refused this sign-in.",
                ));
            }
            let (Some(login), Some(user_id)) = (external.login, found.user_id) else {
                return Err(expired());
            };
            let lifetime = login
                .remember_for
                .unwrap_or(tenant.settings.session_lifetime_secs);
            return Ok(Continued {
                step: Step::Redirect(return_to),
                session: Some(NewBrowserSession {
                    user_id,
                    authority,
                    lifetime,
                    authenticated_at: now(),
                }),
            });
        }
    };
    let destination = destination_of(state, tenant, &request);
    if let Some(rejection) = request.external.rejection.take() {
        interactions::take(state.data(tenant), found.id).await?;
        let error = OAuthError::from_rejection(&rejection.error, rejection.description);
        return Err(refuse(&destination, &error));
    }
    let user_id = found.user_id.ok_or_else(expired)?;
    if let Some(consent) = request.external.consent.take() {
        request.scopes = consent.scopes;
        if consent.remember {
            remember_consent(state, tenant, &request, user_id, consent.remember_for).await?;
        }
        let answer = finish(state, tenant, &request, user_id, Some(found.id)).await?;
        return Ok(Continued {
            step: Step::Answer(answer),
            session: None,
        });
    }
    let Some(login) = request.external.login.clone() else {
        return Err(expired());
    };
    let session = Some(NewBrowserSession {
        user_id,
        authority: authority.clone(),
        lifetime: login
            .remember_for
            .unwrap_or(tenant.settings.session_lifetime_secs),
        // The instant the login application's acceptance recorded (`auth_time`).
        authenticated_at: request.authenticated_at.unwrap_or_else(now),
    });
    let application = applications::find_by_id(state.data(tenant), request.application_id)
        .await?
        .ok_or_else(|| page("Unknown application", "The application was removed."))?;
    if needs_consent(state, tenant, &application, &request, user_id).await? {
        let key = found.interaction_key.clone();
        save(
            state,
            tenant,
            found,
            Some(user_id),
            &Pending::Authorize(request),
        )
        .await?;
        // The consent step goes to the application too; if it is gone from the
        // registration and the tenant meanwhile, to Tessera's consent page — never
        // skipped.
        let step = match authority {
            LoginAuthority::External { login_url, .. } => Step::External { key, login_url },
            LoginAuthority::Pages => Step::Consent { key },
        };
        return Ok(Continued { step, session });
    }
    let answer = finish(state, tenant, &request, user_id, Some(found.id)).await?;
    Ok(Continued {
        step: Step::Answer(answer),
        session,
    })
}

/// Stores `pending` (and its user, when given) as interaction `found`'s parameters.
pub(crate) async fn save(
    state: &AppState,
    tenant: &Tenant,
    found: &interaction::Model,
    user_id: Option<i64>,
    pending: &Pending,
) -> Result<(), Error> {
    let parameters = serde_json::to_string(pending)
        .map_err(|error| Error::Corrupt(format!("interaction parameters: {error}")))?;
    interactions::set_parameters(state.data(tenant), found.id, user_id, parameters).await
}

/// The error answer of a request whose redirect URI is trusted.
fn refuse(destination: &Destination, error: &OAuthError) -> Refusal {
    Refusal::Answer(destination.error(error))
}

/// Where the stored request's answer goes.
fn destination_of(
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
async fn finish(
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
    let expires_at = plus_seconds(now(), settings.access_token_lifetime_secs);
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
    let access_token = match (&holder, response_type.token) {
        (Some((application, user)), true) => Some(
            access_token::mint(
                state,
                tenant,
                application,
                Some(&user.subject),
                &scope,
                expires_at,
                request.authenticated_at,
            )
            .await
            .map_err(Refusal::Failed)?,
        ),
        _ => None,
    };
    let id_token = if let (Some((application, user)), true) = (&holder, response_type.id_token) {
        let granted = Scopes::from_stored(&scope);
        let authentication = id_token::Authentication {
            subject: &user.subject,
            auth_time: request.authenticated_at,
            acr: request.acr.as_deref(),
            amr: request.amr.as_deref(),
            nonce: request.nonce.as_deref(),
            access_token: access_token.as_deref(),
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
    let (id_token, id_token_record) = match id_token {
        Some(signed) => (Some(signed.token), Some(signed.record)),
        None => (None, None),
    };
    if let Some(access_token) = &access_token {
        tokens::issue_access_only(
            state.data(tenant),
            NewAccessToken {
                token_checksum: checksum(access_token),
                application_id: request.application_id,
                user_id: Some(user_id),
                scope: scope.clone(),
                expires_at,
                source_refresh_token_id: None,
                authorization_code_id: None,
                id_token: id_token_record,
            },
        )
        .await?;
        answer.push(("access_token", access_token.clone()));
        answer.push(("token_type", "Bearer".to_owned()));
        answer.push(("expires_in", seconds_until(expires_at).to_string()));
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

/// The application an interaction is for (its name on the consent page).
pub async fn application_of(
    state: &AppState,
    tenant: &Tenant,
    application_id: i64,
) -> Result<Option<application::Model>, Error> {
    applications::find_by_id(state.data(tenant), application_id).await
}

/// The application interaction `found` is for, if any (the login and sign-up pages
/// say whom the user signs in to, in that client's templates).
pub async fn application_for(
    state: &AppState,
    tenant: &Tenant,
    found: &interaction::Model,
) -> Result<Option<application::Model>, Error> {
    match found.application_id {
        Some(id) => application_of(state, tenant, id).await,
        None => Ok(None),
    }
}
