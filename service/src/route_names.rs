//! The names of the service's HTTP routes and of the groups the configuration can
//! switch off (`[routes]`). The routes themselves are built in
//! [`crate::endpoints::routes`]; the names live down here so that the state and the
//! discovery document can say which routes are off.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// One route of the HTTP surface, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteName {
    /// `GET /healthz`.
    Health,
    /// `GET /readyz`.
    Readiness,
    /// `GET /metrics` (Prometheus; on `metrics.listen` instead when that is set).
    Metrics,
    /// `GET /`: the landing page listing the tenants' issuers.
    Landing,
    /// `/admin/v1/…`: the admin API (its own routes, [`crate::endpoints::admin`]).
    Admin,
    /// `GET /assets/tessera.css`.
    Stylesheet,
    /// `GET /t/{tenant}`: the issuer's description.
    Issuer,
    /// `/t/{tenant}/authorize` (RFC 6749 §3.1).
    Authorize,
    /// `/t/{tenant}/login`.
    Login,
    /// `/t/{tenant}/sign-up`.
    SignUp,
    /// `/t/{tenant}/logout`.
    Logout,
    /// `/t/{tenant}/consent`.
    Consent,
    /// `/t/{tenant}/device` (RFC 8628 §3.3, the user's page).
    Device,
    /// `/t/{tenant}/device_authorization` (RFC 8628 §3.1).
    DeviceAuthorization,
    /// `/t/{tenant}/authorized-tokens` (DOT's authorized-token views).
    AuthorizedTokens,
    /// `/t/{tenant}/token` (RFC 6749 §3.2).
    Token,
    /// `/t/{tenant}/revoke` (RFC 7009).
    Revoke,
    /// `/t/{tenant}/introspect` (RFC 7662).
    Introspect,
    /// The RFC 8414 metadata, at both of its URLs.
    Metadata,
    /// `/t/{tenant}/.well-known/openid-configuration` (OpenID Connect Discovery 1.0).
    Discovery,
    /// `/t/{tenant}/jwks`.
    Jwks,
    /// `/t/{tenant}/end_session` (RP-Initiated Logout 1.0).
    EndSession,
    /// `/t/{tenant}/userinfo` (OIDC Core §5.3).
    Userinfo,
    /// `GET /t/{tenant}/interactions/{id}`: an external login application reads an
    /// interaction.
    Interactions,
    /// `POST /t/{tenant}/interactions/{id}/{login|consent|reject}`: it answers.
    InteractionAnswer,
    /// `GET /t/{tenant}/interactions/{id}/continue`: the browser comes back.
    InteractionContinue,
    /// `/t/{tenant}/applications`: the user's applications; registering one.
    Applications,
    /// `GET /t/{tenant}/applications/new`: the registration form.
    ApplicationNew,
    /// `/t/{tenant}/applications/{client_id}`: editing one.
    Application,
    /// `POST /t/{tenant}/applications/{client_id}/{delete|secret}`.
    ApplicationAction,
    /// `POST /t/{tenant}/register`: dynamic client registration (RFC 7591 §3).
    Registration,
    /// `/t/{tenant}/register/{client_id}`: the client configuration endpoint
    /// (RFC 7592: read, replace, delete).
    RegistrationClient,
}

impl RouteName {
    /// Every route, in the order they are built.
    pub const ALL: [RouteName; 32] = [
        RouteName::Health,
        RouteName::Readiness,
        RouteName::Metrics,
        RouteName::Landing,
        RouteName::Admin,
        RouteName::Stylesheet,
        RouteName::Issuer,
        RouteName::Authorize,
        RouteName::Login,
        RouteName::SignUp,
        RouteName::Logout,
        RouteName::Consent,
        RouteName::Device,
        RouteName::DeviceAuthorization,
        RouteName::AuthorizedTokens,
        RouteName::Token,
        RouteName::Revoke,
        RouteName::Introspect,
        RouteName::Metadata,
        RouteName::Discovery,
        RouteName::Jwks,
        RouteName::EndSession,
        RouteName::Userinfo,
        RouteName::Interactions,
        RouteName::InteractionAnswer,
        RouteName::InteractionContinue,
        RouteName::Applications,
        RouteName::ApplicationNew,
        RouteName::Application,
        RouteName::ApplicationAction,
        RouteName::Registration,
        RouteName::RegistrationClient,
    ];

    /// The name as the configuration writes it (`device_authorization`).
    pub fn as_str(self) -> &'static str {
        match self {
            RouteName::Health => "health",
            RouteName::Readiness => "readiness",
            RouteName::Metrics => "metrics",
            RouteName::Landing => "landing",
            RouteName::Admin => "admin",
            RouteName::Stylesheet => "stylesheet",
            RouteName::Issuer => "issuer",
            RouteName::Authorize => "authorize",
            RouteName::Login => "login",
            RouteName::SignUp => "sign_up",
            RouteName::Logout => "logout",
            RouteName::Consent => "consent",
            RouteName::Device => "device",
            RouteName::DeviceAuthorization => "device_authorization",
            RouteName::AuthorizedTokens => "authorized_tokens",
            RouteName::Token => "token",
            RouteName::Revoke => "revoke",
            RouteName::Introspect => "introspect",
            RouteName::Metadata => "metadata",
            RouteName::Discovery => "discovery",
            RouteName::Jwks => "jwks",
            RouteName::EndSession => "end_session",
            RouteName::Userinfo => "userinfo",
            RouteName::Interactions => "interactions",
            RouteName::InteractionAnswer => "interaction_answer",
            RouteName::InteractionContinue => "interaction_continue",
            RouteName::Applications => "applications",
            RouteName::ApplicationNew => "application_new",
            RouteName::Application => "application",
            RouteName::ApplicationAction => "application_action",
            RouteName::Registration => "registration",
            RouteName::RegistrationClient => "registration_client",
        }
    }

    /// The group it belongs to, if any.
    pub fn group(self) -> Option<RouteGroup> {
        match self {
            RouteName::Device | RouteName::DeviceAuthorization => Some(RouteGroup::Device),
            RouteName::AuthorizedTokens
            | RouteName::Applications
            | RouteName::ApplicationNew
            | RouteName::Application
            | RouteName::ApplicationAction => Some(RouteGroup::Management),
            _ => None,
        }
    }
}

/// Routes the configuration switches on or off together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RouteGroup {
    /// The device flow (RFC 8628): `device_authorization` and `device`.
    Device,
    /// What DOT's `management_urlpatterns` holds: the user's authorized applications
    /// (and, later, the application management pages).
    Management,
}

impl RouteGroup {
    /// The routes of the group.
    pub fn routes(self) -> impl Iterator<Item = RouteName> {
        RouteName::ALL
            .into_iter()
            .filter(move |name| name.group() == Some(self))
    }
}

/// `[routes]`: groups and single routes to switch off. A route that is off answers
/// 404 and is left out of the discovery document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoutesConfig {
    /// The device flow.
    pub device: bool,
    /// The management pages (authorized tokens).
    pub management: bool,
    /// Single routes to switch off, by name (`userinfo`, `end_session`, …).
    pub disable: Vec<RouteName>,
}

impl Default for RoutesConfig {
    fn default() -> Self {
        Self {
            device: true,
            management: true,
            disable: Vec::new(),
        }
    }
}

impl RoutesConfig {
    /// The routes this configuration switches off.
    pub fn disabled(&self) -> BTreeSet<RouteName> {
        let mut off: BTreeSet<RouteName> = self.disable.iter().copied().collect();
        if !self.device {
            off.extend(RouteGroup::Device.routes());
        }
        if !self.management {
            off.extend(RouteGroup::Management.routes());
        }
        off
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_groups_switch_off_their_routes() {
        let names: BTreeSet<&str> = RouteName::ALL.iter().map(|name| name.as_str()).collect();
        assert_eq!(names.len(), RouteName::ALL.len());
        for name in RouteName::ALL {
            assert_eq!(
                serde_json::to_value(name).ok(),
                Some(serde_json::Value::from(name.as_str())),
                "the configuration spells {name:?} as as_str does"
            );
        }
        let config = RoutesConfig {
            device: false,
            management: true,
            disable: vec![RouteName::Userinfo],
        };
        assert_eq!(
            config.disabled(),
            BTreeSet::from([
                RouteName::Device,
                RouteName::DeviceAuthorization,
                RouteName::Userinfo
            ])
        );
    }
}
