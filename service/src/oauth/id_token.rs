//! ID tokens (OpenID Connect Core §2, §3.1.3.6, §3.3.2.11, §12.2): built from what the
//! grant knows, signed with the client's `algorithm` by the tenant's keyring (or with
//! the client's own secret for HS256), never `alg: none`, and recorded by `jti` in the
//! transaction that stores the access and refresh tokens.

use entity::application;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::application_fields::Exposure;
use crate::error::Error;
use crate::jose::jwk::{SigningAlgorithm, half_hash};
use crate::jose::jws::{self, Header};
use crate::oauth::error::OAuthError;
use crate::policy::ClaimsFor;
use crate::state::AppState;
use crate::store::tokens::NewIdToken;
use crate::tenancy::Tenant;
use crate::time::{now, plus_seconds, unix_seconds};

/// The scope that asks for an ID token (OIDC Core §3.1.2.1).
pub const OPENID: &str = "openid";

/// How the client's tokens are signed: `algorithm` of its registration, RS256 when
/// empty (OIDC Core §3.1.3.7 step 7, Registration §2 default).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdTokenSigning {
    /// With the tenant's current key of this algorithm.
    Tenant(SigningAlgorithm),
    /// HS256 with the client secret (OIDC Core §10.1).
    ClientSecret,
}

impl IdTokenSigning {
    /// The signing of `application`'s ID tokens.
    pub fn of(application: &application::Model) -> Result<Self, OAuthError> {
        match application.algorithm.as_str() {
            "" => Ok(Self::Tenant(SigningAlgorithm::Rs256)),
            "HS256" => Ok(Self::ClientSecret),
            name => SigningAlgorithm::parse(name)
                .map(Self::Tenant)
                .ok_or_else(|| {
                    OAuthError::Internal(Error::Keys(format!(
                        "client {}: unknown ID token algorithm {name:?}",
                        application.client_id
                    )))
                }),
        }
    }

    /// The JWA name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tenant(algorithm) => algorithm.as_str(),
            Self::ClientSecret => "HS256",
        }
    }
}

/// What an ID token says about one authentication.
#[derive(Clone, Debug, Default)]
pub struct Authentication<'a> {
    /// The user's stored subject.
    pub subject: &'a str,
    /// When the user authenticated (sent when known).
    pub auth_time: Option<entity::Timestamp>,
    /// The authentication context class (`acr`), when a login application said.
    pub acr: Option<&'a str>,
    /// The authentication methods (`amr`), space-separated as stored.
    pub amr: Option<&'a str>,
    /// The authorization request's `nonce` (never on refresh, OIDC Core §12.2).
    pub nonce: Option<&'a str>,
    /// The access token issued alongside, for `at_hash`.
    pub access_token: Option<&'a str>,
    /// The code issued alongside (hybrid flow), for `c_hash`.
    pub code: Option<&'a str>,
    /// User claims carried in the ID token itself (when no access token is issued,
    /// OIDC Core §5.4).
    pub claims: Map<String, Value>,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: i64,
    iat: i64,
    jti: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    acr: Option<&'a str>,
    /// OIDC Core §2: a JSON array of strings.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    amr: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    at_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    c_hash: Option<String>,
    #[serde(flatten)]
    claims: &'a Map<String, Value>,
}

/// A signed ID token and the row that records it.
#[derive(Debug)]
pub struct SignedIdToken {
    /// The JWT.
    pub token: String,
    /// Its record (`jti`, expiry, scope).
    pub record: NewIdToken,
}

/// Builds and signs the ID token of `authentication` for `application`.
pub async fn issue(
    state: &AppState,
    tenant: &Tenant,
    application: &application::Model,
    scope: &str,
    authentication: &Authentication<'_>,
) -> Result<SignedIdToken, OAuthError> {
    let signing = IdTokenSigning::of(application)?;
    let issuer = state.config.issuer(&tenant.slug);
    let issued_at = now();
    let expires_at = plus_seconds(issued_at, tenant.settings.id_token_lifetime_secs);
    let jti = uuid::Uuid::new_v4().to_string();
    let sha512 = signing == IdTokenSigning::Tenant(SigningAlgorithm::EdDsa);
    // The application's extension fields exposed in ID tokens, beside the user's.
    let mut released = state.policies.extra_claims(&ClaimsFor {
        tenant,
        client_id: &application.client_id,
        subject: Some(authentication.subject),
        scope,
        target: Exposure::IdToken,
    });
    released.extend(
        tenant
            .fields
            .claims_of(&application.extensions, Exposure::IdToken),
    );
    released.extend(authentication.claims.clone());
    let claims = Claims {
        iss: &issuer,
        sub: authentication.subject,
        aud: &application.client_id,
        exp: unix_seconds(expires_at),
        iat: unix_seconds(issued_at),
        jti: &jti,
        auth_time: authentication.auth_time.map(unix_seconds),
        nonce: authentication.nonce,
        acr: authentication.acr,
        amr: authentication
            .amr
            .map(|methods| methods.split_whitespace().collect())
            .unwrap_or_default(),
        at_hash: authentication
            .access_token
            .map(|token| half_hash(sha512, token)),
        c_hash: authentication.code.map(|code| half_hash(sha512, code)),
        claims: &released,
    };
    let token = match signing {
        IdTokenSigning::Tenant(algorithm) => {
            state
                .keys
                .sign(&state.databases, tenant, algorithm, "JWT", &claims)
                .await?
        }
        IdTokenSigning::ClientSecret => {
            if application.hash_client_secret || application.client_secret.is_empty() {
                return Err(OAuthError::Internal(Error::Keys(format!(
                    "client {}: HS256 needs the plain client secret, which is not stored",
                    application.client_id
                ))));
            }
            let header = Header {
                alg: "HS256",
                typ: "JWT",
                kid: None,
            };
            let input = jws::signing_input(&header, &claims)?;
            let signature = jws::hs256(&application.client_secret, &input);
            jws::compact(input, &signature)
        }
    };
    Ok(SignedIdToken {
        token,
        record: NewIdToken {
            jti,
            scope: scope.to_owned(),
            expires_at,
        },
    })
}

/// The subject of `hint`, an ID token this tenant issued to `application` (OIDC Core
/// §3.1.2.1 `id_token_hint`, RP-Initiated Logout §2): signature by a published key of
/// the tenant, or by the client secret for an HS256 client; `iss` exactly this
/// tenant's; `aud` this client. Expired tokens are accepted, as both specs allow.
pub async fn verify_hint(
    state: &AppState,
    tenant: &Tenant,
    application: &application::Model,
    hint: &str,
) -> Result<Option<String>, OAuthError> {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};
    if hint.len() > 16 * 1024 {
        return Ok(None);
    }
    let Ok(header) = jsonwebtoken::decode_header(hint) else {
        return Ok(None);
    };
    let key = match (header.alg, header.kid.as_deref()) {
        (Algorithm::HS256, None) => {
            if IdTokenSigning::of(application)? != IdTokenSigning::ClientSecret
                || application.hash_client_secret
            {
                return Ok(None);
            }
            DecodingKey::from_secret(application.client_secret.as_bytes())
        }
        (alg, Some(kid)) => {
            let keys = state.keys.tenant_keys(&state.databases, tenant).await?;
            let Some(key) = keys.find(kid) else {
                return Ok(None);
            };
            // The algorithm is the key's, whatever the header claims (compared as
            // values: Debug output is no contract).
            if alg != jwa(key.algorithm) {
                return Ok(None);
            }
            let Ok(jwk) = serde_json::from_str::<jsonwebtoken::jwk::Jwk>(&key.public_jwk) else {
                return Ok(None);
            };
            let Ok(decoding) = DecodingKey::from_jwk(&jwk) else {
                return Ok(None);
            };
            decoding
        }
        _ => return Ok(None),
    };
    let mut validation = Validation::new(header.alg);
    validation.validate_exp = false;
    validation.set_issuer(&[state.config.issuer(&tenant.slug)]);
    validation.set_audience(&[application.client_id.as_str()]);
    validation.set_required_spec_claims(&["iss", "sub", "aud"]);
    Ok(jsonwebtoken::decode::<Value>(hint, &key, &validation)
        .ok()
        .and_then(|data| {
            data.claims
                .get("sub")
                .and_then(Value::as_str)
                .map(str::to_owned)
        }))
}

/// The JWA algorithm value of a key's algorithm, as jsonwebtoken names it.
fn jwa(algorithm: SigningAlgorithm) -> jsonwebtoken::Algorithm {
    use jsonwebtoken::Algorithm;
    match algorithm {
        SigningAlgorithm::Rs256 => Algorithm::RS256,
        SigningAlgorithm::Es256 => Algorithm::ES256,
        SigningAlgorithm::EdDsa => Algorithm::EdDSA,
    }
}
