//! OAuth 2 protocol pieces shared by the grants and endpoints: the protocol error
//! (RFC 6749 §5.2), scopes, strict form parsing, client authentication, the password
//! check, token liveness and introspection, sealing of rotated pairs, and the browser
//! flows: sessions, the authorization request as a stored interaction, PKCE, redirect
//! URI matching and device authorization. Nothing here knows HTTP status codes: the
//! endpoints map [`error::OAuthError`] to responses.

pub mod access_token;
pub mod authorization_response;
pub mod authorize;
pub mod brute_force;
pub mod claims;
pub mod client_auth;
pub mod credentials;
pub mod device;
pub mod error;
pub mod external_login;
pub mod form;
pub mod id_token;
pub mod introspection;
pub mod issuance;
pub mod login_authority;
pub mod logout;
pub mod pending_limits;
pub mod pkce;
pub mod redirect_uri;
pub mod scope;
pub mod seal;
pub mod session;
pub mod sign_up;
