//! Access tokens (RFC 6749 §1.4): opaque by default, a 256-bit `tsa_` secret with its
//! issue second; for applications with `access_token_format = "jwt"`, a JWT access
//! token (RFC 9068) signed by the tenant's key. Either way the store keeps the token
//! string's key (`secrets::checksum`: its SHA-256, led by the second for an opaque
//! one), so introspection, revocation and UserInfo treat both alike, and a revoked
//! JWT is inactive at introspection before it expires.

use entity::application;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::application_fields::Exposure;
use crate::policy::ClaimsFor;

use crate::jose::jwk::SigningAlgorithm;
use crate::oauth::error::OAuthError;
use crate::oauth::id_token::IdTokenSigning;
use crate::registration::AccessTokenFormat;
use crate::secrets::{self, OrderedToken};
use crate::settings::OAuthSettings;
use crate::state::AppState;
use crate::tenancy::Tenant;
use crate::time::{now, unix_seconds};

/// RFC 9068 §2.1: the `typ` of a JWT access token.
pub const JWT_ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// RFC 9068 §2.2.
#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    exp: i64,
    aud: &'a str,
    sub: &'a str,
    client_id: &'a str,
    iat: i64,
    jti: &'a str,
    scope: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_time: Option<i64>,
    /// The application's extension fields exposed in access tokens.
    #[serde(flatten)]
    extension: Map<String, Value>,
}

/// A new opaque access or refresh token issued at `issued_at`, in the form the
/// tenant's `oauth.time_ordered_token_keys` chooses: carrying its issue second (its
/// key sorts by it), or 256 random bits alone (the form earlier versions issue and
/// can look up). Either form is looked up whatever the setting says.
pub fn opaque_token(
    settings: &OAuthSettings,
    token: OrderedToken,
    issued_at: entity::Timestamp,
) -> Result<String, OAuthError> {
    Ok(if settings.time_ordered_token_keys {
        secrets::generate_time_ordered(token, unix_seconds(issued_at))?
    } else {
        secrets::generate(token.prefix())?
    })
}

/// A new access token for `application`: opaque, or a JWT whose `sub` is the user's
/// `subject` (the client's id for client credentials, RFC 9068 §2.2).
pub async fn mint(
    state: &AppState,
    tenant: &Tenant,
    application: &application::Model,
    subject: Option<&str>,
    scope: &str,
    expires_at: entity::Timestamp,
    auth_time: Option<entity::Timestamp>,
) -> Result<String, OAuthError> {
    if AccessTokenFormat::of(application) == AccessTokenFormat::Opaque {
        return opaque_token(&tenant.settings, OrderedToken::Access, now());
    }
    let issuer = state.config.issuer(&tenant.slug);
    let jti = uuid::Uuid::new_v4().to_string();
    let claims = Claims {
        iss: &issuer,
        exp: unix_seconds(expires_at),
        // RFC 9068 §3: without a resource indicator, a default one — the issuer's
        // resource servers as a whole.
        aud: &issuer,
        sub: subject.unwrap_or(&application.client_id),
        client_id: &application.client_id,
        iat: unix_seconds(now()),
        jti: &jti,
        scope,
        auth_time: auth_time.map(unix_seconds),
        extension: {
            let mut extension = state.policies.extra_claims(&ClaimsFor {
                tenant,
                client_id: &application.client_id,
                subject,
                scope,
                target: Exposure::AccessToken,
            });
            extension.extend(
                tenant
                    .fields
                    .claims_of(&application.extensions, Exposure::AccessToken),
            );
            extension
        },
    };
    // The client's ID token algorithm when it is the tenant's; never the client
    // secret (resource servers do not hold it): RS256, which RFC 9068 §2.1 requires.
    let algorithm = match IdTokenSigning::of(application)? {
        IdTokenSigning::Tenant(algorithm) => algorithm,
        IdTokenSigning::ClientSecret => SigningAlgorithm::Rs256,
    };
    Ok(state
        .keys
        .sign(
            &state.databases,
            tenant,
            algorithm,
            JWT_ACCESS_TOKEN_TYPE,
            &claims,
        )
        .await?)
}
