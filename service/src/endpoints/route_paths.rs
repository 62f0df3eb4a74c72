//! The paths of each named route: read by the router ([`super::routes`]) and by the
//! OpenAPI document ([`super::admin::protocol_paths`]), so neither imports the other.

use crate::route_names::RouteName;

/// The paths of a route (the RFC 8414 metadata has two).
pub fn paths(name: RouteName) -> &'static [&'static str] {
    match name {
        RouteName::Health => &["/healthz"],
        RouteName::Readiness => &["/readyz"],
        RouteName::Metrics => &["/metrics"],
        RouteName::Landing => &["/"],
        // Its own router (many paths, one handler each): merged in `into_router`.
        RouteName::Admin => &[],
        RouteName::Stylesheet => &["/assets/tessera.css"],
        RouteName::Issuer => &["/t/{tenant}"],
        RouteName::Authorize => &["/t/{tenant}/authorize"],
        RouteName::Login => &["/t/{tenant}/login"],
        RouteName::SignUp => &["/t/{tenant}/sign-up"],
        RouteName::Logout => &["/t/{tenant}/logout"],
        RouteName::Consent => &["/t/{tenant}/consent"],
        RouteName::Device => &["/t/{tenant}/device"],
        RouteName::DeviceAuthorization => &["/t/{tenant}/device_authorization"],
        RouteName::AuthorizedTokens => &["/t/{tenant}/authorized-tokens"],
        RouteName::Token => &["/t/{tenant}/token"],
        RouteName::Revoke => &["/t/{tenant}/revoke"],
        RouteName::Introspect => &["/t/{tenant}/introspect"],
        RouteName::Metadata => &[
            "/t/{tenant}/.well-known/oauth-authorization-server",
            "/.well-known/oauth-authorization-server/t/{tenant}",
        ],
        RouteName::Discovery => &["/t/{tenant}/.well-known/openid-configuration"],
        RouteName::Jwks => &["/t/{tenant}/jwks"],
        RouteName::EndSession => &["/t/{tenant}/end_session"],
        RouteName::Userinfo => &["/t/{tenant}/userinfo"],
        RouteName::Interactions => &["/t/{tenant}/interactions/{id}"],
        RouteName::InteractionAnswer => &["/t/{tenant}/interactions/{id}/{decision}"],
        RouteName::InteractionContinue => &["/t/{tenant}/interactions/{id}/continue"],
        RouteName::Applications => &["/t/{tenant}/applications"],
        RouteName::ApplicationNew => &["/t/{tenant}/applications/new"],
        RouteName::Application => &["/t/{tenant}/applications/{client_id}"],
        RouteName::ApplicationAction => &["/t/{tenant}/applications/{client_id}/{action}"],
        RouteName::Registration => &["/t/{tenant}/register"],
        RouteName::RegistrationClient => &["/t/{tenant}/register/{client_id}"],
    }
}
