//! Consent (DOT's `approval_prompt`, OIDC's `prompt=consent`): whether the user must
//! still approve, and remembering an approval.

use entity::application;

use crate::error::Error;
use crate::settings::ApprovalPrompt;
use crate::state::AppState;
use crate::store::consents;
use crate::tenancy::Tenant;
use crate::time::{now, plus_seconds};

use super::request::AuthorizationRequest;

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
pub(super) async fn remember_consent(
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
