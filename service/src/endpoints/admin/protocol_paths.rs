//! The OAuth 2 / OpenID Connect endpoints and pages in the OpenAPI document, one
//! entry per route name: the `match` below is exhaustive, so a new route cannot be
//! added without saying here what it is. The JSON endpoints name their RFC; the
//! pages are `text/html` for browsers.

use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{self, ObjectBuilder};
use utoipa::openapi::{Content, Object, Required, ResponseBuilder};

use crate::endpoints::route_paths::paths;
use crate::route_names::RouteName;

/// What a route is, for the document.
struct Described {
    methods: &'static [HttpMethod],
    tag: &'static str,
    summary: &'static str,
    /// `application/json`, `text/html`, …
    produces: &'static str,
}

fn described(name: RouteName) -> Option<Described> {
    use HttpMethod::{Delete, Get, Options, Post, Put};
    let json = "application/json";
    let html = "text/html";
    let (methods, tag, summary, produces): (&'static [HttpMethod], _, _, _) = match name {
        // Its operations are described one by one (the admin handlers).
        RouteName::Admin => return None,
        RouteName::Health => (
            &[Get],
            "service",
            "Liveness: 200 while the process answers",
            json,
        ),
        RouteName::Readiness => (
            &[Get],
            "service",
            "Readiness: 503 while a database does not answer; Redis and notice state",
            json,
        ),
        RouteName::Metrics => (
            &[Get],
            "service",
            "Prometheus metrics (text format 0.0.4)",
            "text/plain",
        ),
        RouteName::Landing => (&[Get], "service", "The tenants' issuers", html),
        RouteName::Stylesheet => (&[Get], "service", "The pages' stylesheet", "text/css"),
        RouteName::Issuer => (&[Get], "oauth", "The tenant's issuer identifier", json),
        RouteName::Authorize => (
            &[Get, Post],
            "oauth",
            "Authorization endpoint (RFC 6749 §3.1, OIDC Core §3.1.2): redirects",
            html,
        ),
        RouteName::Login => (&[Get, Post], "pages", "Sign-in page", html),
        RouteName::SignUp => (&[Get, Post], "pages", "Sign-up page (prompt=create)", html),
        RouteName::Logout => (&[Get, Post], "pages", "Sign-out page", html),
        RouteName::Consent => (&[Get, Post], "pages", "Consent page", html),
        RouteName::Device => (
            &[Get, Post],
            "pages",
            "Device verification page (RFC 8628 §3.3)",
            html,
        ),
        RouteName::DeviceAuthorization => (
            &[Post],
            "oauth",
            "Device authorization endpoint (RFC 8628 §3.1)",
            json,
        ),
        RouteName::AuthorizedTokens => (
            &[Get, Post],
            "pages",
            "The user's authorized applications",
            html,
        ),
        RouteName::Token => (
            &[Post, Options],
            "oauth",
            "Token endpoint (RFC 6749 §3.2)",
            json,
        ),
        RouteName::Revoke => (
            &[Post, Options],
            "oauth",
            "Token revocation (RFC 7009)",
            json,
        ),
        RouteName::Introspect => (
            &[Post, Options],
            "oauth",
            "Token introspection (RFC 7662)",
            json,
        ),
        RouteName::Metadata => (
            &[Get],
            "oauth",
            "Authorization server metadata (RFC 8414)",
            json,
        ),
        RouteName::Discovery => (
            &[Get],
            "oauth",
            "OpenID Provider configuration (OpenID Connect Discovery 1.0 §4)",
            json,
        ),
        RouteName::Jwks => (
            &[Get],
            "oauth",
            "The tenant's JSON Web Key Set (RFC 7517)",
            "application/jwk-set+json",
        ),
        RouteName::EndSession => (
            &[Get, Post],
            "oauth",
            "RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0)",
            html,
        ),
        RouteName::Userinfo => (
            &[Get, Post, Options],
            "oauth",
            "UserInfo endpoint (OIDC Core §5.3)",
            json,
        ),
        RouteName::Interactions => (
            &[Get],
            "interactions",
            "An interaction, for the external login application",
            json,
        ),
        RouteName::InteractionAnswer => (
            &[Post],
            "interactions",
            "The external login application's answer (login, consent, reject)",
            json,
        ),
        RouteName::InteractionContinue => (
            &[Get],
            "interactions",
            "The browser back from the external login application",
            html,
        ),
        RouteName::Applications => (
            &[Get, Post],
            "pages",
            "The user's applications; registering one",
            html,
        ),
        RouteName::ApplicationNew => (&[Get], "pages", "The registration form", html),
        RouteName::Application => (&[Get, Post], "pages", "Editing an application", html),
        RouteName::ApplicationAction => (
            &[Post],
            "pages",
            "Deleting an application or rotating its secret (asks first)",
            html,
        ),
        RouteName::Registration => (
            &[Post],
            "oauth",
            "Dynamic client registration (RFC 7591 §3)",
            json,
        ),
        RouteName::RegistrationClient => (
            &[Get, Put, Delete],
            "oauth",
            "Client configuration endpoint (RFC 7592)",
            json,
        ),
    };
    Some(Described {
        methods,
        tag,
        summary,
        produces,
    })
}

/// Adds every route but the admin API's to `openapi`.
pub fn add_protocol_routes(openapi: &mut utoipa::openapi::OpenApi) {
    for name in RouteName::ALL {
        let Some(described) = described(name) else {
            continue;
        };
        for path in paths(name) {
            let mut operation = OperationBuilder::new()
                .tag(described.tag)
                .summary(Some(described.summary))
                .operation_id(Some(format!("{}{}", name.as_str(), operation_suffix(path))))
                .response(
                    "default",
                    ResponseBuilder::new()
                        .description("See the summary's specification")
                        .content(described.produces, Content::new(Some(Object::new()))),
                );
            for parameter in path_parameters(path) {
                operation = operation.parameter(
                    ParameterBuilder::new()
                        .name(parameter)
                        .parameter_in(ParameterIn::Path)
                        .required(Required::True)
                        .schema(Some(
                            ObjectBuilder::new()
                                .schema_type(schema::Type::String)
                                .build(),
                        )),
                );
            }
            openapi
                .paths
                .add_path_operation(path, described.methods.to_vec(), operation.build());
        }
    }
}

/// `{name}` segments of a path.
fn path_parameters(path: &str) -> Vec<String> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| name.trim_start_matches('*').to_owned())
        .collect()
}

/// Tells the two paths of one route apart in operation ids.
fn operation_suffix(path: &str) -> &'static str {
    if path.starts_with("/.well-known/") {
        "_path_inserted"
    } else {
        ""
    }
}
