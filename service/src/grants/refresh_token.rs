//! Refresh token grant (RFC 6749 §6) with rotation and reuse detection
//! (OAuth 2.1 §4.3.1, RFC 9700 §4.14.2).
//!
//! * The token is bound to the client it was issued to.
//! * Scope may only narrow; the refresh token keeps the grant's scope.
//! * Rotation (default): the old token is revoked and a new pair of the same family
//!   issued, in one locked transaction, so of N concurrent refreshes exactly one wins.
//! * Reuse: presenting a rotated token revokes the whole family — unless it is the
//!   immediate predecessor replayed within the grace period, which returns the same
//!   pair again (sealed under the old token, see [`crate::oauth::seal`]).

use entity::refresh_token;

use crate::grants::TokenResponse;
use crate::oauth::access_token;
use crate::oauth::client_auth::Client;
use crate::oauth::error::OAuthError;
use crate::oauth::id_token::{self, Authentication};
use crate::oauth::introspection;
use crate::oauth::scope::Scopes;
use crate::oauth::seal::{self, SealedPair};
use crate::secrets::{OrderedToken, checksum};
use crate::state::AppState;
use crate::store::tokens::{self, NewAccessToken, NewRefreshToken, Rotation};
use crate::tenancy::Tenant;
use crate::time::{now, plus_seconds, seconds_until};

/// Exchanges a refresh token for a new access token (and, rotating, a new refresh
/// token).
pub async fn grant(
    state: &AppState,
    tenant: &Tenant,
    client: &Client,
    presented: &str,
    requested: Option<Scopes>,
) -> Result<TokenResponse, OAuthError> {
    let settings = &tenant.settings;
    let found =
        tokens::find_refresh_token_with_user(state.data(tenant), &checksum(presented)).await?;
    let Some((row, holder)) = found else {
        return Err(OAuthError::invalid_grant("unknown refresh token"));
    };
    if row.application_id != client.application.id {
        return Err(OAuthError::invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    let now = now();
    if let Some(revoked_at) = row.revoked_at {
        return replayed(state, tenant, &row, presented, revoked_at).await;
    }
    if let Some(reason) =
        introspection::refresh_unusable(&row, settings.refresh_token_idle_secs, now)
    {
        return Err(OAuthError::invalid_grant(reason));
    }
    // What the grant may still carry: a scope removed from the tenant's catalogue or
    // from the client's allowed scopes since is no longer minted.
    let allowed = Scopes::from_stored(&client.application.allowed_scopes);
    let original = Scopes::from_stored(&row.scope).still_grantable(settings, &allowed);
    if original.is_empty() {
        return Err(OAuthError::invalid_grant(
            "none of this grant's scopes is allowed any more: authorize again",
        ));
    }
    let grant_scope = original.to_string();
    let scopes = match requested {
        Some(requested) if !requested.is_empty() => {
            if !requested.is_subset(&original) {
                return Err(OAuthError::invalid_scope(
                    "a refresh may only narrow the original scope (RFC 6749 §6) to scopes still allowed",
                ));
            }
            requested
        }
        _ => original,
    };
    // Read with the token, from the primary: a deactivation counts at once, whatever
    // a replica's lag.
    let user = match row.user_id {
        Some(_) => match holder {
            Some(user) if user.is_active => Some(user),
            _ => {
                return Err(OAuthError::invalid_grant(
                    "the resource owner is not active",
                ));
            }
        },
        None => None,
    };

    let scope = scopes.to_string();
    let expires_at = plus_seconds(now, settings.access_token_lifetime_secs);
    let access_token = access_token::mint(
        state,
        tenant,
        &client.application,
        user.as_ref().map(|user| user.subject.as_str()),
        &scope,
        expires_at,
        row.auth_time,
    )
    .await?;
    // OIDC Core §12.2: a refreshed ID token keeps `sub`, `aud`, `auth_time` (and the
    // authentication's `acr` and `amr`), gets a
    // new `iat`, and carries no `nonce`.
    let id_token = match &user {
        Some(user) if scopes.contains(id_token::OPENID) => Some(
            id_token::issue(
                state,
                tenant,
                &client.application,
                &scope,
                &Authentication {
                    subject: &user.subject,
                    auth_time: row.auth_time,
                    acr: row.acr.as_deref(),
                    amr: row.amr.as_deref(),
                    access_token: Some(&access_token),
                    ..Default::default()
                },
            )
            .await?,
        ),
        _ => None,
    };
    let (id_token, id_token_record) = match id_token {
        Some(signed) => (Some(signed.token), Some(signed.record)),
        None => (None, None),
    };
    let access = NewAccessToken {
        token_checksum: checksum(&access_token),
        application_id: row.application_id,
        user_id: row.user_id,
        scope: scope.clone(),
        expires_at,
        source_refresh_token_id: Some(row.id),
        authorization_code_id: None,
        id_token: id_token_record,
    };
    if !settings.rotate_refresh_tokens {
        let Some(issued) = tokens::refresh_in_place(state.data(tenant), &row, access).await? else {
            return Err(OAuthError::invalid_grant("the refresh token was revoked"));
        };
        return Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: seconds_until(issued.expires_at),
            refresh_token: Some(presented.to_owned()),
            scope,
            id_token,
        });
    }

    let refresh_token = access_token::opaque_token(settings, OrderedToken::Refresh, now)?;
    let sealed = if settings.refresh_token_grace_period_secs > 0 {
        Some(seal::seal(
            presented,
            &SealedPair {
                access_token: access_token.clone(),
                refresh_token: refresh_token.clone(),
            },
        )?)
    } else {
        None
    };
    let refresh = NewRefreshToken {
        token_checksum: checksum(&refresh_token),
        family_id: row.family_id.clone(),
        // The grant keeps what it may still carry (never a removed scope again).
        scope: grant_scope,
        expires_at: crate::oauth::issuance::refresh_expiry(settings, now),
        auth_time: row.auth_time,
        acr: row.acr.clone(),
        amr: row.amr.clone(),
    };
    match tokens::rotate(state.data(tenant), &row, access, refresh, sealed).await? {
        Rotation::Rotated => Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: seconds_until(expires_at),
            refresh_token: Some(refresh_token),
            scope,
            id_token,
        }),
        // A concurrent request rotated it first and won. With a grace period this
        // request is a retry like any other and gets the same pair; without one it is
        // refused, without revoking the family (it raced, it did not replay).
        Rotation::AlreadyUsed if settings.refresh_token_grace_period_secs > 0 => {
            match tokens::find_refresh_token(state.data(tenant), &row.token_checksum).await? {
                Some(current) => match current.revoked_at {
                    Some(revoked_at) => {
                        replayed(state, tenant, &current, presented, revoked_at).await
                    }
                    None => Err(OAuthError::invalid_grant(
                        "the refresh token was already used",
                    )),
                },
                None => Err(OAuthError::invalid_grant("unknown refresh token")),
            }
        }
        Rotation::AlreadyUsed => Err(OAuthError::invalid_grant(
            "the refresh token was already used",
        )),
    }
}

/// A revoked or rotated token was presented. Within the grace period, the immediate
/// predecessor of a still-live pair gets that same pair back; anything else is reuse,
/// which revokes the family when reuse protection is on.
async fn replayed(
    state: &AppState,
    tenant: &Tenant,
    row: &refresh_token::Model,
    presented: &str,
    revoked_at: entity::Timestamp,
) -> Result<TokenResponse, OAuthError> {
    let settings = &tenant.settings;
    let in_grace = settings.refresh_token_grace_period_secs > 0
        && plus_seconds(revoked_at, settings.refresh_token_grace_period_secs) > now();
    if in_grace
        && let Some(pair) = row
            .successor_sealed
            .as_deref()
            .and_then(|sealed| seal::open(presented, sealed))
        && let Some(response) = same_pair_if_live(state, tenant, pair).await?
    {
        return Ok(response);
    }
    if settings.refresh_token_reuse_protection {
        tokens::revoke_family(state.data(tenant), row).await?;
        state.metrics.record(crate::metrics::Event::RefreshReuse);
        tracing::warn!(
            target: "tessera::security",
            event = "refresh_reuse",
            tenant = %tenant.slug,
            family = %row.family_id,
            "refresh token reuse detected: family revoked"
        );
    }
    Err(OAuthError::invalid_grant(
        "the refresh token was already used",
    ))
}

/// The sealed successor pair, if both of its tokens are still live (so the
/// predecessor is the *immediate* one and nothing was revoked since).
async fn same_pair_if_live(
    state: &AppState,
    tenant: &Tenant,
    pair: SealedPair,
) -> Result<Option<TokenResponse>, OAuthError> {
    let refresh =
        tokens::find_refresh_token(state.data(tenant), &checksum(&pair.refresh_token)).await?;
    let access =
        tokens::find_access_token(state.data(tenant), &checksum(&pair.access_token)).await?;
    match (refresh, access) {
        (Some(refresh), Some(access))
            if refresh.revoked_at.is_none() && introspection::access_is_live(&access, now()) =>
        {
            Ok(Some(TokenResponse {
                access_token: pair.access_token,
                token_type: "Bearer",
                expires_in: seconds_until(access.expires_at),
                refresh_token: Some(pair.refresh_token),
                scope: access.scope,
                // The retry gets the pair again; its ID token was not kept.
                id_token: None,
            }))
        }
        _ => Ok(None),
    }
}
