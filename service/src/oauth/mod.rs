//! OAuth 2 protocol pieces shared by the grants and endpoints: the protocol error
//! (RFC 6749 §5.2), scopes, strict form parsing, client authentication, token
//! liveness and introspection, and sealing of rotated pairs. Nothing here knows HTTP
//! status codes: the endpoints map [`error::OAuthError`] to responses.

pub mod brute_force;
pub mod client_auth;
pub mod error;
pub mod form;
pub mod introspection;
pub mod scope;
pub mod seal;
