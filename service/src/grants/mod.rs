//! The token endpoint's grants (RFC 6749 §4, §6), decoded from the form as a tagged
//! enum on `grant_type`, and the token response (RFC 6749 §5.1).

pub mod authorization_code;
pub mod client_credentials;
pub mod device_code;
pub mod password;
pub mod refresh_token;

use std::net::IpAddr;

use serde::Serialize;

use crate::oauth::access_token;
use crate::oauth::client_auth::Client;
use crate::oauth::error::OAuthError;
use crate::oauth::form::Form;
use crate::oauth::id_token::SignedIdToken;
use crate::oauth::scope::Scopes;
use crate::secrets::{self, checksum, prefix};
use crate::state::AppState;
use crate::store::applications::{AccessTokenFormat, GrantType};
use crate::store::tokens::{self, NewAccessToken, NewRefreshToken};
use crate::tenancy::Tenant;
use crate::time::{now, plus_seconds, seconds_until};

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

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    /// The access token.
    pub access_token: String,
    /// Always `Bearer` (RFC 6750).
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// A refresh token, when the grant issues one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Granted scopes (always sent, RFC 6749 §5.1 allows it).
    pub scope: String,
    /// The ID token, when `openid` is granted (OIDC Core §3.1.3.3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
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
    match request {
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
    }
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

/// When a refresh token issued at `issued_at` expires: `refresh_token_lifetime_secs`
/// after its issue, renewed with every rotation (a sliding window, like DOT's
/// `REFRESH_TOKEN_EXPIRE_SECONDS` counted from the last access token).
pub(crate) fn refresh_expiry(
    settings: &crate::settings::OAuthSettings,
    issued_at: entity::Timestamp,
) -> Option<entity::Timestamp> {
    settings
        .refresh_token_lifetime_secs
        .map(|lifetime| plus_seconds(issued_at, lifetime))
}

/// Tokens generated for a grant, before they are stored: the values for the response
/// and the rows (checksums) for the store.
pub(crate) struct Prepared {
    access_token: String,
    refresh_token: Option<String>,
    expires_at: entity::Timestamp,
    scope: String,
    id_token: Option<String>,
    /// The access token row.
    pub access: NewAccessToken,
    /// The refresh token row, starting a new family.
    pub refresh: Option<NewRefreshToken>,
}

impl Prepared {
    /// Fresh tokens for `user_id` and `scope` of the client `application_id`.
    pub fn new(
        tenant: &Tenant,
        application_id: i64,
        user_id: Option<i64>,
        scope: String,
        with_refresh_token: bool,
        authorization_code_id: Option<i64>,
    ) -> Result<Self, OAuthError> {
        let settings = &tenant.settings;
        let access_token = secrets::generate(prefix::ACCESS_TOKEN)?;
        let refresh_token = if with_refresh_token {
            Some(secrets::generate(prefix::REFRESH_TOKEN)?)
        } else {
            None
        };
        let issued_at = now();
        let expires_at = plus_seconds(issued_at, settings.access_token_lifetime_secs);
        let access = NewAccessToken {
            token_checksum: checksum(&access_token),
            application_id,
            user_id,
            scope: scope.clone(),
            expires_at,
            source_refresh_token_id: None,
            authorization_code_id,
            id_token: None,
        };
        let refresh = refresh_token.as_ref().map(|token| NewRefreshToken {
            token_checksum: checksum(token),
            family_id: uuid::Uuid::new_v4().to_string(),
            scope: scope.clone(),
            expires_at: refresh_expiry(settings, issued_at),
            auth_time: None,
            acr: None,
            amr: None,
        });
        Ok(Self {
            access_token,
            refresh_token,
            expires_at,
            scope,
            id_token: None,
            access,
            refresh,
        })
    }

    /// The access token in the client's format: a JWT (RFC 9068) for a client that
    /// asks for one, whose `sub` is `subject`.
    pub async fn in_format(
        mut self,
        state: &AppState,
        tenant: &Tenant,
        application: &entity::application::Model,
        subject: Option<&str>,
        auth_time: Option<entity::Timestamp>,
    ) -> Result<Self, OAuthError> {
        if AccessTokenFormat::of(application) == AccessTokenFormat::Jwt {
            let token = access_token::mint(
                state,
                tenant,
                application,
                subject,
                &self.scope,
                self.expires_at,
                auth_time,
            )
            .await?;
            self.access.token_checksum = checksum(&token);
            self.access_token = token;
        }
        Ok(self)
    }

    /// The access token (for `at_hash`).
    pub fn access_token(&self) -> &str {
        &self.access_token
    }

    /// Adds the signed ID token: its record is stored with the access token.
    pub fn with_id_token(mut self, signed: SignedIdToken) -> Self {
        self.access.id_token = Some(signed.record);
        self.id_token = Some(signed.token);
        self
    }

    /// The token response (RFC 6749 §5.1), once the rows are stored.
    pub fn response(self) -> TokenResponse {
        TokenResponse {
            access_token: self.access_token,
            token_type: "Bearer",
            expires_in: seconds_until(self.expires_at),
            refresh_token: self.refresh_token,
            scope: self.scope,
            id_token: self.id_token,
        }
    }
}
