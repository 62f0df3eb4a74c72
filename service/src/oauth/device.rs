//! Device authorization (RFC 8628): a device without a browser gets a device code to
//! poll with and a short user code for a person to type on another screen.
//!
//! User codes (§6.1): 8 characters from 20 consonants (no vowels, so no words; no
//! 0/O or 1/I/L ambiguity), shown as `BCDF-GHJK`, compared case-insensitively with
//! dashes and spaces ignored: 20⁸ ≈ 2.6·10¹⁰ codes, and wrong guesses count against
//! the address's failure limit.

use std::net::IpAddr;

use serde::Serialize;

use crate::error::Error;
use crate::limits::failures::FailureKey;
use crate::limits::pending::PendingKind;
use crate::oauth::client_auth::Client;
use crate::oauth::error::OAuthError;
use crate::oauth::pending_limits;
use crate::oauth::scope::Scopes;
use crate::registration::GrantType;
use crate::secrets::{self, checksum, prefix};
use crate::state::AppState;
use crate::store::device_grants::{self, NewDeviceGrant};
use crate::tenancy::Tenant;
use crate::time::{now, plus_seconds};

/// The user code alphabet (RFC 8628 §6.1's example: base-20 consonants).
pub const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
/// Characters in a user code.
pub const USER_CODE_LENGTH: usize = 8;

/// The device authorization response (RFC 8628 §3.2).
#[derive(Debug, Serialize)]
pub struct DeviceAuthorization {
    /// The device's polling secret.
    pub device_code: String,
    /// What the person types, `XXXX-XXXX`.
    pub user_code: String,
    /// Where they type it.
    pub verification_uri: String,
    /// The same with the code filled in (for a QR code).
    pub verification_uri_complete: String,
    /// Seconds until both codes expire.
    pub expires_in: u64,
    /// Minimum seconds between polls.
    pub interval: u32,
}

/// A fresh user code, formatted `XXXX-XXXX`. Rejection sampling keeps every letter
/// equally likely.
fn new_user_code() -> Result<String, Error> {
    let mut code = String::with_capacity(USER_CODE_LENGTH + 1);
    while code.len() < USER_CODE_LENGTH + 1 {
        for byte in secrets::random_bytes(16)? {
            // 240 = 12 × 20: bytes above it would favour the first letters.
            if byte >= 240 || code.len() == USER_CODE_LENGTH + 1 {
                continue;
            }
            if code.len() == USER_CODE_LENGTH / 2 {
                code.push('-');
            }
            code.push(char::from(USER_CODE_ALPHABET[usize::from(byte % 20)]));
        }
    }
    Ok(code)
}

/// The canonical form of a typed user code (upper case, no dashes or spaces), or
/// `None` when it cannot be one.
pub fn normalise_user_code(typed: &str) -> Option<String> {
    if typed.len() > 32 {
        return None;
    }
    let code: String = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (code.len() == USER_CODE_LENGTH && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)))
        .then_some(code)
}

/// `XXXX-XXXX` of a normalised code.
pub fn display_user_code(normalised: &str) -> String {
    let (left, right) = normalised.split_at(normalised.len().min(USER_CODE_LENGTH / 2));
    format!("{left}-{right}")
}

/// Starts a device authorization for an authenticated client (RFC 8628 §3.1) from
/// `source`, within the caps of pending grants per address and per tenant
/// ([`pending_limits`]).
pub async fn start(
    state: &AppState,
    tenant: &Tenant,
    client: &Client,
    requested: Option<Scopes>,
    source: IpAddr,
) -> Result<DeviceAuthorization, OAuthError> {
    if !state
        .policies
        .allows_grant_type(tenant, &client.application, GrantType::DeviceCode)
    {
        return Err(OAuthError::unauthorized_client(
            "this client may not use the device authorization grant",
        ));
    }
    let settings = &tenant.settings;
    let allowed = Scopes::from_stored(&client.application.allowed_scopes);
    let scopes = Scopes::grant(requested, settings, &allowed)?;
    let device_code = secrets::generate(prefix::DEVICE_CODE)?;
    let expires_at = plus_seconds(now(), settings.device_code_lifetime_secs);
    let slot = pending_limits::reserve(state, tenant, PendingKind::DeviceGrant, source).await?;
    // A taken user code (one in billions while few are live) draws again.
    for _ in 0..5 {
        let user_code = new_user_code()?;
        let normalised = user_code.replace('-', "");
        let stored = device_grants::create(
            &slot.writer,
            NewDeviceGrant {
                device_code_checksum: checksum(&device_code),
                user_code_checksum: checksum(&normalised),
                application_id: client.application.id,
                scope: scopes.to_string(),
                interval_seconds: i32::try_from(settings.device_poll_interval_secs).unwrap_or(5),
                source_address: slot.source.clone(),
                expires_at,
            },
        )
        .await;
        match stored {
            Ok(()) => {
                slot.stored();
                let verification_uri = format!("{}/device", state.config.issuer(&tenant.slug));
                return Ok(DeviceAuthorization {
                    device_code,
                    verification_uri_complete: format!("{verification_uri}?user_code={user_code}"),
                    user_code,
                    verification_uri,
                    expires_in: settings.device_code_lifetime_secs,
                    interval: settings.device_poll_interval_secs,
                });
            }
            Err(Error::Conflict(_)) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    Err(OAuthError::Internal(Error::Conflict(
        "no free user code after 5 draws".to_owned(),
    )))
}

/// The pending grant a typed user code names. A code that names none counts as a
/// failure of `address` (guessing is brute force); over the limit: `TooManyAttempts`.
pub async fn find_pending(
    state: &AppState,
    tenant: &Tenant,
    typed: &str,
    address: IpAddr,
) -> Result<Option<entity::device_grant::Model>, OAuthError> {
    let key = FailureKey::Address {
        tenant_id: tenant.id,
        address,
    };
    let limit = crate::limits::failures::Limit::new(
        tenant.settings.max_failures_per_address,
        tenant.settings.failure_window_secs,
    );
    state
        .failures
        .check(&[(key, limit)])
        .await
        .map_err(|retry| OAuthError::TooManyAttempts {
            retry_after_secs: retry.seconds(),
        })?;
    let found = match normalise_user_code(typed) {
        Some(code) => {
            device_grants::find_pending_by_user_code(state.data(tenant), &checksum(&code)).await?
        }
        None => None,
    };
    if found.is_none() {
        state.failures.record_failure(&[(key, limit)]).await;
    }
    Ok(found)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_easy_to_type() {
        for _ in 0..100 {
            let code = new_user_code().unwrap();
            assert_eq!(code.len(), 9, "{code}");
            assert_eq!(&code[4..5], "-");
            let normalised = normalise_user_code(&code.to_lowercase()).unwrap();
            assert_eq!(display_user_code(&normalised), code);
        }
        assert_eq!(
            normalise_user_code("bcdf ghjk").as_deref(),
            Some("BCDFGHJK")
        );
        assert_eq!(normalise_user_code("BCDF-GHJA"), None);
        assert_eq!(normalise_user_code("BCDF-GHJ"), None);
    }
}
