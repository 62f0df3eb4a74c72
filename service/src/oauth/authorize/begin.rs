//! [`begin`]: validates an authorization request and decides the next step.

use std::net::IpAddr;

use entity::application;

use crate::oauth::authorization_response::{Destination, ResponseMode, ResponseType};
use crate::oauth::error::OAuthError;
use crate::oauth::form::Form;
use crate::oauth::id_token;
use crate::oauth::login_authority::LoginAuthority;
use crate::oauth::redirect_uri;
use crate::settings::ApprovalPrompt;
use crate::state::AppState;
use crate::tenancy::Tenant;

use super::answer::{finish, refuse};
use super::consent::needs_consent;
use super::interaction::{Pending, store_pending};
use super::request::{LoginDemands, MAX_ECHOED_CHARS, registration, validate};
use super::{Authenticated, Begun, Refusal, Step, page};

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
