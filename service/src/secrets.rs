//! Generation, checksums and hashes of secrets (docs/security.md).
//!
//! * Opaque tokens and codes: a recognisable prefix plus 256 bits from the operating
//!   system's CSPRNG, base64url; only their SHA-256 checksum is stored and looked up.
//!   Access and refresh tokens also carry the second they were issued, so that their
//!   stored keys sort by issue time ([`generate_time_ordered`], [`checksum`]).
//! * Client secrets Tessera generates: 256 bits, stored as HMAC-SHA-256 under a random
//!   per-secret salt. A secret with that much entropy needs no slow KDF, so the token
//!   endpoint's hot path costs one keyed hash.
//! * User passwords: argon2id (PHC string), deliberately slow.
//!
//! Every comparison of secret material is constant-time (`subtle`).

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::TryRngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::Error;

/// Bytes of randomness in every generated token, code and client secret (256 bits).
pub const SECRET_BYTES: usize = 32;

/// Length from which a presented secret counts as machine-generated strength (43
/// base64url characters carry 256 bits): shorter imported secrets keep a slow hash.
pub const STRONG_SECRET_CHARS: usize = 43;

/// Prefixes that make a leaked value recognisable (and greppable by secret scanners).
pub mod prefix {
    /// Access tokens.
    pub const ACCESS_TOKEN: &str = "tsa_";
    /// Refresh tokens.
    pub const REFRESH_TOKEN: &str = "tsr_";
    /// Authorization codes.
    pub const AUTHORIZATION_CODE: &str = "tsc_";
    /// Device codes.
    pub const DEVICE_CODE: &str = "tsd_";
    /// Client secrets.
    pub const CLIENT_SECRET: &str = "tss_";
    /// Verifiers of an external login application's answers.
    pub const INTERACTION_VERIFIER: &str = "tsv_";
    /// Registration access tokens (RFC 7592 §3).
    pub const REGISTRATION_TOKEN: &str = "tsm_";
}

const HMAC_SCHEME: &str = "hmac-sha256";

/// `count` bytes from the operating system's CSPRNG.
pub fn random_bytes(count: usize) -> Result<Vec<u8>, Error> {
    let mut bytes = vec![0u8; count];
    OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|error| Error::Hashing(format!("operating system RNG: {error}")))?;
    Ok(bytes)
}

/// A new opaque secret: `prefix` + base64url(256 random bits).
pub fn generate(prefix: &str) -> Result<String, Error> {
    Ok(format!(
        "{prefix}{}",
        URL_SAFE_NO_PAD.encode(random_bytes(SECRET_BYTES)?)
    ))
}

/// The tokens that carry their issue second ([`generate_time_ordered`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderedToken {
    /// An access token (`tsa_`).
    Access,
    /// A refresh token (`tsr_`).
    Refresh,
}

impl OrderedToken {
    const ALL: [Self; 2] = [Self::Access, Self::Refresh];

    /// The token's prefix.
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Access => prefix::ACCESS_TOKEN,
            Self::Refresh => prefix::REFRESH_TOKEN,
        }
    }
}

/// Characters after the prefix of a [`generate_time_ordered`] token: base64url of a
/// 4-byte issue second and 256 random bits.
const TIME_ORDERED_BODY_CHARS: usize = 48;

/// Characters of every stored key ([`checksum`]).
pub const KEY_CHARS: usize = 64;

/// A new access or refresh token: its prefix + base64url(issue second as 4
/// big-endian bytes ‖ 256 random bits). [`checksum`] puts that second in front of
/// the token's SHA-256, so the stored keys of a pool's tokens grow in time order:
/// each insert lands on the last pages of the key index instead of at a random page
/// of an index that outgrows memory (docs/decisions.md, "Time-ordered token keys").
/// The second is public (as a JWT's `iat`); the secret is the 256 random bits.
/// Seconds past 2106 (`u32::MAX`) all count as that last second.
pub fn generate_time_ordered(token: OrderedToken, issued_at_unix: i64) -> Result<String, Error> {
    let second = u32::try_from(issued_at_unix.max(0)).unwrap_or(u32::MAX);
    let mut body = Vec::with_capacity(4 + SECRET_BYTES);
    body.extend_from_slice(&second.to_be_bytes());
    body.extend_from_slice(&random_bytes(SECRET_BYTES)?);
    Ok(format!(
        "{}{}",
        token.prefix(),
        URL_SAFE_NO_PAD.encode(body)
    ))
}

/// The issue second a [`generate_time_ordered`] access or refresh token carries;
/// `None` for every other value (older tokens, codes, anything presented).
fn issue_second(value: &str) -> Option<[u8; 4]> {
    let body = OrderedToken::ALL
        .iter()
        .find_map(|token| value.strip_prefix(token.prefix()))?;
    if body.len() != TIME_ORDERED_BODY_CHARS {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(body).ok()?;
    bytes.get(..4)?.try_into().ok()
}

/// A random public identifier (client ids): 128 bits, base64url, never starting
/// with `-` (a command line would read it as an option: `tessera app show -x…`).
pub fn generate_identifier() -> Result<String, Error> {
    loop {
        let identifier = URL_SAFE_NO_PAD.encode(random_bytes(16)?);
        if !identifier.starts_with('-') {
            return Ok(identifier);
        }
    }
}

/// The only form of a token or code that is stored and looked up, 64 characters:
/// the SHA-256 of the value in lowercase hex. For a time-ordered access or refresh
/// token ([`generate_time_ordered`]): `t`, its issue second in 8 hex digits, and the
/// first 55 hex digits (220 bits) of its SHA-256 — keys of tokens issued later sort
/// after those issued earlier, and no such key equals a bare SHA-256 (never a `t`).
/// 64 characters either way, so the columns and indexes of earlier versions hold
/// both forms unchanged.
pub fn checksum(value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    let mut key = String::with_capacity(2 * digest.len() + 9);
    if let Some(second) = issue_second(value) {
        key.push('t');
        push_hex(&mut key, &second);
    }
    push_hex(&mut key, &digest);
    key.truncate(KEY_CHARS);
    key
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    for byte in bytes {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Constant-time equality of two secret strings (lengths may differ; the length is
/// not secret).
pub fn equal(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The anti-CSRF token of a form bound to `browser_secret` (an interaction's or a
/// session's cookie value): a checksum the page carries in a hidden field. A forged
/// cross-site POST cannot know it, as it cannot read the cookie.
pub fn csrf_token(browser_secret: &str) -> String {
    checksum(&format!("tessera-csrf\0{browser_secret}"))
}

/// Stored form of a generated client secret: `hmac-sha256$<salt>$<mac>` (base64url).
pub fn hash_client_secret(secret: &str) -> Result<String, Error> {
    let salt = random_bytes(16)?;
    let mac = keyed_hash(&salt, secret)?;
    Ok(format!(
        "{HMAC_SCHEME}${}${}",
        URL_SAFE_NO_PAD.encode(&salt),
        URL_SAFE_NO_PAD.encode(mac)
    ))
}

/// Whether `presented` matches a stored client secret hash, in constant time.
/// Unknown or malformed stored forms never match.
pub fn verify_client_secret(stored: &str, presented: &str) -> bool {
    let mut parts = stored.split('$');
    let (Some(HMAC_SCHEME), Some(salt), Some(mac), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let (Ok(salt), Ok(expected)) = (URL_SAFE_NO_PAD.decode(salt), URL_SAFE_NO_PAD.decode(mac))
    else {
        return false;
    };
    match keyed_hash(&salt, presented) {
        Ok(actual) => bool::from(actual.as_slice().ct_eq(expected.as_slice())),
        Err(_) => false,
    }
}

/// How a presented client secret compared with the stored one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretMatch {
    /// Wrong secret (or an unknown stored format).
    No,
    /// Right secret, stored the way it should stay.
    Yes,
    /// Right secret, stored with a hash that should be replaced by [`upgraded_hash`].
    YesUpgrade,
}

/// Whether a stored secret uses a slow KDF (verify it off the async runtime).
pub fn is_slow_hash(stored: &str) -> bool {
    stored.starts_with("$argon2") || stored.starts_with("pbkdf2_sha256$")
}

/// Compares a presented client secret with the stored form, in constant time:
/// plain (`hash_client_secret = false`), `hmac-sha256$…` (generated secrets),
/// argon2 PHC strings and Django's `pbkdf2_sha256$iterations$salt$hash` (imported from
/// DOT). A slow hash that matches asks for an upgrade. May take ~50 ms–1 s for slow
/// hashes: call it from a blocking thread then.
pub fn verify_stored_client_secret(stored: &str, hashed: bool, presented: &str) -> SecretMatch {
    let matched = if !hashed {
        return if bool::from(stored.as_bytes().ct_eq(presented.as_bytes())) {
            SecretMatch::Yes
        } else {
            SecretMatch::No
        };
    } else if stored.starts_with(HMAC_SCHEME) {
        return if verify_client_secret(stored, presented) {
            SecretMatch::Yes
        } else {
            SecretMatch::No
        };
    } else if stored.starts_with("$argon2") {
        verify_password(stored, presented)
    } else if stored.starts_with("pbkdf2_sha256$") {
        verify_django_pbkdf2(stored, presented)
    } else {
        false
    };
    match matched {
        false => SecretMatch::No,
        // A strong secret gets the fast hash; a weak one moves to (or stays on)
        // argon2id, so upgrading never weakens it.
        true if presented.len() >= STRONG_SECRET_CHARS || stored.starts_with("pbkdf2_") => {
            SecretMatch::YesUpgrade
        }
        true => SecretMatch::Yes,
    }
}

/// What a secret that [`verify_stored_client_secret`] asked to upgrade is stored as.
pub fn upgraded_hash(presented: &str) -> Result<String, Error> {
    if presented.len() >= STRONG_SECRET_CHARS {
        hash_client_secret(presented)
    } else {
        hash_password(presented)
    }
}

/// Django's `pbkdf2_sha256$iterations$salt$base64(hash)`.
fn verify_django_pbkdf2(stored: &str, presented: &str) -> bool {
    let mut parts = stored.split('$');
    let (Some("pbkdf2_sha256"), Some(iterations), Some(salt), Some(expected), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return false;
    };
    let (Ok(iterations), Ok(expected)) = (
        iterations.parse::<u32>(),
        base64::engine::general_purpose::STANDARD.decode(expected),
    ) else {
        return false;
    };
    if iterations == 0 || expected.is_empty() || expected.len() > 64 {
        return false;
    }
    let mut derived = vec![0u8; expected.len()];
    pbkdf2::pbkdf2_hmac::<Sha256>(
        presented.as_bytes(),
        salt.as_bytes(),
        iterations,
        &mut derived,
    );
    bool::from(derived.as_slice().ct_eq(expected.as_slice()))
}

fn keyed_hash(salt: &[u8], secret: &str) -> Result<Vec<u8>, Error> {
    let mut mac = Hmac::<Sha256>::new_from_slice(salt)
        .map_err(|error| Error::Hashing(format!("hmac key: {error}")))?;
    mac.update(secret.as_bytes());
    Ok(mac.finalize().into_bytes().to_vec())
}

/// argon2id PHC string of a user password (default parameters, random salt).
pub fn hash_password(password: &str) -> Result<String, Error> {
    let salt_bytes = random_bytes(16)?;
    let salt = SaltString::encode_b64(&salt_bytes)
        .map_err(|error| Error::Hashing(format!("salt: {error}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| Error::Hashing(format!("argon2id: {error}")))
}

/// Whether `password` matches an argon2 PHC string (constant-time inside argon2).
pub fn verify_password(stored: &str, password: &str) -> bool {
    PasswordHash::new(stored)
        .map(|hash| {
            Argon2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Creates `path` holding `content` and a newline, readable by its owner only
/// (`0600` on Unix); never overwrites (an existing file is `AlreadyExists`).
pub fn write_new_secret_file(path: &std::path::Path, content: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    writeln!(file, "{content}")?;
    file.sync_all()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_prefix_and_256_bits() {
        let token = generate(prefix::ACCESS_TOKEN).unwrap();
        assert!(token.starts_with("tsa_"));
        let body = URL_SAFE_NO_PAD.decode(&token[4..]).unwrap();
        assert_eq!(body.len(), 32);
        assert_ne!(token, generate(prefix::ACCESS_TOKEN).unwrap());
    }

    #[test]
    fn checksum_is_sha256_hex() {
        assert_eq!(
            checksum("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        // An access token of the earlier form (256 random bits only) keeps its key.
        let earlier = generate(prefix::ACCESS_TOKEN).unwrap();
        let mut digest = String::new();
        push_hex(&mut digest, &Sha256::digest(earlier.as_bytes()));
        assert_eq!(checksum(&earlier), digest);
    }

    #[test]
    fn time_ordered_keys_sort_by_issue_second() {
        let first = generate_time_ordered(OrderedToken::Access, 1_796_000_000).unwrap();
        let later = generate_time_ordered(OrderedToken::Refresh, 1_796_000_001).unwrap();
        assert!(first.starts_with("tsa_") && later.starts_with("tsr_"));
        assert_eq!(first.len(), 4 + TIME_ORDERED_BODY_CHARS);
        let body = URL_SAFE_NO_PAD.decode(&first[4..]).unwrap();
        assert_eq!(body.len(), 4 + SECRET_BYTES);
        let (first_key, later_key) = (checksum(&first), checksum(&later));
        assert_eq!(first_key.len(), KEY_CHARS);
        assert_eq!(&first_key[..9], "t6b0cc900");
        let mut digest = String::new();
        push_hex(&mut digest, &Sha256::digest(first.as_bytes()));
        assert_eq!(first_key[9..], digest[..55]);
        assert!(
            first_key < later_key,
            "{first_key} sorts before {later_key}"
        );
        // The same body under another prefix (a code, a client secret) is not ordered.
        assert!(!checksum(&format!("tsc_{}", &first[4..])).starts_with('t'));
        // Nor is a prefix with a body of another length or alphabet.
        for other in [format!("{first}A"), format!("tsa_{}", "*".repeat(48))] {
            let key = checksum(&other);
            assert_eq!(key.len(), KEY_CHARS);
            assert!(key.bytes().all(|byte| byte.is_ascii_hexdigit()), "{key}");
        }
    }

    #[test]
    fn client_secret_hash_round_trip() {
        let secret = generate(prefix::CLIENT_SECRET).unwrap();
        let stored = hash_client_secret(&secret).unwrap();
        assert!(!stored.contains(&secret));
        assert!(verify_client_secret(&stored, &secret));
        assert!(!verify_client_secret(&stored, "tss_wrong"));
        assert!(!verify_client_secret("garbage", &secret));
        assert_ne!(stored, hash_client_secret(&secret).unwrap(), "salted");
    }

    #[test]
    fn imported_hashes_verify_and_ask_for_upgrade() {
        // Django: make_password("bench-secret", salt="saltsaltsalt", "pbkdf2_sha256") with
        // 1000 iterations, computed independently with Python's hashlib.
        let django = "pbkdf2_sha256$1000$saltsaltsalt$BwFiJ5w1ZyqiUXCmruLQ2GrYxMyM3qwmwdNctg9B7hA=";
        assert_eq!(
            verify_stored_client_secret(django, true, "bench-secret"),
            SecretMatch::YesUpgrade
        );
        assert_eq!(
            verify_stored_client_secret(django, true, "wrong"),
            SecretMatch::No
        );
        let weak = hash_password("short").unwrap();
        assert_eq!(
            verify_stored_client_secret(&weak, true, "short"),
            SecretMatch::Yes
        );
        let strong = "x".repeat(STRONG_SECRET_CHARS);
        let argon = hash_password(&strong).unwrap();
        assert_eq!(
            verify_stored_client_secret(&argon, true, &strong),
            SecretMatch::YesUpgrade
        );
        assert!(upgraded_hash(&strong).unwrap().starts_with("hmac-sha256$"));
        assert!(upgraded_hash("short").unwrap().starts_with("$argon2id$"));
        assert_eq!(
            verify_stored_client_secret("plain", false, "plain"),
            SecretMatch::Yes
        );
        assert_eq!(
            verify_stored_client_secret("plain", false, "plain2"),
            SecretMatch::No
        );
        assert_eq!(
            verify_stored_client_secret("md5$x", true, "x"),
            SecretMatch::No
        );
    }

    #[test]
    fn password_hash_is_argon2id() {
        let stored = hash_password("correct horse").unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(verify_password(&stored, "correct horse"));
        assert!(!verify_password(&stored, "battery staple"));
    }
}
