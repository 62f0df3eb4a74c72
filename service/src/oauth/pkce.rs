//! Proof Key for Code Exchange (RFC 7636). `S256` is required by default for every
//! client; `plain` only where a tenant enables it. A code issued without a challenge
//! refuses a `code_verifier` (downgrade protection, OAuth 2.1 §4.1.3): an attacker who
//! stripped the challenge from the request cannot then present one.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::oauth::error::OAuthError;
use crate::secrets;
use crate::settings::OAuthSettings;

/// `S256` (RFC 7636 §4.2).
pub const S256: &str = "S256";
/// `plain` (RFC 7636 §4.2), off unless the tenant allows it.
pub const PLAIN: &str = "plain";

/// Whether `value` is 43 to 128 unreserved characters (RFC 7636 §4.1: the verifier;
/// §4.2: a `plain` challenge).
pub fn is_verifier_syntax(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~'))
}

/// Validates the challenge of an authorization request (RFC 7636 §4.3, §4.4.1).
/// `Ok(None)`: no PKCE, allowed for this client.
pub fn check_challenge(
    settings: &OAuthSettings,
    is_public_client: bool,
    challenge: Option<&str>,
    method: Option<&str>,
) -> Result<Option<(String, String)>, OAuthError> {
    let Some(challenge) = challenge else {
        if method.is_some() {
            return Err(OAuthError::invalid_request(
                "code_challenge_method without code_challenge",
            ));
        }
        if is_public_client || settings.pkce_required_for_confidential_clients {
            return Err(OAuthError::invalid_request(
                "code_challenge is required: send PKCE with code_challenge_method=S256 (RFC 7636)",
            ));
        }
        return Ok(None);
    };
    // §4.3: an absent method means plain.
    let method = method.unwrap_or(PLAIN);
    match method {
        S256 => {
            let decoded = URL_SAFE_NO_PAD.decode(challenge).ok();
            if challenge.len() != 43 || decoded.is_none_or(|bytes| bytes.len() != 32) {
                return Err(OAuthError::invalid_request(
                    "code_challenge must be the base64url SHA-256 of the verifier (43 characters)",
                ));
            }
        }
        PLAIN if settings.allow_plain_pkce => {
            if !is_verifier_syntax(challenge) {
                return Err(OAuthError::invalid_request(
                    "code_challenge must be 43 to 128 unreserved characters",
                ));
            }
        }
        PLAIN => {
            return Err(OAuthError::invalid_request(
                "code_challenge_method plain is not allowed here: use S256",
            ));
        }
        _ => {
            return Err(OAuthError::invalid_request(format!(
                "unsupported code_challenge_method {method:?}: use S256"
            )));
        }
    }
    Ok(Some((challenge.to_owned(), method.to_owned())))
}

/// Verifies `verifier` against a stored challenge (RFC 7636 §4.6), in constant time.
pub fn verify(verifier: &str, challenge: &str, method: &str) -> bool {
    if !is_verifier_syntax(verifier) {
        return false;
    }
    match method {
        S256 => secrets::equal(
            &URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())),
            challenge,
        ),
        PLAIN => secrets::equal(verifier, challenge),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(verify(verifier, challenge, S256));
        assert!(!verify(&verifier.replace('d', "e"), challenge, S256));
        assert!(!verify("short", challenge, S256));
    }
}
