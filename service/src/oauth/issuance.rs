//! Issuing tokens (RFC 6749 §5.1): fresh access and refresh tokens for a grant, in
//! the client's format, before they are stored, and the token response. The token
//! endpoint's grants and the authorization endpoint's front-channel answer
//! (`response_type=token`) mint through the same [`Prepared`].

use serde::Serialize;

use crate::oauth::access_token;
use crate::oauth::error::OAuthError;
use crate::oauth::id_token::SignedIdToken;
use crate::registration::AccessTokenFormat;
use crate::secrets::{OrderedToken, checksum};
use crate::state::AppState;
use crate::store::tokens::{NewAccessToken, NewRefreshToken};
use crate::tenancy::Tenant;
use crate::time::{now, plus_seconds, seconds_until};

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
        let issued_at = now();
        let access_token = access_token::opaque_token(settings, OrderedToken::Access, issued_at)?;
        let refresh_token = if with_refresh_token {
            Some(access_token::opaque_token(
                settings,
                OrderedToken::Refresh,
                issued_at,
            )?)
        } else {
            None
        };
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
            // Time-ordered (UUIDv7, RFC 9562 §5.7): a new family lands at the end of the
            // family index, as its tokens do at the end of the key index.
            family_id: uuid::Uuid::now_v7().to_string(),
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
