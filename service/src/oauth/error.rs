//! The protocol error: RFC 6749 §5.2 error codes (and RFC 6750 §3.1 for bearer tokens)
//! with a description for the developer. It knows no HTTP: the endpoints decide the
//! status, headers and body (`endpoints::error`). Internal causes stay inside
//! [`OAuthError::Internal`] and are logged there, never sent.

use crate::error::Error;

/// Why a protocol request failed.
#[derive(Debug)]
pub enum OAuthError {
    /// `invalid_request`: malformed, missing or repeated parameter.
    InvalidRequest(String),
    /// `invalid_client`: every client authentication failure gets this one answer,
    /// whatever failed (oxide-auth's rule).
    InvalidClient,
    /// `invalid_grant`: bad, expired, revoked or foreign grant.
    InvalidGrant(String),
    /// `unauthorized_client`: the client may not use this grant type.
    UnauthorizedClient(String),
    /// `unsupported_grant_type`.
    UnsupportedGrantType(String),
    /// `invalid_scope`.
    InvalidScope(String),
    /// `invalid_token` (RFC 6750 §3.1): a bearer token that does not authorize.
    InvalidToken,
    /// `insufficient_scope` (RFC 6750 §3.1), naming the scope needed.
    InsufficientScope(&'static str),
    /// `unsupported_response_type` (RFC 6749 §4.1.2.1).
    UnsupportedResponseType(String),
    /// `access_denied`: the user refused (RFC 6749 §4.1.2.1, RFC 8628 §3.5).
    AccessDenied(String),
    /// `authorization_pending` (RFC 8628 §3.5): the user has not decided yet.
    AuthorizationPending,
    /// `slow_down` (RFC 8628 §3.5): polled too fast; the interval grew by 5 s.
    SlowDown,
    /// `expired_token` (RFC 8628 §3.5): the device code expired.
    ExpiredToken,
    /// `login_required` (OIDC Core §3.1.2.6): `prompt=none` but the user must sign in.
    LoginRequired(String),
    /// `consent_required` (OIDC Core §3.1.2.6): `prompt=none` but consent is needed.
    ConsentRequired,
    /// `request_not_supported` (OIDC Core §3.1.2.6): a request object (§6.1).
    RequestNotSupported,
    /// `request_uri_not_supported` (OIDC Core §3.1.2.6): a request object by
    /// reference (§6.2).
    RequestUriNotSupported,
    /// `registration_not_supported` (OIDC Core §3.1.2.6): the `registration`
    /// parameter (§7.2.1).
    RegistrationNotSupported,
    /// `invalid_redirect_uri` (RFC 7591 §3.2.2): a redirect URI a registration may
    /// not use.
    InvalidRedirectUri(String),
    /// `invalid_client_metadata` (RFC 7591 §3.2.2): another metadata value refused.
    InvalidClientMetadata(String),
    /// `invalid_software_statement` (RFC 7591 §3.2.2): malformed, or its signature
    /// does not verify.
    InvalidSoftwareStatement(String),
    /// `unapproved_software_statement` (RFC 7591 §3.2.2): not signed by an issuer the
    /// tenant trusts.
    UnapprovedSoftwareStatement(String),
    /// The authenticated caller may not do this (403), saying why; nothing changed.
    Forbidden(String),
    /// Too many pending interactions or device grants from this address or in this
    /// tenant: nothing was stored. Retry after this many seconds.
    TooManyPending {
        /// Seconds a client should wait.
        retry_after_secs: u64,
    },
    /// A tenant the directory does not hold.
    UnknownTenant(String),
    /// Something else the request names does not exist (404), saying what.
    NotFound(&'static str),
    /// Too many failed attempts (RFC 6749 §2.3.1, §4.3.2: the server MUST protect the
    /// endpoint against brute force). Retry after this many seconds.
    TooManyAttempts {
        /// Seconds until the window lets an attempt through again.
        retry_after_secs: u64,
    },
    /// The server is saturated (slow-hash queue full); retry after this many seconds.
    Busy {
        /// Seconds a client should wait.
        retry_after_secs: u64,
    },
    /// A database or Redis that does not answer: temporary.
    Unavailable(Error),
    /// Anything else: logged, answered as `server_error`.
    Internal(Error),
}

/// `Retry-After` of an answer while a database or Redis does not answer.
pub const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 5;

/// The error codes an external login application may reject a request with
/// (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6).
pub const REJECTION_CODES: [&str; 3] = ["access_denied", "login_required", "consent_required"];

impl OAuthError {
    /// The error of an external login application's rejection (one of
    /// [`REJECTION_CODES`]; anything else is `access_denied`).
    pub fn from_rejection(code: &str, description: Option<String>) -> Self {
        let described = |default: &str| description.clone().unwrap_or_else(|| default.to_owned());
        match code {
            "login_required" => Self::LoginRequired(described("the user must sign in")),
            "consent_required" => Self::ConsentRequired,
            _ => Self::AccessDenied(described("the user refused the authorization")),
        }
    }

    /// `invalid_request` with a description.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::InvalidRequest(description.into())
    }

    /// `invalid_grant` with a description.
    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::InvalidGrant(description.into())
    }

    /// `invalid_scope` with a description.
    pub fn invalid_scope(description: impl Into<String>) -> Self {
        Self::InvalidScope(description.into())
    }

    /// `unauthorized_client` with a description.
    pub fn unauthorized_client(description: impl Into<String>) -> Self {
        Self::UnauthorizedClient(description.into())
    }

    /// `unsupported_grant_type` with a description.
    pub fn unsupported_grant_type(description: impl Into<String>) -> Self {
        Self::UnsupportedGrantType(description.into())
    }

    /// The error code sent in the body (RFC 6749 §5.2, RFC 6750 §3.1).
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant(_) => "invalid_grant",
            Self::UnauthorizedClient(_) => "unauthorized_client",
            Self::UnsupportedGrantType(_) => "unsupported_grant_type",
            Self::InvalidScope(_) => "invalid_scope",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope(_) => "insufficient_scope",
            Self::UnsupportedResponseType(_) => "unsupported_response_type",
            Self::AccessDenied(_) => "access_denied",
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::ExpiredToken => "expired_token",
            Self::LoginRequired(_) => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::RequestNotSupported => "request_not_supported",
            Self::RequestUriNotSupported => "request_uri_not_supported",
            Self::RegistrationNotSupported => "registration_not_supported",
            Self::InvalidRedirectUri(_) => "invalid_redirect_uri",
            Self::InvalidClientMetadata(_) => "invalid_client_metadata",
            Self::InvalidSoftwareStatement(_) => "invalid_software_statement",
            Self::UnapprovedSoftwareStatement(_) => "unapproved_software_statement",
            // A 403 to an authenticated caller (RFC 6749 §5.2 has no code for it).
            Self::Forbidden(_) => "access_denied",
            // RFC 8628 §3.5's "slow down" fits the device endpoint, the only JSON
            // answer of this error; pages show it as "try again later".
            Self::TooManyPending { .. } => "slow_down",
            Self::UnknownTenant(_) | Self::NotFound(_) => "not_found",
            // RFC 6749 has no code for these; `temporarily_unavailable` is the
            // authorization endpoint's (§4.1.2.1) and says "retry later".
            Self::TooManyAttempts { .. } | Self::Busy { .. } | Self::Unavailable(_) => {
                "temporarily_unavailable"
            }
            Self::Internal(_) => "server_error",
        }
    }

    /// The description sent in the body: for the developer, never an internal cause.
    pub fn description(&self) -> String {
        match self {
            Self::InvalidRequest(text)
            | Self::InvalidGrant(text)
            | Self::UnauthorizedClient(text)
            | Self::UnsupportedGrantType(text)
            | Self::InvalidScope(text)
            | Self::UnsupportedResponseType(text)
            | Self::AccessDenied(text)
            | Self::Forbidden(text)
            | Self::InvalidRedirectUri(text)
            | Self::InvalidClientMetadata(text)
            | Self::InvalidSoftwareStatement(text)
            | Self::UnapprovedSoftwareStatement(text)
            | Self::LoginRequired(text) => text.clone(),
            Self::RequestNotSupported => {
                "request objects (the request parameter) are not supported".to_owned()
            }
            Self::RequestUriNotSupported => "request_uri is not supported".to_owned(),
            Self::RegistrationNotSupported => {
                "the registration parameter is not supported: register the client first".to_owned()
            }
            Self::TooManyPending { retry_after_secs } => format!(
                "too many sign-ins or device codes are waiting from this address; retry in \
                 {retry_after_secs} s"
            ),
            Self::ConsentRequired => {
                "prompt=none, but the user has not approved this application's scopes".to_owned()
            }
            Self::AuthorizationPending => "the user has not approved the device yet".to_owned(),
            Self::SlowDown => "polling too fast: wait the interval, now 5 s longer".to_owned(),
            Self::ExpiredToken => "the device code has expired: start again".to_owned(),
            Self::InvalidClient => "client authentication failed".to_owned(),
            Self::InvalidToken => "the access token is invalid, expired or revoked".to_owned(),
            Self::InsufficientScope(scope) => format!("the access token lacks the {scope:?} scope"),
            Self::UnknownTenant(slug) => format!("unknown tenant {slug:?}"),
            Self::NotFound(what) => (*what).to_owned(),
            Self::TooManyAttempts { retry_after_secs } => {
                format!("too many failed attempts; retry in {retry_after_secs} s")
            }
            Self::Busy { retry_after_secs } => {
                format!("the server is busy; retry in {retry_after_secs} s")
            }
            Self::Unavailable(_) => "a database is unavailable; retry later".to_owned(),
            Self::Internal(_) => "the server could not complete the request".to_owned(),
        }
    }

    /// Seconds a client should wait before retrying, when the error says so.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::TooManyAttempts { retry_after_secs }
            | Self::Busy { retry_after_secs }
            | Self::TooManyPending { retry_after_secs } => Some(*retry_after_secs),
            // RFC 9110 §10.2.3: a hint for a 503; the database may be back soon.
            Self::Unavailable(_) => Some(UNAVAILABLE_RETRY_AFTER_SECS),
            _ => None,
        }
    }
}

impl From<Error> for OAuthError {
    fn from(error: Error) -> Self {
        if let Error::Overloaded { retry_after_secs } = error {
            return Self::Busy { retry_after_secs };
        }
        match &error {
            Error::Pool { .. } | Error::Redis(_) => Self::Unavailable(error),
            Error::Database(cause) if crate::store::is_unavailable(cause) => {
                Self::Unavailable(error)
            }
            _ => Self::Internal(error),
        }
    }
}
