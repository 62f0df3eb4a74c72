//! Resuming an interaction with Tessera's own pages: after a login, after a consent.

use crate::oauth::error::OAuthError;
use crate::state::AppState;
use crate::store::applications;
use crate::store::interactions;
use crate::tenancy::Tenant;

use super::answer::{destination_of, finish, refuse};
use super::consent::{needs_consent, remember_consent};
use super::interaction::{Interaction, Pending, pages_decide};
use super::{Refusal, Step, page};

/// A login (or a sign-up) named `user_id` for interaction `found`: a plain login
/// returns to its page; an authorization goes to consent, or straight back to the
/// client.
pub async fn resume_with_login(
    state: &AppState,
    tenant: &Tenant,
    found: &Interaction,
    user_id: i64,
    authenticated_at: entity::Timestamp,
) -> Result<Step, Refusal> {
    pages_decide(state, tenant, found).await?;
    match found.pending().clone() {
        Pending::Login { return_to, .. } => {
            interactions::take(state.data(tenant), found.id()).await?;
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
                let parameters = Pending::Authorize(request).encode()?;
                interactions::set_user(state.data(tenant), found.id(), user_id, parameters).await?;
                return Ok(Step::Consent {
                    key: found.key().to_owned(),
                });
            }
            let answer = finish(state, tenant, &request, user_id, Some(found.id())).await?;
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
    found: &Interaction,
    allow: bool,
) -> Result<Step, Refusal> {
    pages_decide(state, tenant, found).await?;
    let (Pending::Authorize(request), Some(user_id)) = (found.pending(), found.user_id()) else {
        return Err(page(
            "Nothing to approve",
            "This sign-in has no pending authorization. Start again from the application.",
        ));
    };
    let destination = destination_of(state, tenant, request);
    if !allow {
        interactions::take(state.data(tenant), found.id()).await?;
        return Err(refuse(
            &destination,
            &OAuthError::AccessDenied("the user refused the authorization".to_owned()),
        ));
    }
    let lifetime = tenant.settings.consent_lifetime_secs;
    remember_consent(state, tenant, request, user_id, lifetime).await?;
    let answer = finish(state, tenant, request, user_id, Some(found.id())).await?;
    Ok(Step::Answer(answer))
}
