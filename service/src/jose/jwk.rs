//! Signing keys as JSON Web Keys: generation, public JWKs (RFC 7518 §6.2, §6.3;
//! RFC 8037 §2 for Ed25519), the RFC 7638 thumbprint used as `kid`, and signing.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{self, KeySize};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256, Sha512};

use crate::error::Error;

/// The asymmetric algorithms a tenant signs with (RFC 7518 §3.1, RFC 8037 §3.1). Each
/// key is pinned to one of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SigningAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit keys: OpenID Connect's default.
    Rs256,
    /// ECDSA on P-256 with SHA-256.
    Es256,
    /// Ed25519.
    EdDsa,
}

impl SigningAlgorithm {
    /// Every algorithm, in the order keys are created and listed.
    pub const ALL: [SigningAlgorithm; 3] = [Self::Rs256, Self::Es256, Self::EdDsa];

    /// The JWA name (`alg`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
        }
    }

    /// The algorithm named `name` (exact JWA spelling).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|algorithm| algorithm.as_str() == name)
    }

    /// The left half of the hash of `value` for `at_hash` and `c_hash` (OIDC Core
    /// §3.3.2.11): the hash of the `alg`, SHA-512 for Ed25519 (OIDC Core errata).
    pub fn half_hash(self, value: &str) -> String {
        half_hash(self == Self::EdDsa, value)
    }
}

/// [`SigningAlgorithm::half_hash`] for any `alg`; `sha512` only for EdDSA.
pub fn half_hash(sha512: bool, value: &str) -> String {
    let digest: Vec<u8> = if sha512 {
        Sha512::digest(value.as_bytes()).to_vec()
    } else {
        Sha256::digest(value.as_bytes()).to_vec()
    };
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

/// A key pair, parsed once and kept for signing.
pub enum PrivateKey {
    /// RSA.
    Rsa(rsa::KeyPair),
    /// P-256.
    Ec(EcdsaKeyPair),
    /// Ed25519.
    Ed(Ed25519KeyPair),
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("PrivateKey(..)")
    }
}

/// A new key: its PKCS#8 DER (to be sealed) and the parsed pair.
pub struct GeneratedKey {
    /// PKCS#8 v1 DER of the private key.
    pub pkcs8: Vec<u8>,
    /// The parsed key pair.
    pub private: PrivateKey,
}

fn failed(what: &str) -> Error {
    Error::Keys(format!("{what} failed"))
}

/// Generates a key for `algorithm` (RSA 2048 takes tens of milliseconds: call it off
/// the async threads).
pub fn generate(algorithm: SigningAlgorithm) -> Result<GeneratedKey, Error> {
    let pkcs8 = match algorithm {
        SigningAlgorithm::Rs256 => rsa::KeyPair::generate(KeySize::Rsa2048)
            .and_then(|pair| pair.as_der())
            .map(|der| der.as_ref().to_vec())
            .map_err(|_| failed("generating an RSA key"))?,
        SigningAlgorithm::Es256 => EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
            .and_then(|pair| pair.to_pkcs8v1())
            .map(|document| document.as_ref().to_vec())
            .map_err(|_| failed("generating a P-256 key"))?,
        SigningAlgorithm::EdDsa => Ed25519KeyPair::generate()
            .and_then(|pair| pair.to_pkcs8v1())
            .map(|document| document.as_ref().to_vec())
            .map_err(|_| failed("generating an Ed25519 key"))?,
    };
    let private = parse_private(algorithm, &pkcs8)?;
    Ok(GeneratedKey { pkcs8, private })
}

/// Parses a PKCS#8 key of `algorithm`.
pub fn parse_private(algorithm: SigningAlgorithm, pkcs8: &[u8]) -> Result<PrivateKey, Error> {
    let rejected = |_| {
        Error::Keys(format!(
            "a stored {} key does not parse",
            algorithm.as_str()
        ))
    };
    Ok(match algorithm {
        SigningAlgorithm::Rs256 => {
            PrivateKey::Rsa(rsa::KeyPair::from_pkcs8(pkcs8).map_err(rejected)?)
        }
        SigningAlgorithm::Es256 => PrivateKey::Ec(
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8).map_err(rejected)?,
        ),
        SigningAlgorithm::EdDsa => {
            PrivateKey::Ed(Ed25519KeyPair::from_pkcs8(pkcs8).map_err(rejected)?)
        }
    })
}

impl PrivateKey {
    /// The public key as a JWK with exactly its required members (RFC 7638 §3.2).
    pub fn public_members(&self) -> Map<String, Value> {
        let encode = |bytes: &[u8]| Value::String(URL_SAFE_NO_PAD.encode(bytes));
        let mut members = Map::new();
        match self {
            PrivateKey::Rsa(pair) => {
                let public = pair.public_key();
                members.insert("kty".into(), "RSA".into());
                members.insert(
                    "n".into(),
                    encode(public.modulus().big_endian_without_leading_zero()),
                );
                members.insert(
                    "e".into(),
                    encode(public.exponent().big_endian_without_leading_zero()),
                );
            }
            PrivateKey::Ec(pair) => {
                // Uncompressed point: 0x04 ‖ X ‖ Y, 32 bytes each.
                let point = pair.public_key().as_ref();
                members.insert("kty".into(), "EC".into());
                members.insert("crv".into(), "P-256".into());
                members.insert("x".into(), encode(point.get(1..33).unwrap_or_default()));
                members.insert("y".into(), encode(point.get(33..65).unwrap_or_default()));
            }
            PrivateKey::Ed(pair) => {
                members.insert("kty".into(), "OKP".into());
                members.insert("crv".into(), "Ed25519".into());
                members.insert("x".into(), encode(pair.public_key().as_ref()));
            }
        }
        members
    }

    /// Signs `message` (the JWS signing input, RFC 7515 §5.1).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        match self {
            PrivateKey::Rsa(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(
                    &RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    message,
                    &mut signature,
                )
                .map_err(|_| failed("an RSA signature"))?;
                Ok(signature)
            }
            PrivateKey::Ec(pair) => pair
                .sign(&SystemRandom::new(), message)
                .map(|signature| signature.as_ref().to_vec())
                .map_err(|_| failed("an ECDSA signature")),
            PrivateKey::Ed(pair) => Ok(pair.sign(message).as_ref().to_vec()),
        }
    }
}

/// The RFC 7638 thumbprint of a JWK's required members: SHA-256 over their JSON with
/// the members in lexicographic order and no whitespace, base64url.
pub fn thumbprint(required: &Map<String, Value>) -> String {
    // serde_json's Map is ordered by key (no `preserve_order` feature), and
    // `to_string` writes no whitespace.
    let canonical = Value::Object(required.clone()).to_string();
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// The public JWK published in the JWKS: the required members plus `kid`, `alg` and
/// `use` (RFC 7517 §4).
pub fn public_jwk(required: &Map<String, Value>, kid: &str, algorithm: SigningAlgorithm) -> Value {
    let mut jwk = required.clone();
    jwk.insert("kid".into(), kid.into());
    jwk.insert("alg".into(), algorithm.as_str().into());
    jwk.insert("use".into(), "sig".into());
    Value::Object(jwk)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn rfc7638_example_thumbprint() {
        // RFC 7638 §3.1.
        let jwk: Value = serde_json::from_str(
            r#"{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}"#,
        )
        .unwrap();
        let mut required = Map::new();
        for member in ["e", "kty", "n"] {
            required.insert(member.into(), jwk[member].clone());
        }
        assert_eq!(
            thumbprint(&required),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn generated_keys_have_their_jwk_members() {
        for algorithm in SigningAlgorithm::ALL {
            let key = generate(algorithm).unwrap();
            let members = key.private.public_members();
            let expected: &[&str] = match algorithm {
                SigningAlgorithm::Rs256 => &["e", "kty", "n"],
                SigningAlgorithm::Es256 => &["crv", "kty", "x", "y"],
                SigningAlgorithm::EdDsa => &["crv", "kty", "x"],
            };
            assert_eq!(
                members.keys().map(String::as_str).collect::<Vec<_>>(),
                expected
            );
            let reparsed = parse_private(algorithm, &key.pkcs8).unwrap();
            assert_eq!(reparsed.public_members(), members);
            assert!(!key.private.sign(b"message").unwrap().is_empty());
        }
    }

    #[test]
    fn half_hash_matches_published_examples() {
        // Ping Identity's worked at_hash example (RS256, SHA-256).
        assert_eq!(
            half_hash(false, "dNZX1hEZ9wBCzNL40Upu646bdzQA"),
            "wfgvmE9VxjAudsl9lc6TqA"
        );
        // oidc-token-hash's SHA-512 example (what EdDSA uses).
        let token = "YmJiZTAwYmYtMzgyOC00NzhkLTkyOTItNjJjNDM3MGYzOWIy9sFhvH8K_x8UIHj1osisS57f5DduL-ar_qw5jl3lthwpMjm283aVMQXDmoqqqydDSqJfbhptzw8rUVwkuQbolw";
        assert_eq!(half_hash(false, token), "x7vk7f6BvQj0jQHYFIk4ag");
        assert_eq!(
            half_hash(true, token),
            "EGEAhGYyfuwDaVTifvrWSoD5MSy_5hZPy6I7Vm-7pTQ"
        );
    }
}
