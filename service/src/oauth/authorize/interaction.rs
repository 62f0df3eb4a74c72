//! The stored interaction: what it waits for ([`Pending`], encoded and decoded here
//! only), storing one within the caps, binding it to the browser that started it,
//! and refusing Tessera's pages where an external login application decides.

use std::net::IpAddr;

use entity::{application, interaction};
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::limits::pending::PendingKind;
use crate::oauth::error::OAuthError;
use crate::oauth::login_authority::LoginAuthority;
use crate::oauth::pending_limits;
use crate::secrets::{self, checksum};
use crate::state::AppState;
use crate::store::applications;
use crate::store::interactions::{self, NewInteraction};
use crate::tenancy::Tenant;
use crate::time::{now, plus_seconds};

use super::request::{AuthorizationRequest, External};
use super::{Begun, Refusal, Step};

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

/// Stores an interaction, if `source` and the tenant are under their caps of
/// pending interactions; returns its key and the browser secret.
pub(super) async fn store_pending(
    state: &AppState,
    tenant: &Tenant,
    application_id: Option<i64>,
    pending: Pending,
    user_id: Option<i64>,
    source: IpAddr,
) -> Result<(String, String), OAuthError> {
    let key = secrets::generate_identifier()?;
    let secret = secrets::generate("tsi_")?;
    let parameters = pending.encode()?;
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
    found: &Interaction,
) -> Result<(), Refusal> {
    if found.pending.answered_externally() {
        return Err(Refusal::Elsewhere);
    }
    if LoginAuthority::of_application(state, tenant, found.application_id)
        .await?
        .is_external()
    {
        return Err(Refusal::Elsewhere);
    }
    Ok(())
}

/// A live interaction and what it waits for, decoded once. Only [`bind`] (the
/// browser's key and secret) and [`lookup`] (for the login application, which
/// authenticates itself first) make one: the row never leaves this module.
#[derive(Clone, Debug)]
pub struct Interaction {
    id: i64,
    key: String,
    application_id: Option<i64>,
    user_id: Option<i64>,
    expires_at: entity::Timestamp,
    pending: Pending,
}

impl Interaction {
    fn decode(row: interaction::Model) -> Result<Self, Error> {
        let pending = serde_json::from_str(&row.parameters)
            .map_err(|error| Error::Corrupt(format!("interaction {}: {error}", row.id)))?;
        Ok(Self {
            id: row.id,
            key: row.interaction_key,
            application_id: row.application_id,
            user_id: row.user_id,
            expires_at: row.expires_at,
            pending,
        })
    }

    /// Its key: the `interaction` of the page forms and of `…/interactions/{id}`.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The client it is for (`None`: a plain sign-in).
    pub fn application_id(&self) -> Option<i64> {
        self.application_id
    }

    /// The user a login named, once one did.
    pub fn user_id(&self) -> Option<i64> {
        self.user_id
    }

    /// When it expires.
    pub fn expires_at(&self) -> entity::Timestamp {
        self.expires_at
    }

    /// What it waits for.
    pub fn pending(&self) -> &Pending {
        &self.pending
    }

    /// Its row id (for the store calls of this module).
    pub(super) fn id(&self) -> i64 {
        self.id
    }
}

impl Pending {
    /// The JSON stored as an interaction's `parameters` ([`Interaction::decode`] reads
    /// it back).
    pub(super) fn encode(&self) -> Result<String, Error> {
        serde_json::to_string(self)
            .map_err(|error| Error::Corrupt(format!("interaction parameters: {error}")))
    }
}

/// The live interaction `key` of the tenant if `secret` (from the browser's cookie)
/// is its secret; `None` otherwise — the caller shows a "start again" page.
pub async fn bind(
    state: &AppState,
    tenant: &Tenant,
    key: &str,
    secret: Option<&str>,
) -> Result<Option<Interaction>, Error> {
    let Some(secret) = secret else {
        return Ok(None);
    };
    if key.len() > MAX_KEY_CHARS {
        return Ok(None);
    }
    interactions::find_live(state.data(tenant), key)
        .await?
        .filter(|found| secrets::equal(&found.secret_checksum, &checksum(secret)))
        .map(Interaction::decode)
        .transpose()
}

/// The live interaction `key` of the tenant, without the browser's secret: only for
/// the login application, after it authenticated as the one bound to it
/// ([`crate::oauth::external_login::may_drive_this`]).
pub async fn lookup(
    state: &AppState,
    tenant: &Tenant,
    key: &str,
) -> Result<Option<Interaction>, Error> {
    if key.len() > MAX_KEY_CHARS {
        return Ok(None);
    }
    interactions::find_live(state.data(tenant), key)
        .await?
        .map(Interaction::decode)
        .transpose()
}

/// An interaction key is 43 characters ([`secrets::generate_identifier`]): a longer
/// one is refused before any query.
const MAX_KEY_CHARS: usize = 43;

/// Stores `pending` (and its user, when given) as interaction `found`'s parameters.
pub(crate) async fn save(
    state: &AppState,
    tenant: &Tenant,
    found: &Interaction,
    user_id: Option<i64>,
    pending: &Pending,
) -> Result<(), Error> {
    interactions::set_parameters(state.data(tenant), found.id, user_id, pending.encode()?).await
}

/// The application an interaction is for (its name on the consent page).
pub async fn application_of(
    state: &AppState,
    tenant: &Tenant,
    application_id: i64,
) -> Result<Option<application::Model>, Error> {
    applications::find_by_id(state.data(tenant), application_id).await
}

/// The application the live interaction `key` is for, if it registered a home
/// page (`client_uri`): the "start again" page links back to it even for a browser
/// not bound to the interaction (its name and home page are public).
pub async fn application_with_home_page(
    state: &AppState,
    tenant: &Tenant,
    key: &str,
) -> Result<Option<application::Model>, Error> {
    let Some(found) = lookup(state, tenant, key).await? else {
        return Ok(None);
    };
    Ok(application_for(state, tenant, &found)
        .await?
        .filter(|application| !application.client_uri.is_empty()))
}

/// The application interaction `found` is for, if any (the login and sign-up pages
/// say whom the user signs in to, in that client's templates).
pub async fn application_for(
    state: &AppState,
    tenant: &Tenant,
    found: &Interaction,
) -> Result<Option<application::Model>, Error> {
    match found.application_id {
        Some(id) => application_of(state, tenant, id).await,
        None => Ok(None),
    }
}
