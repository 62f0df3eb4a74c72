//! Token liveness and introspection (RFC 7662 §2.2). One definition of "live" serves
//! the introspection answer and the bearer token that authorizes an introspection
//! call: not revoked, not expired (refresh tokens: not idle too long either), its
//! client still registered, and its user, if any, still present and active — the
//! user read from the users group's primary, never a replica, so a deactivation
//! counts at once (docs/security.md). What introspection and UserInfo read may come
//! from the node's token cache instead, only while Redis confirms that nothing it
//! depends on was revoked since (`store::token_cache`, `shared::revocations`).

use entity::{access_token, application, refresh_token, user};
use serde::Serialize;

use crate::application_fields::Exposure;
use crate::error::Error;
use crate::oauth::error::OAuthError;
use crate::oauth::scope::{INTROSPECTION_SCOPE, Scopes};
use crate::policy::ClaimsFor;
use crate::secrets::{checksum, prefix};
use crate::state::AppState;
use crate::store::token_cache::AccessRead;
use crate::store::{applications, tokens, users};
use crate::tenancy::Tenant;
use crate::time::{now, unix_seconds};

/// An introspection answer (RFC 7662 §2.2).
#[derive(Debug, Default, Serialize)]
pub struct Introspection {
    /// Whether the token is active.
    pub active: bool,
    /// Space-separated scopes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The client it was issued to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The resource owner's username.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The resource owner's subject (the ID token's `sub`), or the client_id for
    /// client credentials tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// `Bearer` for access tokens, `refresh_token` for refresh tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    /// Expiry, seconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Issue time, seconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// The tenant's issuer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// The client's extension fields exposed in introspection answers.
    #[serde(flatten)]
    pub extension: serde_json::Map<String, serde_json::Value>,
}

/// What a token row grants, whichever table it came from.
struct Grant {
    application_id: i64,
    user_id: Option<i64>,
    /// That user's row, read with the token (`None`: not read, or gone).
    user: Option<user::Model>,
    scope: String,
    token_type: &'static str,
    expires_at: Option<entity::Timestamp>,
    issued_at: entity::Timestamp,
}

impl Grant {
    fn of_access(token: access_token::Model) -> Self {
        Self {
            application_id: token.application_id,
            user_id: token.user_id,
            user: None,
            scope: token.scope,
            token_type: "Bearer",
            expires_at: Some(token.expires_at),
            issued_at: token.created_at,
        }
    }

    fn of_refresh(token: refresh_token::Model, user: Option<user::Model>) -> Self {
        Self {
            application_id: token.application_id,
            user_id: token.user_id,
            user,
            scope: token.scope,
            token_type: "refresh_token",
            expires_at: token.expires_at,
            issued_at: token.created_at,
        }
    }
}

/// Who holds a live grant, as read now.
struct Holder {
    client_id: String,
    /// The client's stored extension fields.
    extensions: String,
    user: Option<user::Model>,
    sub: String,
}

/// The client_id and stored extension fields of the tenant's application
/// `application_id` (`None`: deleted), read from the primary unless it is `known`
/// (the authenticated caller).
async fn client_of(
    state: &AppState,
    tenant: &Tenant,
    application_id: i64,
    known: Option<&application::Model>,
) -> Result<Option<(String, String)>, Error> {
    Ok(match known.filter(|known| known.id == application_id) {
        Some(known) => Some((known.client_id.clone(), known.extensions.clone())),
        None => applications::find_by_id(state.data(tenant), application_id)
            .await?
            .map(|application| (application.client_id, application.extensions)),
    })
}

/// The holder of `grant` if its client is still registered and its user, if any, is
/// present and active (both read from the primary). `known` is a client already
/// loaded (the authenticated caller), saving a read when it is the grant's.
async fn holder_if_live(
    state: &AppState,
    tenant: &Tenant,
    grant: &Grant,
    known: Option<&application::Model>,
) -> Result<Option<Holder>, Error> {
    let Some((client_id, extensions)) =
        client_of(state, tenant, grant.application_id, known).await?
    else {
        return Ok(None);
    };
    let Some(user_id) = grant.user_id else {
        return Ok(Some(Holder {
            sub: client_id.clone(),
            client_id,
            extensions,
            user: None,
        }));
    };
    let user = match grant.user.as_ref().filter(|user| user.id == user_id) {
        Some(user) => Some(user.clone()),
        None => users::find_by_id(state.data(tenant), user_id).await?,
    };
    Ok(match user {
        // `sub` is the stored, opaque subject that ID tokens carry (OIDC Core §2),
        // never the row id.
        Some(user) if user.is_active => Some(Holder {
            client_id,
            extensions,
            sub: user.subject.clone(),
            user: Some(user),
        }),
        _ => None,
    })
}

/// What a caller of [`live_access`] expects, which decides how the token is read
/// on a miss of the node's token cache (`store::token_cache`, used while the
/// revocation stamps hold).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expecting {
    /// Any access token (introspection, a bearer caller): read alone, then its
    /// client and user. Joined to users, a client's own token (client credentials,
    /// no user) cost 22 µs more per read (sea-orm decodes the user's columns, all
    /// NULL; docs/benchmarks.md).
    AnyToken,
    /// A user's token (the UserInfo endpoint): read with its user in one statement
    /// where tokens and users share a pool, one round trip fewer.
    UserToken,
}

/// The access token `token` of `tenant` with its holder, if it is live.
async fn live_access(
    state: &AppState,
    tenant: &Tenant,
    token: &str,
    known: Option<&application::Model>,
    expecting: Expecting,
) -> Result<Option<(Grant, Holder)>, Error> {
    let checksum = checksum(token);
    let read = state
        .access_tokens
        .access_token(state.data(tenant), &checksum, |to_store| {
            // A stored read serves every caller: its client is read, not taken
            // from this caller's (possibly older) registration.
            let known = known.filter(|_| !to_store);
            read_access(state, tenant, &checksum, known, expecting)
        })
        .await?;
    Ok(read.and_then(|read| live_in(&read)))
}

/// What introspection needs to know about the access token with `checksum`, read
/// from the primary: the row, and unless it is revoked or expired (for good), its
/// client (`known` saves the read when it is the caller) and its user.
async fn read_access(
    state: &AppState,
    tenant: &Tenant,
    checksum: &str,
    known: Option<&application::Model>,
    expecting: Expecting,
) -> Result<Option<AccessRead>, Error> {
    let data = state.data(tenant);
    let found = match expecting {
        Expecting::AnyToken => tokens::find_access_token(data, checksum)
            .await?
            .map(|row| (row, None)),
        Expecting::UserToken => tokens::find_access_token_with_user(data, checksum).await?,
    };
    let Some((token, joined_user)) = found else {
        return Ok(None);
    };
    if !access_is_live(&token, now()) {
        return Ok(Some(AccessRead {
            token,
            client: None,
            user: None,
        }));
    }
    let client = client_of(state, tenant, token.application_id, known).await?;
    let user = match (token.user_id, &client) {
        (Some(user_id), Some(_)) => match joined_user.filter(|user| user.id == user_id) {
            Some(user) => Some(user),
            None => users::find_by_id(data, user_id).await?,
        },
        _ => None,
    };
    Ok(Some(AccessRead {
        token,
        client,
        user,
    }))
}

/// The grant and holder of a read access token, if it is live now: not revoked,
/// not expired, its client registered, its user (if any) present and active.
fn live_in(read: &AccessRead) -> Option<(Grant, Holder)> {
    if !access_is_live(&read.token, now()) {
        return None;
    }
    let (client_id, extensions) = read.client.clone()?;
    let user = match read.token.user_id {
        None => None,
        Some(user_id) => Some(
            read.user
                .as_ref()
                .filter(|user| user.id == user_id && user.is_active)?
                .clone(),
        ),
    };
    let holder = Holder {
        sub: user
            .as_ref()
            .map_or_else(|| client_id.clone(), |user| user.subject.clone()),
        client_id,
        extensions,
        user,
    };
    Some((Grant::of_access(read.token.clone()), holder))
}

/// A bearer caller of the introspection endpoint must hold a live access token of
/// this tenant (by the same definition introspection uses) with the `introspection`
/// scope; RFC 6750 §3.1 errors otherwise.
pub async fn authorize_bearer(
    state: &AppState,
    tenant: &Tenant,
    bearer: &str,
) -> Result<(), OAuthError> {
    let Some((grant, _)) = live_access(state, tenant, bearer, None, Expecting::AnyToken).await?
    else {
        return Err(OAuthError::InvalidToken);
    };
    if !Scopes::from_stored(&grant.scope).contains(INTROSPECTION_SCOPE) {
        return Err(OAuthError::InsufficientScope(INTROSPECTION_SCOPE));
    }
    Ok(())
}

/// The client_id holding the live access token `bearer` of `tenant` (by the
/// definition introspection uses) if it carries `scope`; RFC 6750 §3.1 errors
/// otherwise (the admin API's callers).
pub async fn bearer_client_with_scope(
    state: &AppState,
    tenant: &Tenant,
    bearer: &str,
    scope: &'static str,
) -> Result<String, OAuthError> {
    let Some((grant, holder)) =
        live_access(state, tenant, bearer, None, Expecting::AnyToken).await?
    else {
        return Err(OAuthError::InvalidToken);
    };
    if !Scopes::from_stored(&grant.scope).contains(scope) {
        return Err(OAuthError::InsufficientScope(scope));
    }
    Ok(holder.client_id)
}

/// Whether `client` may introspect tokens issued to other clients: it lists the
/// `introspection` scope in its allowed scopes (explicitly; the tenant's catalogue,
/// an empty list, never includes it).
pub fn may_introspect_any(client: &application::Model) -> bool {
    client
        .allowed_scopes
        .split_whitespace()
        .any(|scope| scope == INTROSPECTION_SCOPE)
}

/// A live access token held for a user, as the UserInfo endpoint needs it.
pub struct UserToken {
    /// The scopes granted.
    pub scopes: Scopes,
    /// The user (read from the primary).
    pub user: user::Model,
    /// The client's stored extension fields.
    pub client_extensions: String,
    /// The client's id.
    pub client_id: String,
    /// The scopes granted, as stored (space-separated).
    pub scope: String,
}

/// The user and scopes of a live access token held for a user (the UserInfo
/// endpoint's bearer, OIDC Core §5.3); `None` for anything else, client credentials
/// tokens included.
pub async fn live_user_token(
    state: &AppState,
    tenant: &Tenant,
    token: &str,
) -> Result<Option<UserToken>, Error> {
    Ok(
        live_access(state, tenant, token, None, Expecting::UserToken)
            .await?
            .and_then(|(grant, holder)| {
                holder.user.map(|user| UserToken {
                    scopes: Scopes::from_stored(&grant.scope),
                    user,
                    client_extensions: holder.extensions,
                    client_id: holder.client_id,
                    scope: grant.scope,
                })
            }),
    )
}

/// Describes `token` if it is live. The table its prefix names is looked in first
/// (`token_type_hint` is not needed: the prefix is authoritative for tokens Tessera
/// minted), then the other. Refresh tokens are described only to the client that
/// holds them, access tokens to a client listing the `introspection` scope or to
/// the client they were issued to (RFC 7662 §4). `caller` is the authenticated
/// client, `None` for a bearer caller (who holds the scope). Anything else is exactly
/// `{"active": false}`.
pub async fn inspect(
    state: &AppState,
    tenant: &Tenant,
    token: &str,
    caller: Option<&application::Model>,
) -> Result<Introspection, Error> {
    let refresh_first = token.starts_with(prefix::REFRESH_TOKEN);
    let mut live = None;
    for look_in_refresh in [refresh_first, !refresh_first] {
        live = if look_in_refresh {
            live_refresh(state, tenant, token, caller).await?
        } else {
            live_access(state, tenant, token, caller, Expecting::AnyToken).await?
        };
        if live.is_some() {
            break;
        }
    }
    let Some((grant, holder)) = live else {
        return Ok(Introspection::default());
    };
    // RFC 7662 §4: the server decides who may learn what. A client that lists the
    // `introspection` scope (a resource server) may ask about any token of the
    // tenant; any other client only about its own tokens — otherwise every client
    // could read the username and subject behind any token it gets hold of.
    if let Some(caller) = caller
        && !may_introspect_any(caller)
        && holder.client_id != caller.client_id
    {
        return Ok(Introspection::default());
    }
    let mut extension = state.policies.extra_claims(&ClaimsFor {
        tenant,
        client_id: &holder.client_id,
        subject: Some(holder.sub.as_str()).filter(|_| holder.user.is_some()),
        scope: &grant.scope,
        target: Exposure::Introspection,
    });
    extension.extend(
        tenant
            .fields
            .claims_of(&holder.extensions, Exposure::Introspection),
    );
    Ok(Introspection {
        active: true,
        scope: Some(grant.scope),
        client_id: Some(holder.client_id),
        username: holder.user.map(|user| user.username),
        sub: Some(holder.sub),
        token_type: Some(grant.token_type),
        exp: grant.expires_at.map(unix_seconds),
        iat: Some(unix_seconds(grant.issued_at)),
        iss: Some(state.config.issuer(&tenant.slug)),
        extension,
    })
}

/// The refresh token `token`, if it is live and held by `caller`.
async fn live_refresh(
    state: &AppState,
    tenant: &Tenant,
    token: &str,
    caller: Option<&application::Model>,
) -> Result<Option<(Grant, Holder)>, Error> {
    let Some(caller) = caller else {
        return Ok(None);
    };
    let found = tokens::find_refresh_token_with_user(state.data(tenant), &checksum(token)).await?;
    let Some((row, user)) = found else {
        return Ok(None);
    };
    if row.application_id != caller.id
        || row.revoked_at.is_some()
        || refresh_unusable(&row, tenant.settings.refresh_token_idle_secs, now()).is_some()
    {
        return Ok(None);
    }
    let grant = Grant::of_refresh(row, user);
    Ok(holder_if_live(state, tenant, &grant, Some(caller))
        .await?
        .map(|holder| (grant, holder)))
}

/// Whether an access token is usable at `now`: not revoked, not expired (the one
/// definition, used by introspection, userinfo and the grants).
pub fn access_is_live(token: &access_token::Model, now: entity::Timestamp) -> bool {
    token.revoked_at.is_none() && token.expires_at > now
}

/// Why a refresh token cannot be used at `now`, revocation aside: past its lifetime,
/// or idle longer than the tenant allows. `None`: usable.
pub fn refresh_unusable(
    token: &refresh_token::Model,
    idle_secs: Option<u64>,
    now: entity::Timestamp,
) -> Option<&'static str> {
    if token.expires_at.is_some_and(|expires_at| expires_at <= now) {
        return Some("the refresh token has expired");
    }
    let last_use = token.last_used_at.unwrap_or(token.created_at);
    if idle_secs.is_some_and(|idle| crate::time::plus_seconds(last_use, idle) <= now) {
        return Some("the refresh token has been idle too long");
    }
    None
}
