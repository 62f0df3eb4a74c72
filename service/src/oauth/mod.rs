//! OAuth 2 protocol pieces shared by the endpoints: per-tenant settings, scopes,
//! strict form parsing, client authentication and sealing of rotated pairs.

pub mod client_auth;
pub mod client_cache;
pub mod form;
pub mod scope;
pub mod seal;
pub mod settings;
