//! Device code grant: the device polls the token endpoint (RFC 8628 §3.4, §3.5) until
//! the user decides. `authorization_pending` while waiting; `slow_down` — and an
//! interval 5 s longer from then on — when it polls sooner than the interval;
//! `access_denied` or `expired_token` at the end; tokens once, after which the device
//! code is spent.

use crate::grants::TokenResponse;
use crate::oauth::client_auth::Client;
use crate::oauth::error::OAuthError;
use crate::oauth::issuance::Prepared;
use crate::registration::GrantType;
use crate::secrets::{checksum, prefix};
use crate::state::AppState;
use crate::store::device_grants::{self, Poll, status};
use crate::tenancy::Tenant;

/// One poll.
pub async fn grant(
    state: &AppState,
    tenant: &Tenant,
    client: &Client,
    device_code: &str,
) -> Result<TokenResponse, OAuthError> {
    let invalid = || OAuthError::invalid_grant("the device code is invalid");
    if !device_code.starts_with(prefix::DEVICE_CODE) || device_code.len() > 100 {
        return Err(invalid());
    }
    let row = device_grants::find_by_device_code(state.data(tenant), &checksum(device_code))
        .await?
        .ok_or_else(invalid)?;
    if row.application_id != client.application.id {
        return Err(invalid());
    }
    let prepared = match (row.status.as_str(), row.user_id) {
        (status::APPROVED, Some(user_id)) => Some(Prepared::new(
            tenant,
            row.application_id,
            Some(user_id),
            row.scope.clone(),
            state
                .policies
                .allows_grant_type(tenant, &client.application, GrantType::RefreshToken),
            None,
        )?),
        _ => None,
    };
    let rows = prepared
        .as_ref()
        .map(|prepared| (prepared.access.clone(), prepared.refresh.clone()));
    match device_grants::poll(state.data(tenant), row.id, rows).await? {
        Poll::Pending => Err(OAuthError::AuthorizationPending),
        Poll::SlowDown => Err(OAuthError::SlowDown),
        Poll::Denied => Err(OAuthError::AccessDenied(
            "the user denied the device".to_owned(),
        )),
        Poll::Expired => Err(OAuthError::ExpiredToken),
        Poll::Used => Err(OAuthError::invalid_grant(
            "the device code was used already",
        )),
        Poll::Minted(_) => prepared.map(Prepared::response).ok_or_else(invalid),
    }
}
