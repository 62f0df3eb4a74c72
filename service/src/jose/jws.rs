//! Compact JSON Web Signatures (RFC 7515 §7.1): `base64url(header) . base64url(claims)
//! . base64url(signature)`, with the header carrying `alg`, `typ` and `kid`.

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

use crate::error::Error;

/// The protected header (RFC 7515 §4.1). `kid` names the key (RFC 7638 thumbprint);
/// it is absent only for HS256, whose key is the client's own secret.
#[derive(Debug, Serialize)]
pub struct Header<'a> {
    /// The algorithm, pinned by the key.
    pub alg: &'a str,
    /// `JWT`, or `at+jwt` for access tokens (RFC 9068 §2.1).
    pub typ: &'a str,
    /// The key id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kid: Option<&'a str>,
}

/// The signing input (RFC 7515 §5.1 step 5) of `header` and `claims`.
pub fn signing_input(header: &Header<'_>, claims: &impl Serialize) -> Result<String, Error> {
    let encode = |value: Result<Vec<u8>, serde_json::Error>| {
        value
            .map(|bytes| URL_SAFE_NO_PAD.encode(bytes))
            .map_err(|error| Error::Keys(format!("encoding a JWT: {error}")))
    };
    Ok(format!(
        "{}.{}",
        encode(serde_json::to_vec(header))?,
        encode(serde_json::to_vec(claims))?
    ))
}

/// The compact serialization of `input` signed with `signature`.
pub fn compact(input: String, signature: &[u8]) -> String {
    let mut token = input;
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(signature));
    token
}

/// HS256 over `input` with the UTF-8 octets of a client secret (OIDC Core §10.1).
pub fn hs256(secret: &str, input: &str) -> Vec<u8> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    hmac::sign(&key, input.as_bytes()).as_ref().to_vec()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::jose::jwk::{self, SigningAlgorithm};

    #[derive(Serialize, serde::Deserialize)]
    struct Claims {
        sub: String,
        exp: u64,
    }

    /// Tokens signed here verify with jsonwebtoken (an independent implementation)
    /// given only the published JWK, and never verify under another algorithm.
    #[test]
    fn signatures_verify_with_jsonwebtoken_from_the_public_jwk() {
        for algorithm in SigningAlgorithm::ALL {
            let key = jwk::generate(algorithm).unwrap();
            let members = key.private.public_members();
            let kid = jwk::thumbprint(&members);
            let header = Header {
                alg: algorithm.as_str(),
                typ: "JWT",
                kid: Some(&kid),
            };
            let claims = Claims {
                sub: "s".into(),
                exp: 4_000_000_000,
            };
            let input = signing_input(&header, &claims).unwrap();
            let signature = key.private.sign(input.as_bytes()).unwrap();
            let token = compact(input, &signature);
            let public: jsonwebtoken::jwk::Jwk =
                serde_json::from_value(jwk::public_jwk(&members, &kid, algorithm)).unwrap();
            let decoding = jsonwebtoken::DecodingKey::from_jwk(&public).unwrap();
            let alg: jsonwebtoken::Algorithm = algorithm.as_str().parse().unwrap();
            let mut validation = jsonwebtoken::Validation::new(alg);
            validation.validate_aud = false;
            let decoded = jsonwebtoken::decode::<Claims>(&token, &decoding, &validation).unwrap();
            assert_eq!(decoded.claims.sub, "s");
            assert_eq!(decoded.header.kid.as_deref(), Some(kid.as_str()));
            let mut tampered = token.clone();
            tampered.insert(token.find('.').unwrap() + 2, 'A');
            assert!(jsonwebtoken::decode::<Claims>(&tampered, &decoding, &validation).is_err());
        }
    }

    #[test]
    fn hs256_verifies_with_jsonwebtoken() {
        let header = Header {
            alg: "HS256",
            typ: "JWT",
            kid: None,
        };
        let claims = Claims {
            sub: "s".into(),
            exp: 4_000_000_000,
        };
        let input = signing_input(&header, &claims).unwrap();
        let token = compact(input.clone(), &hs256("secret", &input));
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.validate_aud = false;
        let decoding = jsonwebtoken::DecodingKey::from_secret(b"secret");
        assert!(jsonwebtoken::decode::<Claims>(&token, &decoding, &validation).is_ok());
    }
}
