//! Private keys at rest: sealed with XChaCha20-Poly1305 under the key-encryption key
//! (KEK) from the configuration, bound by associated data to the tenant and key id,
//! so a sealed key copied onto another row does not open.
//!
//! A sealed value is `v1.{kek id}.{base64url(nonce ‖ ciphertext)}`; the KEK id (the
//! first 16 hex digits of a SHA-256 of the KEK) lets a wrong KEK be named at startup
//! instead of failing as "corrupt".

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

use crate::config::{Config, read_secret};
use crate::error::Error;
use crate::secrets::random_bytes;

/// The KEK file read when the configuration names none, if it exists.
pub const DEFAULT_KEK_FILE: &str = "tessera.kek";

const NONCE_BYTES: usize = 24;

/// How to make a key-encryption key, for error messages.
pub const HOW_TO_CREATE: &str = "create one with `tessera keys generate-kek --output tessera.kek` \
     and set key_encryption_key_file = \"tessera.kek\" (or TESSERA_KEY_ENCRYPTION_KEY_FILE); \
     keep it out of the database and back it up: without it the signing keys cannot be opened";

/// The 256-bit key-encryption key. Its `Debug` shows the id only.
#[derive(Clone)]
pub struct KeyEncryptionKey {
    key: [u8; 32],
    id: String,
}

impl fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "KeyEncryptionKey({})", self.id)
    }
}

/// Why a sealed value did not open.
#[derive(Debug, PartialEq, Eq)]
pub enum OpenError {
    /// It was sealed under another KEK (its id is given).
    OtherKey(String),
    /// The value is damaged, or belongs to another tenant or key id.
    Corrupt,
}

impl KeyEncryptionKey {
    /// Parses 32 bytes written as base64 (standard or URL-safe, padded or not) or as 64
    /// hex digits. `source` names where it came from in messages.
    pub fn parse(text: &str, source: &str) -> Result<Self, Error> {
        let text = text.trim();
        let decoded = if text.len() == 64 && text.bytes().all(|byte| byte.is_ascii_hexdigit()) {
            (0..32)
                .map(|index| u8::from_str_radix(&text[index * 2..index * 2 + 2], 16).ok())
                .collect::<Option<Vec<u8>>>()
        } else {
            [URL_SAFE_NO_PAD, URL_SAFE, STANDARD, STANDARD_NO_PAD]
                .iter()
                .find_map(|engine| engine.decode(text).ok())
        };
        let key: [u8; 32] = decoded
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| {
                Error::Config(format!(
                    "{source}: a key-encryption key is 32 random bytes in base64 or hex; {HOW_TO_CREATE}"
                ))
            })?;
        Ok(Self::from_bytes(key))
    }

    /// The configured KEK: `key_encryption_key`, else `key_encryption_key_file`, else
    /// [`DEFAULT_KEK_FILE`] when it exists. Missing is an error that says how to make one.
    pub fn from_config(config: &Config) -> Result<Self, Error> {
        let inline = config.key_encryption_key.as_ref().map(|secret| &secret.0);
        match (inline, &config.key_encryption_key_file) {
            (Some(_), Some(_)) => Err(Error::Config(
                "set key_encryption_key or key_encryption_key_file, not both".to_owned(),
            )),
            (Some(text), None) => Self::parse(text, "key_encryption_key"),
            (None, Some(path)) => Self::parse(
                &read_secret("key_encryption_key", None, Some(path))?,
                "key_encryption_key_file",
            ),
            (None, None) if std::path::Path::new(DEFAULT_KEK_FILE).is_file() => Self::parse(
                &read_secret(
                    "key_encryption_key",
                    None,
                    Some(&std::path::PathBuf::from(DEFAULT_KEK_FILE)),
                )?,
                DEFAULT_KEK_FILE,
            ),
            (None, None) => Err(Error::Config(format!(
                "key_encryption_key is not set (it seals the tenants' signing keys): {HOW_TO_CREATE}"
            ))),
        }
    }

    fn from_bytes(key: [u8; 32]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"tessera kek id\0");
        hasher.update(key);
        let digest = hasher.finalize();
        let id = digest[..8]
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        Self { key, id }
    }

    /// A new random KEK, base64url-encoded (what `tessera keys generate-kek` prints).
    pub fn generate() -> Result<String, Error> {
        Ok(URL_SAFE_NO_PAD.encode(random_bytes(32)?))
    }

    /// The KEK's public id (not secret: a digest).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// A key for another `purpose`, the same on every node with this KEK and
    /// unrelated to the sealing key (HMAC-SHA-256 of the purpose under the KEK).
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        use hmac::{Hmac, Mac};
        let Ok(mut mac) = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.key) else {
            return [0; 32];
        };
        mac.update(b"tessera derived key v1\0");
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Seals `plaintext`, bound to `context`.
    pub fn seal(&self, context: &[u8], plaintext: &[u8]) -> Result<String, Error> {
        let nonce = random_bytes(NONCE_BYTES)?;
        let ciphertext = XChaCha20Poly1305::new(&self.key.into())
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: context,
                },
            )
            .map_err(|_| Error::Keys("sealing a key failed".to_owned()))?;
        let mut sealed = nonce;
        sealed.extend_from_slice(&ciphertext);
        Ok(format!("v1.{}.{}", self.id, URL_SAFE_NO_PAD.encode(sealed)))
    }

    /// Opens what [`seal`](Self::seal) made with the same `context`.
    pub fn open(&self, context: &[u8], sealed: &str) -> Result<Vec<u8>, OpenError> {
        let mut parts = sealed.splitn(3, '.');
        let (Some("v1"), Some(id), Some(body)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(OpenError::Corrupt);
        };
        if id != self.id {
            return Err(OpenError::OtherKey(id.to_owned()));
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| OpenError::Corrupt)?;
        if bytes.len() <= NONCE_BYTES {
            return Err(OpenError::Corrupt);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        XChaCha20Poly1305::new(&self.key.into())
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context,
                },
            )
            .map_err(|_| OpenError::Corrupt)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sealed_keys_open_only_with_their_kek_and_context() {
        let kek = KeyEncryptionKey::parse(&KeyEncryptionKey::generate().unwrap(), "test").unwrap();
        let sealed = kek.seal(b"tenant 1 kid a", b"private").unwrap();
        assert!(!sealed.contains("private"));
        assert_eq!(kek.open(b"tenant 1 kid a", &sealed).unwrap(), b"private");
        assert_eq!(
            kek.open(b"tenant 2 kid a", &sealed),
            Err(OpenError::Corrupt)
        );
        let other = KeyEncryptionKey::parse(&"ab".repeat(32), "test").unwrap();
        assert_eq!(
            other.open(b"tenant 1 kid a", &sealed),
            Err(OpenError::OtherKey(kek.id().to_owned()))
        );
        assert!(format!("{kek:?}").contains(kek.id()));
    }

    #[test]
    fn a_kek_must_be_32_bytes() {
        let error = KeyEncryptionKey::parse("c2hvcnQ", "key_encryption_key").unwrap_err();
        assert!(error.to_string().contains("generate-kek"), "{error}");
        assert!(KeyEncryptionKey::parse(&STANDARD.encode([7u8; 32]), "x").is_ok());
    }
}
