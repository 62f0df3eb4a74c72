//! Authorization code grant at the token endpoint (RFC 6749 §4.1.3, RFC 7636 §4.6).
//!
//! The code must belong to this tenant and client, be unexpired and unused; the
//! `redirect_uri` must equal the authorization request's when that one named it; the
//! PKCE verifier must match the challenge, and a verifier for a code issued without a
//! challenge is refused (downgrade). The code is consumed in the transaction that
//! stores the tokens; a used code revokes what it minted (§4.1.2).

use crate::grants::TokenResponse;
use crate::oauth::client_auth::Client;
use crate::oauth::error::OAuthError;
use crate::oauth::id_token::{self, Authentication};
use crate::oauth::issuance::Prepared;
use crate::oauth::scope::Scopes;
use crate::oauth::{pkce, redirect_uri};
use crate::registration::{ClientType, GrantType};
use crate::secrets::{checksum, prefix};
use crate::state::AppState;
use crate::store::authorization_codes::{self, Redemption};
use crate::tenancy::Tenant;
use crate::time::now;

/// The token request's parameters for this grant.
pub struct Presented<'a> {
    /// The code.
    pub code: &'a str,
    /// `redirect_uri`, if sent.
    pub redirect_uri: Option<&'a str>,
    /// `code_verifier`, if sent.
    pub code_verifier: Option<&'a str>,
}

/// Exchanges a code for an access token (and a refresh token when the client holds
/// that grant).
pub async fn grant(
    state: &AppState,
    tenant: &Tenant,
    client: &Client,
    presented: Presented<'_>,
) -> Result<TokenResponse, OAuthError> {
    let invalid = || OAuthError::invalid_grant("the authorization code is invalid or expired");
    if !presented.code.starts_with(prefix::AUTHORIZATION_CODE) || presented.code.len() > 100 {
        return Err(invalid());
    }
    let (code, approver) =
        authorization_codes::find_with_user(state.data(tenant), &checksum(presented.code))
            .await?
            .ok_or_else(invalid)?;
    // A code of another client is unknown to this one (and revokes nothing).
    if code.application_id != client.application.id {
        return Err(invalid());
    }
    if code.consumed_at.is_some() {
        authorization_codes::revoke_minted(state.data(tenant), &code).await?;
        return Err(replayed(state, tenant, client));
    }
    if code.expires_at <= now() {
        return Err(invalid());
    }
    let application = &client.application;
    match (code.redirect_uri.as_str(), presented.redirect_uri) {
        ("", None) => {}
        ("", Some(uri))
            if redirect_uri::find_registered(&application.redirect_uris, uri).is_some() => {}
        (stored, Some(uri)) if stored == uri => {}
        _ => {
            return Err(OAuthError::invalid_grant(
                "redirect_uri must be identical to the authorization request's (RFC 6749 §4.1.3)",
            ));
        }
    }
    match (
        code.code_challenge.as_deref(),
        code.code_challenge_method.as_deref(),
        presented.code_verifier,
    ) {
        (Some(challenge), Some(method), Some(verifier))
            if !pkce::verify(verifier, challenge, method) =>
        {
            return Err(OAuthError::invalid_grant(
                "code_verifier does not match the code_challenge (RFC 7636 §4.6)",
            ));
        }
        // A challenge is always stored with its method; a row without is corrupt.
        (Some(_), None, _) => return Err(invalid()),
        (Some(_), _, None) => {
            return Err(OAuthError::invalid_grant(
                "code_verifier is required: the authorization request sent a code_challenge",
            ));
        }
        (None, _, Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "a code_verifier was sent for a code issued without code_challenge",
            ));
        }
        (None, _, None) if application.client_type == ClientType::Public.as_str() => {
            return Err(invalid());
        }
        _ => {}
    }
    // A user deactivated or deleted since they approved gets nothing (read with the code).
    let Some(user) = approver.filter(|user| user.is_active) else {
        return Err(invalid());
    };
    let allowed = Scopes::from_stored(&application.allowed_scopes);
    let scopes = Scopes::from_stored(&code.scope).still_grantable(&tenant.settings, &allowed);
    if scopes.is_empty() {
        return Err(OAuthError::invalid_grant(
            "no scope of this code is granted any more",
        ));
    }
    let mut prepared = Prepared::new(
        tenant,
        application.id,
        Some(code.user_id),
        scopes.to_string(),
        state
            .policies
            .allows_grant_type(tenant, &client.application, GrantType::RefreshToken),
        Some(code.id),
    )?
    .in_format(
        state,
        tenant,
        application,
        Some(&user.subject),
        code.auth_time,
    )
    .await?;
    if let Some(refresh) = &mut prepared.refresh {
        refresh.auth_time = code.auth_time;
        refresh.acr.clone_from(&code.acr);
        refresh.amr.clone_from(&code.amr);
    }
    // OIDC Core §3.1.3.3: an ID token when the grant includes `openid`.
    if scopes.contains(id_token::OPENID) {
        let authentication = Authentication {
            subject: &user.subject,
            auth_time: code.auth_time,
            acr: code.acr.as_deref(),
            amr: code.amr.as_deref(),
            nonce: code.nonce.as_deref(),
            access_token: Some(prepared.access_token()),
            ..Default::default()
        };
        let signed = id_token::issue(
            state,
            tenant,
            application,
            &scopes.to_string(),
            &authentication,
        )
        .await?;
        prepared = prepared.with_id_token(signed);
    }
    match authorization_codes::redeem(
        state.data(tenant),
        &code,
        prepared.access.clone(),
        prepared.refresh.clone(),
    )
    .await?
    {
        Redemption::Minted => Ok(prepared.response()),
        Redemption::Replayed => Err(replayed(state, tenant, client)),
    }
}

/// A code presented twice (RFC 6749 §4.1.2: "the authorization server MUST deny the
/// request and SHOULD revoke … all tokens previously issued based on that
/// authorization code"): a security event.
fn replayed(state: &AppState, tenant: &Tenant, client: &Client) -> OAuthError {
    state.metrics.record(crate::metrics::Event::CodeReplay);
    tracing::warn!(
        target: "tessera::security",
        event = "code_replay",
        tenant = %tenant.slug,
        client_id = %client.application.client_id,
        "authorization code replayed: the tokens issued with it are revoked"
    );
    OAuthError::invalid_grant(
        "the authorization code was used before; the tokens issued with it are revoked",
    )
}
