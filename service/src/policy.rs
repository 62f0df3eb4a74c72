//! Policy hooks for programs that embed Tessera: small traits, one per decision,
//! whose answer `None` (the default) means "Tessera's built-in rule". DOT makes people
//! subclass the application model to override `allows_grant_type` or
//! `redirect_uri_allowed`; here a program passes its own [`Policies`] to
//! `Application::with_policies`. Each hook runs on the request path: keep it fast and
//! free of I/O (it is not async).

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::sync::Arc;

use entity::application;
use serde_json::{Map, Value};

use crate::application_fields::Exposure;
use crate::registration::GrantType;
use crate::tenancy::Tenant;

/// Whether an application may use a grant type (DOT's `allows_grant_type`). Built in:
/// the registration lists it.
pub trait GrantTypePolicy: Send + Sync + Debug {
    /// `Some(answer)` decides; `None` leaves it to the registration.
    fn allows_grant_type(
        &self,
        _tenant: &Tenant,
        _application: &application::Model,
        _grant: GrantType,
    ) -> Option<bool> {
        None
    }
}

/// Whether a redirect URI may be used (DOT's `redirect_uri_allowed`). Built in: it is
/// one the application registered, exactly (the loopback port excepted, RFC 8252).
/// Only for the authorization endpoint; the token endpoint then checks the code's
/// redirect URI is the same one.
pub trait RedirectUriPolicy: Send + Sync + Debug {
    /// `Some(answer)` decides; `None` leaves it to the registration.
    fn allows_redirect_uri(
        &self,
        _tenant: &Tenant,
        _application: &application::Model,
        _redirect_uri: &str,
    ) -> Option<bool> {
        None
    }
}

/// Claims only Tessera sets: a hook's value for one of them is dropped.
pub use crate::application_fields::PROTOCOL_CLAIMS;

/// What a token is about, for [`ClaimsPolicy`].
#[derive(Clone, Copy, Debug)]
pub struct ClaimsFor<'a> {
    /// The tenant.
    pub tenant: &'a Tenant,
    /// The client the token is for.
    pub client_id: &'a str,
    /// The user's subject, when the token is a user's.
    pub subject: Option<&'a str>,
    /// The scopes granted (space-separated).
    pub scope: &'a str,
    /// Which answer the claims go in.
    pub target: Exposure,
}

/// Claims a token carries besides Tessera's. Built in: none. The protocol's own
/// claims ([`PROTOCOL_CLAIMS`]) cannot be set; the user's claims (by scope) and the
/// application's exposed extension fields win over a hook's of the same name.
pub trait ClaimsPolicy: Send + Sync + Debug {
    /// Adds claims to `claims`.
    fn add_claims(&self, _token: &ClaimsFor<'_>, _claims: &mut Map<String, Value>) {}
}

/// Whether the consent page may be skipped. Built in: never with `prompt=consent`;
/// always for `skip_authorization` applications; with `approval_prompt=auto` while a
/// remembered consent covers the scopes.
pub trait ConsentPolicy: Send + Sync + Debug {
    /// `Some(true)`: skip; `Some(false)`: ask; `None`: the built-in rule. Not asked
    /// when the request says `prompt=consent`.
    fn skip_consent(
        &self,
        _tenant: &Tenant,
        _application: &application::Model,
        _user_id: i64,
        _scopes: &BTreeSet<String>,
    ) -> Option<bool> {
        None
    }
}

/// Tessera's own rules for every hook.
#[derive(Clone, Copy, Debug, Default)]
pub struct BuiltIn;

impl GrantTypePolicy for BuiltIn {}
impl RedirectUriPolicy for BuiltIn {}
impl ClaimsPolicy for BuiltIn {}
impl ConsentPolicy for BuiltIn {}

/// The hooks in force.
#[derive(Clone, Debug)]
pub struct Policies {
    /// [`GrantTypePolicy`].
    pub grant_types: Arc<dyn GrantTypePolicy>,
    /// [`RedirectUriPolicy`].
    pub redirect_uris: Arc<dyn RedirectUriPolicy>,
    /// [`ClaimsPolicy`].
    pub claims: Arc<dyn ClaimsPolicy>,
    /// [`ConsentPolicy`].
    pub consent: Arc<dyn ConsentPolicy>,
}

impl Default for Policies {
    fn default() -> Self {
        Self {
            grant_types: Arc::new(BuiltIn),
            redirect_uris: Arc::new(BuiltIn),
            claims: Arc::new(BuiltIn),
            consent: Arc::new(BuiltIn),
        }
    }
}

impl Policies {
    /// With `policy` deciding grant types.
    pub fn with_grant_types(mut self, policy: impl GrantTypePolicy + 'static) -> Self {
        self.grant_types = Arc::new(policy);
        self
    }

    /// With `policy` deciding redirect URIs.
    pub fn with_redirect_uris(mut self, policy: impl RedirectUriPolicy + 'static) -> Self {
        self.redirect_uris = Arc::new(policy);
        self
    }

    /// With `policy` adding claims.
    pub fn with_claims(mut self, policy: impl ClaimsPolicy + 'static) -> Self {
        self.claims = Arc::new(policy);
        self
    }

    /// With `policy` deciding consent.
    pub fn with_consent(mut self, policy: impl ConsentPolicy + 'static) -> Self {
        self.consent = Arc::new(policy);
        self
    }

    /// The claims the hook adds to `token`, less the protocol's own.
    pub fn extra_claims(&self, token: &ClaimsFor<'_>) -> Map<String, Value> {
        let mut claims = Map::new();
        self.claims.add_claims(token, &mut claims);
        claims.retain(|name, _| !PROTOCOL_CLAIMS.contains(&name.as_str()));
        claims
    }

    /// Whether `application` may use `grant`: the hook's answer, else whether the
    /// registration lists it.
    pub fn allows_grant_type(
        &self,
        tenant: &Tenant,
        application: &application::Model,
        grant: GrantType,
    ) -> bool {
        self.grant_types
            .allows_grant_type(tenant, application, grant)
            .unwrap_or_else(|| crate::registration::lists_grant(application, grant))
    }
}
