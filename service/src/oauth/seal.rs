//! Sealing a rotated refresh token's successor pair so that, within the grace period,
//! replaying the old token returns the *same* pair (fixing DOT #1617, where a retry
//! minted yet another pair).
//!
//! Tokens are stored only as checksums, so the successor's plaintext cannot be read
//! back from the database. Instead it is encrypted (XChaCha20-Poly1305) under a key
//! derived from the old refresh token, which the server never stores: only someone
//! presenting that token can open it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::Aead;
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::secrets::random_bytes;

/// The plaintext kept for a grace-period retry.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SealedPair {
    /// The successor access token.
    pub access_token: String,
    /// The successor refresh token.
    pub refresh_token: String,
}

fn cipher(old_refresh_token: &str) -> XChaCha20Poly1305 {
    let mut hasher = Sha256::new();
    hasher.update(b"tessera refresh grace v1\0");
    hasher.update(old_refresh_token.as_bytes());
    XChaCha20Poly1305::new(&hasher.finalize())
}

/// Encrypts `pair` under a key derived from `old_refresh_token`.
pub fn seal(old_refresh_token: &str, pair: &SealedPair) -> Result<String, Error> {
    let nonce_bytes = random_bytes(24)?;
    let nonce = XNonce::from_slice(&nonce_bytes);
    let plaintext =
        serde_json::to_vec(pair).map_err(|error| Error::Hashing(format!("seal: {error}")))?;
    let ciphertext = cipher(old_refresh_token)
        .encrypt(nonce, plaintext.as_slice())
        .map_err(|_| Error::Hashing("seal: encryption failed".to_owned()))?;
    let mut sealed = nonce_bytes;
    sealed.extend_from_slice(&ciphertext);
    Ok(URL_SAFE_NO_PAD.encode(sealed))
}

/// Opens what [`seal`] produced; `None` when the token or the data do not match.
pub fn open(old_refresh_token: &str, sealed: &str) -> Option<SealedPair> {
    let bytes = URL_SAFE_NO_PAD.decode(sealed).ok()?;
    if bytes.len() < 24 {
        return None;
    }
    let (nonce, ciphertext) = bytes.split_at(24);
    let plaintext = cipher(old_refresh_token)
        .decrypt(XNonce::from_slice(nonce), ciphertext)
        .ok()?;
    serde_json::from_slice(&plaintext).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn only_the_old_token_opens_the_pair() {
        let pair = SealedPair {
            access_token: "tsa_a".to_owned(),
            refresh_token: "tsr_b".to_owned(),
        };
        let sealed = seal("tsr_old", &pair).unwrap();
        assert!(!sealed.contains("tsa_a"));
        assert_eq!(open("tsr_old", &sealed), Some(pair));
        assert_eq!(open("tsr_other", &sealed), None);
        assert_eq!(open("tsr_old", "garbage"), None);
    }
}
