//! Authorization server metadata (RFC 8414) and OpenID Provider metadata (OpenID
//! Connect Discovery 1.0 §3): one document per tenant, served at
//! `{issuer}/.well-known/openid-configuration` (Discovery §4), at
//! `{issuer}/.well-known/oauth-authorization-server` and at the RFC 8414 §3 form
//! `/.well-known/oauth-authorization-server/t/{tenant}`. It lists exactly what the
//! tenant supports.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header;
use serde_json::{Value, json};

use crate::endpoints::error::ApiError;
use crate::endpoints::issuer::resolve_tenant;
use crate::route_names::RouteName;
use crate::settings::DynamicRegistration;
use crate::state::AppState;

/// Client authentication methods of the token and revocation endpoints.
const AUTH_METHODS: [&str; 3] = ["client_secret_basic", "client_secret_post", "none"];

/// The metadata document of a tenant.
pub async fn metadata(
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> Result<([(header::HeaderName, &'static str); 1], Json<Value>), ApiError> {
    let tenant = resolve_tenant(&state, &slug).await?;
    let issuer = state.config.issuer(&tenant.slug);
    let settings = &tenant.settings;
    let mut grant_types = vec![
        "authorization_code",
        "implicit",
        "client_credentials",
        "refresh_token",
    ];
    if state.serves(RouteName::DeviceAuthorization) {
        grant_types.push(crate::grants::DEVICE_CODE_GRANT);
    }
    if settings.allow_password_grant {
        grant_types.push("password");
    }
    let mut challenge_methods = vec!["S256"];
    if settings.allow_plain_pkce {
        challenge_methods.push("plain");
    }
    // Prompt Create 1.0 §4.2: `create` only where sign-up is on.
    let prompt_values: Vec<&str> = crate::oauth::authorize::PROMPT_VALUES
        .into_iter()
        .filter(|value| {
            *value != "create" || (settings.allow_sign_up && state.serves(RouteName::SignUp))
        })
        .collect();
    // A public document: any browser origin may read it.
    let cors = [(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")];
    let mut document = json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/authorize"),
            "token_endpoint": format!("{issuer}/token"),
            "device_authorization_endpoint": format!("{issuer}/device_authorization"),
            "token_endpoint_auth_methods_supported": AUTH_METHODS,
            "revocation_endpoint": format!("{issuer}/revoke"),
            "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
            "introspection_endpoint": format!("{issuer}/introspect"),
            // Public clients cannot introspect; bearer tokens with the introspection
            // scope can (RFC 7662 §2.1), which has no registered method name.
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "grant_types_supported": grant_types,
            // Those with `token` or `id_token` only for applications holding the
            // implicit grant (OIDC Core §3.2, §3.3).
            "response_types_supported": [
                "code", "token", "id_token", "id_token token",
                "code id_token", "code token", "code id_token token",
            ],
            "response_modes_supported": ["query", "fragment", "form_post"],
            "prompt_values_supported": prompt_values,
            "code_challenge_methods_supported": challenge_methods,
            // RFC 9207 §3: every authorization response carries `iss`.
            "authorization_response_iss_parameter_supported": true,
            "scopes_supported": settings.scopes.keys().collect::<Vec<_>>(),
            // OpenID Connect Discovery §3.
            "jwks_uri": format!("{issuer}/jwks"),
            "userinfo_endpoint": format!("{issuer}/userinfo"),
            // RP-Initiated Logout 1.0 §2.1.
            "end_session_endpoint": format!("{issuer}/end_session"),
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256", "EdDSA", "HS256"],
            "claims_supported": crate::oauth::claims::supported(),
            "claim_types_supported": ["normal"],
            "claims_parameter_supported": false,
            "request_parameter_supported": false,
            "request_uri_parameter_supported": false,
    });
    // RFC 8414 §2, OpenID Connect Discovery §3: only where the tenant accepts
    // registrations.
    if settings.dynamic_registration != DynamicRegistration::Off
        && state.serves(RouteName::Registration)
        && let Some(members) = document.as_object_mut()
    {
        members.insert(
            "registration_endpoint".to_owned(),
            json!(format!("{issuer}/register")),
        );
    }
    // A route switched off (`[routes]`, an embedding program) is not advertised.
    if let Some(members) = document.as_object_mut() {
        for (route, keys) in [
            (RouteName::Authorize, &["authorization_endpoint"][..]),
            (
                RouteName::DeviceAuthorization,
                &["device_authorization_endpoint"][..],
            ),
            (
                RouteName::Revoke,
                &[
                    "revocation_endpoint",
                    "revocation_endpoint_auth_methods_supported",
                ][..],
            ),
            (
                RouteName::Introspect,
                &[
                    "introspection_endpoint",
                    "introspection_endpoint_auth_methods_supported",
                ][..],
            ),
            (RouteName::Userinfo, &["userinfo_endpoint"][..]),
            (RouteName::EndSession, &["end_session_endpoint"][..]),
            (RouteName::Jwks, &["jwks_uri"][..]),
        ] {
            if !state.serves(route) {
                for key in keys {
                    members.remove(*key);
                }
            }
        }
    }
    Ok((cors, Json(document)))
}
