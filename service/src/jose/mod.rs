//! JOSE for OpenID Connect: JSON Web Keys (RFC 7517, RFC 7518 §6) and their
//! thumbprints (RFC 7638), compact JSON Web Signatures (RFC 7515 §7.1), the sealing of
//! private keys at rest under the configured key-encryption key, and each tenant's
//! keyring, which signs ID tokens and JWT access tokens and publishes the JWKS.
//!
//! Signatures are made with aws-lc-rs key pairs parsed once, when a tenant's keys are
//! loaded; jsonwebtoken (on the same aws-lc-rs backend) verifies. Its own
//! signer parses and validates the private key again for every token, which for RSA
//! costs more than the signature (docs/openid-connect.md).

pub mod jwk;
pub mod jws;
pub mod keyring;
pub mod sealing;
