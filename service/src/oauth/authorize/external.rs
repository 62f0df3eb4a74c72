//! Continuing an interaction the external login and consent application answered
//! (`…/interactions/{id}/continue`).

use crate::oauth::error::OAuthError;
use crate::oauth::login_authority::LoginAuthority;
use crate::secrets::{self, checksum};
use crate::state::AppState;
use crate::store::applications;
use crate::store::interactions;
use crate::tenancy::Tenant;
use crate::time::now;

use super::answer::{destination_of, finish, refuse};
use super::consent::{needs_consent, remember_consent};
use super::interaction::{Interaction, Pending, save};
use super::{Refusal, Step, page};

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
    found: &Interaction,
    verifier: &str,
) -> Result<Continued, Refusal> {
    let expired = || {
        page(
            "Start again",
            "This sign-in was already used or has expired. Go back to the application.",
        )
    };
    let mut pending = found.pending().clone();
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
    let authority = LoginAuthority::of_application(state, tenant, found.application_id()).await?;
    let mut request = match pending {
        Pending::Authorize(request) => request,
        Pending::Login {
            return_to,
            mut external,
        } => {
            if !interactions::take(state.data(tenant), found.id()).await? {
                return Err(expired());
            }
            if external.rejection.take().is_some() {
                return Err(page(
                    "Sign-in refused",
                    "The sign-in service refused this sign-in.",
                ));
            }
            let (Some(login), Some(user_id)) = (external.login, found.user_id()) else {
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
        interactions::take(state.data(tenant), found.id()).await?;
        let error = OAuthError::from_rejection(&rejection.error, rejection.description);
        return Err(refuse(&destination, &error));
    }
    let user_id = found.user_id().ok_or_else(expired)?;
    if let Some(consent) = request.external.consent.take() {
        request.scopes = consent.scopes;
        if consent.remember {
            remember_consent(state, tenant, &request, user_id, consent.remember_for).await?;
        }
        let answer = finish(state, tenant, &request, user_id, Some(found.id())).await?;
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
        let key = found.key().to_owned();
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
    let answer = finish(state, tenant, &request, user_id, Some(found.id())).await?;
    Ok(Continued {
        step: Step::Answer(answer),
        session,
    })
}
