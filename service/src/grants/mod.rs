//! The token endpoint's grants (RFC 6749 §4, §6), decoded from the form as a tagged
//! enum on `grant_type`, and the token response (RFC 6749 §5.1).

pub mod authorization_code;
pub mod client_credentials;
pub mod device_code;
pub mod password;
pub mod refresh_token;

use std::net::IpAddr;

use crate::oauth::client_auth::Client;
use crate::oauth::error::OAuthError;
use crate::oauth::form::Form;
use crate::oauth::issuance::Prepared;
pub use crate::oauth::issuance::TokenResponse;
use crate::oauth::scope::Scopes;
use crate::registration::{AccessTokenFormat, GrantType};
use crate::state::AppState;
use crate::store::tokens;
use crate::tenancy::Tenant;

/// The device grant's `grant_type` (RFC 8628 §3.4).
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A token request, by `grant_type`.
#[derive(Debug)]
pub enum TokenRequest {
    /// RFC 6749 §4.4.2.
    ClientCredentials {
        /// Requested scope, if any.
        scope: Option<Scopes>,
    },
    /// RFC 6749 §4.3.2.
    Password {
        /// Resource owner's username.
        username: String,
        /// Resource owner's password (never logged).
        password: String,
        /// Requested scope, if any.
        scope: Option<Scopes>,
    },
    /// RFC 6749 §4.1.3, with RFC 7636 §4.5.
    AuthorizationCode {
        /// The code.
        code: String,
        /// Must equal the authorization request's, when that one named it.
        redirect_uri: Option<String>,
        /// PKCE verifier.
        code_verifier: Option<String>,
    },
    /// RFC 8628 §3.4.
    DeviceCode {
        /// The device code.
        device_code: String,
    },
    /// RFC 6749 §6.
    RefreshToken {
        /// The refresh token presented.
        refresh_token: String,
        /// Narrower scope, if any.
        scope: Option<Scopes>,
    },
}

impl TokenRequest {
    /// Decodes the grant from the form. A missing `grant_type` is `invalid_request`; one
    /// this server does not implement is `unsupported_grant_type` (RFC 6749 §5.2).
    pub fn from_form(form: &Form) -> Result<Self, OAuthError> {
        let grant_type = form.require("grant_type")?;
        if !matches!(
            grant_type,
            "client_credentials"
                | "password"
                | "refresh_token"
                | "authorization_code"
                | DEVICE_CODE_GRANT
        ) {
            return Err(OAuthError::unsupported_grant_type(format!(
                "grant_type {grant_type:?} is not supported"
            )));
        }
        let scope = form.get("scope").map(Scopes::parse).transpose()?;
        match grant_type {
            "client_credentials" => Ok(TokenRequest::ClientCredentials { scope }),
            "password" => Ok(TokenRequest::Password {
                username: form.require("username")?.to_owned(),
                password: form.require("password")?.to_owned(),
                scope,
            }),
            "authorization_code" => Ok(TokenRequest::AuthorizationCode {
                code: form.require("code")?.to_owned(),
                redirect_uri: form.get("redirect_uri").map(str::to_owned),
                code_verifier: form.get("code_verifier").map(str::to_owned),
            }),
            DEVICE_CODE_GRANT => Ok(TokenRequest::DeviceCode {
                device_code: form.require("device_code")?.to_owned(),
            }),
            "refresh_token" => Ok(TokenRequest::RefreshToken {
                refresh_token: form.require("refresh_token")?.to_owned(),
                scope,
            }),
            other => Err(OAuthError::unsupported_grant_type(format!(
                "grant_type {other:?} is not supported"
            ))),
        }
    }

    /// The grant type the client must hold.
    pub fn grant_type(&self) -> GrantType {
        match self {
            TokenRequest::ClientCredentials { .. } => GrantType::ClientCredentials,
            TokenRequest::Password { .. } => GrantType::Password,
            TokenRequest::RefreshToken { .. } => GrantType::RefreshToken,
            TokenRequest::AuthorizationCode { .. } => GrantType::AuthorizationCode,
            TokenRequest::DeviceCode { .. } => GrantType::DeviceCode,
        }
    }
}

/// Runs a decoded token request for an authenticated client.
pub async fn handle(
    state: &AppState,
    tenant: &Tenant,
    client: &Client,
    request: TokenRequest,
    address: IpAddr,
) -> Result<TokenResponse, OAuthError> {
    let grant = request.grant_type();
    if !state
        .policies
        .allows_grant_type(tenant, &client.application, grant)
    {
        return Err(OAuthError::unauthorized_client(format!(
            "this client may not use the {grant} grant"
        )));
    }
    let answered = match request {
        TokenRequest::ClientCredentials { scope } => {
            client_credentials::grant(state, tenant, client, scope).await
        }
        TokenRequest::Password {
            username,
            password,
            scope,
        } => {
            let attempt = crate::oauth::credentials::Attempt {
                username: &username,
                password,
                address,
            };
            password::grant(state, tenant, client, attempt, scope).await
        }
        TokenRequest::RefreshToken {
            refresh_token,
            scope,
        } => refresh_token::grant(state, tenant, client, &refresh_token, scope).await,
        TokenRequest::AuthorizationCode {
            code,
            redirect_uri,
            code_verifier,
        } => {
            let presented = authorization_code::Presented {
                code: &code,
                redirect_uri: redirect_uri.as_deref(),
                code_verifier: code_verifier.as_deref(),
            };
            authorization_code::grant(state, tenant, client, presented).await
        }
        TokenRequest::DeviceCode { device_code } => {
            device_code::grant(state, tenant, client, &device_code).await
        }
    };
    if answered.is_ok() {
        state.metrics.record_tokens(grant.as_str());
    }
    answered
}

/// A fresh access token (and, when asked, a refresh token starting a new family),
/// stored in one transaction on the tenant's token pool.
pub(crate) async fn mint(
    state: &AppState,
    tenant: &Tenant,
    client: &Client,
    user_id: Option<i64>,
    scopes: &Scopes,
    with_refresh_token: bool,
) -> Result<TokenResponse, OAuthError> {
    let application = &client.application;
    // A JWT access token names its user by subject (read only for such clients).
    let subject = match (AccessTokenFormat::of(application), user_id) {
        (AccessTokenFormat::Jwt, Some(user_id)) => {
            crate::store::users::find_by_id(state.data(tenant), user_id)
                .await?
                .map(|user| user.subject)
        }
        _ => None,
    };
    let prepared = Prepared::new(
        tenant,
        application.id,
        user_id,
        scopes.to_string(),
        with_refresh_token,
        None,
    )?
    .in_format(state, tenant, application, subject.as_deref(), None)
    .await?;
    match &prepared.refresh {
        None => tokens::issue_access_only(state.data(tenant), prepared.access.clone()).await?,
        Some(refresh) => {
            tokens::issue(
                state.data(tenant),
                prepared.access.clone(),
                Some(refresh.clone()),
            )
            .await?;
        }
    }
    Ok(prepared.response())
}
