//! The API of an external login and consent application (Hydra's headless model),
//! for tenants and clients with a `login_url`. The authorization endpoint (and a plain
//! sign-in of such a tenant) sends the browser to that URL with `interaction_id`; the
//! application, authenticated as the confidential client bound to that URL
//! (`login_client_id`, listing the `interactions` scope), reads the interaction, then
//! accepts the login (naming the user), accepts the consent (granting scopes) or
//! rejects, and each time gets a `redirect_to` to send the browser back to. The browser's return carries a single-use verifier and must come
//! from the browser that started (the interaction's cookie), so an answer cannot be
//! replayed into another browser.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::application_fields::{Visibility, document_of};
use crate::error::Error;
use crate::oauth::authorize::{
    self, ExternalConsent, ExternalLogin, ExternalRejection, Interaction, Pending,
};
use crate::oauth::client_auth::{AuthMethod, Client};
use crate::oauth::error::{OAuthError, REJECTION_CODES};
use crate::oauth::login_authority::LoginAuthority;
use crate::secrets::{self, checksum, prefix};
use crate::state::AppState;
use crate::store::users;
use crate::tenancy::Tenant;
use crate::time::{now, unix_seconds};

/// The scope a client must list (explicitly, in its allowed scopes) to drive
/// interactions.
pub const INTERACTIONS_SCOPE: &str = "interactions";

/// Whether `client` may use this API at all: confidential, listing
/// [`INTERACTIONS_SCOPE`]. Which interactions it drives is [`may_drive_this`]'s.
pub fn may_drive(client: &Client) -> Result<(), OAuthError> {
    if client.method == AuthMethod::None {
        return Err(OAuthError::InvalidClient);
    }
    let listed = client
        .application
        .allowed_scopes
        .split_whitespace()
        .any(|scope| scope == INTERACTIONS_SCOPE);
    if listed {
        Ok(())
    } else {
        Err(OAuthError::InsufficientScope(INTERACTIONS_SCOPE))
    }
}

/// Whether `client` is the login application bound to interaction `found`: the
/// `login_client_id` beside the `login_url` that decides it (its client's, else the
/// tenant's). Interactions Tessera's own pages decide, and those of another login
/// application, are refused (403): a partner's credential signs no one in anywhere
/// else.
pub async fn may_drive_this(
    state: &AppState,
    tenant: &Tenant,
    client: &Client,
    found: &Interaction,
) -> Result<(), OAuthError> {
    let authority = LoginAuthority::of_application(state, tenant, found.application_id()).await?;
    if authority.is_driven_by(&client.application.client_id) {
        return Ok(());
    }
    tracing::warn!(
        tenant = %tenant.slug,
        client_id = %client.application.client_id,
        "a login application tried to drive an interaction it is not bound to"
    );
    Err(OAuthError::Forbidden(match authority {
        LoginAuthority::Pages => {
            "this interaction is decided on the service's own pages".to_owned()
        }
        LoginAuthority::External { client_id, .. } if client_id.is_empty() => {
            "no credential is bound to this interaction's login application: set its \
             login_client_id"
                .to_owned()
        }
        LoginAuthority::External { .. } => {
            "this credential is not the login application of this interaction".to_owned()
        }
    }))
}

/// The client an interaction is for, as the application sees it.
#[derive(Debug, Serialize)]
pub struct ClientDescription {
    /// Its client_id.
    pub client_id: String,
    /// Its display name.
    pub name: String,
    /// Its `public` extension fields.
    pub fields: Map<String, Value>,
}

/// An interaction as the application reads it (`GET …/interactions/{id}`).
#[derive(Debug, Serialize)]
pub struct Description {
    /// The interaction's id.
    pub interaction_id: String,
    /// `login` or `consent`: what is asked now.
    pub step: &'static str,
    /// `authorization` (a client asks for an authorization) or `sign_in` (a plain
    /// sign-in to the service's own pages: no consent step, no tokens).
    pub kind: &'static str,
    /// The application may answer without showing anything: at the login step, the
    /// browser has a live session of `subject` that this application signed in; at
    /// the consent step, a remembered consent (or the client's `skip_authorization`)
    /// covers the scopes.
    pub skip: bool,
    /// The user, once known (a live session, or the accepted login).
    pub subject: Option<String>,
    /// The client asking (for a plain sign-in: the client of the device code being
    /// approved, if any).
    pub client: Option<ClientDescription>,
    /// The scopes requested.
    pub requested_scope: Vec<String>,
    /// The request's `prompt` values (`login`, `consent`, `create`, …).
    pub prompt: Vec<String>,
    /// The request's `login_hint`.
    pub login_hint: Option<String>,
    /// When the interaction expires (seconds since the epoch).
    pub expires_at: i64,
}

/// What [`describe`] and the answers read about the interaction's user.
async fn subject_of(
    state: &AppState,
    tenant: &Tenant,
    user_id: Option<i64>,
) -> Result<Option<String>, Error> {
    let Some(user_id) = user_id else {
        return Ok(None);
    };
    Ok(users::find_by_id(state.data(tenant), user_id)
        .await?
        .map(|user| user.subject))
}

/// Describes interaction `found` for the application.
pub async fn describe(
    state: &AppState,
    tenant: &Tenant,
    found: &Interaction,
) -> Result<Description, OAuthError> {
    let pending = found.pending();
    let application = authorize::application_for(state, tenant, found).await?;
    let client = application.as_ref().map(|application| ClientDescription {
        fields: tenant
            .fields
            .visible(&document_of(&application.extensions), Visibility::Public),
        client_id: application.client_id.clone(),
        name: application.name.clone(),
    });
    let at_login = pending.external().login.is_none();
    let (kind, skip, requested_scope, prompt, login_hint) = match pending {
        Pending::Authorize(request) => {
            let application = application
                .as_ref()
                .ok_or_else(|| OAuthError::invalid_request("the client was removed"))?;
            let skip = match (at_login, found.user_id()) {
                (true, user_id) => {
                    user_id.is_some() && !request.prompt.iter().any(|p| p == "login")
                }
                (false, Some(user_id)) => {
                    !authorize::needs_consent(state, tenant, application, request, user_id).await?
                }
                (false, None) => false,
            };
            (
                "authorization",
                skip,
                request.scopes.iter().cloned().collect(),
                request.prompt.clone(),
                request.login_hint.clone(),
            )
        }
        Pending::Login { .. } => ("sign_in", false, Vec::new(), Vec::new(), None),
    };
    Ok(Description {
        interaction_id: found.key().to_owned(),
        step: if at_login { "login" } else { "consent" },
        kind,
        skip,
        subject: subject_of(state, tenant, found.user_id()).await?,
        client,
        requested_scope,
        prompt,
        login_hint,
        expires_at: unix_seconds(found.expires_at()),
    })
}

/// `POST …/login`: who signed in.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginAcceptance {
    /// The user's subject (`sub`), or …
    pub subject: Option<String>,
    /// … their username.
    pub username: Option<String>,
    /// How long the browser session lasts, in seconds [default: the tenant's
    /// `session_lifetime_secs`].
    pub remember_for: Option<u64>,
    /// Authentication context class (OIDC Core §2 `acr`), put in the ID tokens of
    /// this authorization and of its refreshes.
    pub acr: Option<String>,
    /// Authentication methods (OIDC Core §2 `amr`, values as in RFC 8176: `pwd`,
    /// `otp`, `hwk`, …), put there likewise.
    pub amr: Option<Vec<String>>,
}

/// Longest `acr`, and longest `amr` list written out (the columns' size).
const MAX_CONTEXT_CHARS: usize = 255;

/// Most `amr` values.
const MAX_METHODS: usize = 10;

/// `acr` and `amr` as stored (`amr` space-separated), or why they are refused.
fn authentication_context(
    acr: Option<String>,
    amr: Option<Vec<String>>,
) -> Result<(Option<String>, Option<String>), OAuthError> {
    let token_like =
        |text: &str| !text.is_empty() && !text.chars().any(|c| c.is_whitespace() || c.is_control());
    if let Some(acr) = &acr
        && (!token_like(acr) || acr.chars().count() > MAX_CONTEXT_CHARS)
    {
        return Err(OAuthError::invalid_request(format!(
            "acr: 1 to {MAX_CONTEXT_CHARS} characters without spaces"
        )));
    }
    let methods = amr.unwrap_or_default();
    if methods.len() > MAX_METHODS || !methods.iter().all(|method| token_like(method)) {
        return Err(OAuthError::invalid_request(format!(
            "amr: at most {MAX_METHODS} values, each without spaces (RFC 8176: pwd, otp, …)"
        )));
    }
    let amr = methods.join(" ");
    if amr.chars().count() > MAX_CONTEXT_CHARS {
        return Err(OAuthError::invalid_request(format!(
            "amr: at most {MAX_CONTEXT_CHARS} characters in all"
        )));
    }
    Ok((acr, (!amr.is_empty()).then_some(amr)))
}

/// `POST …/consent`: what the user granted.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentAcceptance {
    /// The scopes granted: some or all of those requested.
    pub grant_scope: Vec<String>,
    /// Remember the consent [default: true].
    pub remember: Option<bool>,
    /// For this many seconds [default: the tenant's `consent_lifetime_secs`].
    pub remember_for: Option<u64>,
}

/// `POST …/reject`: why not.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RejectionRequest {
    /// `access_denied`, `login_required` or `consent_required`.
    pub error: String,
    /// Told to the client.
    pub error_description: Option<String>,
}

/// Where the application sends the browser: Tessera's continue URL with a fresh
/// verifier, whose checksum is stored with the answer.
fn continue_url(
    state: &AppState,
    tenant: &Tenant,
    found: &Interaction,
    pending: &mut Pending,
) -> Result<String, Error> {
    let verifier = secrets::generate(prefix::INTERACTION_VERIFIER)?;
    pending.external_mut().verifier_checksum = Some(checksum(&verifier));
    Ok(format!(
        "{}/interactions/{}/continue?verifier={verifier}",
        state.config.issuer(&tenant.slug),
        found.key()
    ))
}

/// Refuses an answer to an interaction already answered (or rejected).
fn check_open(pending: &Pending) -> Result<(), OAuthError> {
    let external = pending.external();
    if external.rejection.is_some() || external.consent.is_some() {
        return Err(OAuthError::invalid_request(
            "this interaction was answered already",
        ));
    }
    Ok(())
}

/// Accepts the login: the interaction now names the user.
pub async fn accept_login(
    state: &AppState,
    tenant: &Tenant,
    found: &Interaction,
    mut pending: Pending,
    acceptance: LoginAcceptance,
) -> Result<String, OAuthError> {
    check_open(&pending)?;
    if pending.external().login.is_some() {
        return Err(OAuthError::invalid_request(
            "the login was accepted already: answer the consent step",
        ));
    }
    let (acr, amr) = authentication_context(acceptance.acr, acceptance.amr)?;
    let user = match (&acceptance.subject, &acceptance.username) {
        (Some(subject), None) => users::find_by_subject(state.data(tenant), subject).await?,
        (None, Some(username)) => {
            users::find_by_username(
                state.data(tenant),
                username,
                tenant.settings.usernames_ignore_case,
            )
            .await?
        }
        _ => {
            return Err(OAuthError::invalid_request(
                "name the user with subject or username (one of them)",
            ));
        }
    }
    .filter(|user| user.is_active)
    .ok_or_else(|| OAuthError::invalid_request("no active user of this tenant is named so"))?;
    if let Pending::Authorize(request) = &mut pending {
        // The session's user, kept: its authentication time stands. Anyone else
        // authenticated just now.
        if found.user_id() != Some(user.id) || request.authenticated_at.is_none() {
            request.authenticated_at = Some(now());
        }
        // What this login application says of this authentication (a skipped login
        // says it again, or nothing).
        request.acr = acr;
        request.amr = amr;
    }
    pending.external_mut().login = Some(ExternalLogin {
        remember_for: acceptance.remember_for,
    });
    let redirect_to = continue_url(state, tenant, found, &mut pending)?;
    authorize::save(state, tenant, found, Some(user.id), &pending).await?;
    Ok(redirect_to)
}

/// Accepts the consent for some or all of the requested scopes.
pub async fn accept_consent(
    state: &AppState,
    tenant: &Tenant,
    found: &Interaction,
    mut pending: Pending,
    acceptance: ConsentAcceptance,
) -> Result<String, OAuthError> {
    check_open(&pending)?;
    let Pending::Authorize(request) = &mut pending else {
        return Err(OAuthError::invalid_request(
            "a plain sign-in has no consent step: accept the login",
        ));
    };
    if request.external.login.is_none() || found.user_id().is_none() {
        return Err(OAuthError::invalid_request(
            "accept the login first (the interaction's step is login)",
        ));
    }
    let granted: BTreeSet<String> = acceptance.grant_scope.into_iter().collect();
    if let Some(extra) = granted
        .iter()
        .find(|scope| !request.scopes.contains(*scope))
    {
        return Err(OAuthError::InvalidScope(format!(
            "{extra:?} was not requested: grant some or all of {}",
            request.scopes.iter().cloned().collect::<Vec<_>>().join(" ")
        )));
    }
    request.external.consent = Some(ExternalConsent {
        scopes: granted,
        remember: acceptance.remember.unwrap_or(true),
        remember_for: acceptance
            .remember_for
            .or(tenant.settings.consent_lifetime_secs),
    });
    let redirect_to = continue_url(state, tenant, found, &mut pending)?;
    authorize::save(state, tenant, found, None, &pending).await?;
    Ok(redirect_to)
}

/// Rejects the request: the client gets the error (a plain sign-in: the browser is
/// told the sign-in was refused).
pub async fn reject(
    state: &AppState,
    tenant: &Tenant,
    found: &Interaction,
    mut pending: Pending,
    rejection: RejectionRequest,
) -> Result<String, OAuthError> {
    check_open(&pending)?;
    if !REJECTION_CODES.contains(&rejection.error.as_str()) {
        return Err(OAuthError::invalid_request(format!(
            "error {:?}: use one of {}",
            rejection.error,
            REJECTION_CODES.join(", ")
        )));
    }
    // RFC 6749 §4.1.2.1: error_description is %x20-21 / %x23-5B / %x5D-7E.
    if let Some(description) = &rejection.error_description
        && (description.len() > 500
            || !description
                .bytes()
                .all(|byte| (0x20..=0x7e).contains(&byte) && byte != b'"' && byte != b'\\'))
    {
        return Err(OAuthError::invalid_request(
            "error_description: at most 500 printable ASCII characters, without \" or \\",
        ));
    }
    pending.external_mut().rejection = Some(ExternalRejection {
        error: rejection.error,
        description: rejection.error_description,
    });
    let redirect_to = continue_url(state, tenant, found, &mut pending)?;
    authorize::save(state, tenant, found, None, &pending).await?;
    Ok(redirect_to)
}
