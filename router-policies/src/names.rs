//! Validated names: pool names and tenant slugs.
//!
//! Both end up in configuration keys, URLs, log lines and migration-table names, so they
//! are checked once at the edge and carried as newtypes afterwards. The text is shared
//! (`Arc<str>`): every tenant's routes name the same few pools, and a clone is a
//! reference count, not an allocation (a tenant holds about twenty of them).

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::RouterError;

/// Longest pool name or tenant slug, in bytes (a DNS label's limit).
const MAX_LEN: usize = 63;

fn is_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

fn valid_pool_name(s: &str) -> bool {
    let b = s.as_bytes();
    (1..=MAX_LEN).contains(&b.len())
        && is_alnum(b[0])
        && b.iter().all(|&c| is_alnum(c) || c == b'_' || c == b'-')
}

fn valid_tenant_slug(s: &str) -> bool {
    let b = s.as_bytes();
    (1..=MAX_LEN).contains(&b.len())
        && is_alnum(b[0])
        && is_alnum(b[b.len() - 1])
        && b.iter().all(|&c| is_alnum(c) || c == b'-')
}

/// Implements the string plumbing shared by the two name types.
macro_rules! name_impls {
    ($ty:ident, $check:ident, $err:ident) => {
        impl $ty {
            /// Checks the naming rule and wraps the name.
            pub fn new(s: impl Into<String>) -> Result<Self, RouterError> {
                let s = s.into();
                if $check(&s) {
                    Ok($ty(Arc::from(s)))
                } else {
                    Err(RouterError::$err(s))
                }
            }

            /// The name as written in configuration.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $ty {
            type Err = RouterError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $ty::new(s)
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        /// Lets maps keyed by this type be queried with a plain `&str`
        /// (hashing and ordering are those of the inner string).
        impl Borrow<str> for $ty {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $ty {
            type Error = RouterError;

            fn try_from(s: String) -> Result<Self, Self::Error> {
                $ty::new(s)
            }
        }

        impl TryFrom<&str> for $ty {
            type Error = RouterError;

            fn try_from(s: &str) -> Result<Self, Self::Error> {
                $ty::new(s)
            }
        }

        impl From<$ty> for String {
            fn from(name: $ty) -> String {
                name.0.to_string()
            }
        }
    };
}

/// Validated pool name: 1..=63 chars of `[a-z0-9_-]`, starting with `[a-z0-9]`.
///
/// Names a `[databases.NAME]` entry. Routing answers are pool names, never connections,
/// so this crate stays free of I/O.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PoolName(Arc<str>);

name_impls!(PoolName, valid_pool_name, InvalidPoolName);

impl PoolName {
    /// The fallback pool, `"default"`, used when no policy answers.
    pub fn default_pool() -> Self {
        PoolName(Arc::from("default"))
    }
}

/// Validated tenant slug: 1..=63 chars of `[a-z0-9-]`, starting and ending with `[a-z0-9]`.
///
/// The slug appears in issuer URLs (`/t/{slug}`) and keys placement, so it is URL- and
/// DNS-label-safe by construction.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantSlug(Arc<str>);

name_impls!(TenantSlug, valid_tenant_slug, InvalidTenantSlug);

impl TenantSlug {
    /// A slug no real tenant can have (it fails validation): stands for "a tenant
    /// created later" when planning migrations, so a tenant-keyed policy never
    /// mistakes it for a configured tenant.
    pub(crate) fn prospective() -> Self {
        TenantSlug(Arc::from("-new-tenant-"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn pool_names() {
        for ok in [
            "default",
            "main",
            "shard-1",
            "main_replica",
            "0",
            &"a".repeat(63),
        ] {
            assert_eq!(PoolName::new(ok).unwrap().as_str(), ok);
        }
        for bad in [
            "",
            "-main",
            "_main",
            "Main",
            "main.db",
            "shard 1",
            &"a".repeat(64),
        ] {
            assert_eq!(
                PoolName::new(bad),
                Err(RouterError::InvalidPoolName(bad.to_owned()))
            );
        }
        assert_eq!(PoolName::default_pool().as_str(), "default");
    }

    #[test]
    fn tenant_slugs() {
        for ok in ["acme", "a", "acme-eu-1", "9lives", &"a".repeat(63)] {
            assert_eq!(TenantSlug::new(ok).unwrap().to_string(), ok);
        }
        for bad in [
            "",
            "-acme",
            "acme-",
            "acme_eu",
            "ACME",
            "ac.me",
            &"a".repeat(64),
        ] {
            assert_eq!(
                bad.parse::<TenantSlug>(),
                Err(RouterError::InvalidTenantSlug(bad.to_owned()))
            );
        }
    }

    #[test]
    fn serde_validates() {
        #[derive(Debug, Deserialize, Serialize)]
        struct Doc {
            pool: PoolName,
            tenant: TenantSlug,
        }
        let doc: Doc = toml::from_str("pool = \"shard-1\"\ntenant = \"acme\"").unwrap();
        assert_eq!(doc.pool.as_str(), "shard-1");
        assert_eq!(
            toml::to_string(&doc).unwrap(),
            "pool = \"shard-1\"\ntenant = \"acme\"\n"
        );
        let err = toml::from_str::<Doc>("pool = \"Shard\"\ntenant = \"acme\"").unwrap_err();
        assert!(err.to_string().contains("invalid pool name"), "{err}");
        let err = toml::from_str::<Doc>("pool = \"main\"\ntenant = \"acme-\"").unwrap_err();
        assert!(err.to_string().contains("invalid tenant slug"), "{err}");
    }
}
