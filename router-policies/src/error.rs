//! The crate's one error type.

use thiserror::Error;

/// Why a name or group could not be parsed.
///
/// Raised while reading configuration or the tenant directory; routing itself never
/// fails (a bad route is a [`Violation`](crate::Violation) found by validation).
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum RouterError {
    /// A pool name broke the naming rule (see [`PoolName`](crate::PoolName)).
    #[error(
        "invalid pool name {0:?}: use 1 to 63 characters of a-z, 0-9, '_' and '-', starting with a letter or digit"
    )]
    InvalidPoolName(String),
    /// A tenant slug broke the naming rule (see [`TenantSlug`](crate::TenantSlug)).
    #[error(
        "invalid tenant slug {0:?}: use 1 to 63 characters of a-z, 0-9 and '-', starting and ending with a letter or digit"
    )]
    InvalidTenantSlug(String),
    /// A name that is not one of the four entity groups.
    #[error("unknown entity group {0:?} (expected one of: tenants, users, applications, tokens)")]
    UnknownGroup(String),
}
