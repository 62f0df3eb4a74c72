//! Entity groups (the unit of routing) and the two roles a connection plays.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::RouterError;

/// Entity groups routed as a unit.
///
/// Every table belongs to exactly one group and a group is never split across pools for
/// one tenant, so a transaction inside a group never spans two databases. `tokens` holds
/// every table a token flow writes (access, refresh and ID tokens, authorization codes,
/// device grants).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityGroup {
    /// The tenant directory and per-tenant signing keys.
    Tenants,
    /// End users and their credentials.
    Users,
    /// OAuth clients (applications) and their settings.
    Applications,
    /// Everything a token flow writes in one transaction.
    Tokens,
}

impl EntityGroup {
    /// All groups, in routing-table order.
    pub const ALL: [EntityGroup; 4] = [
        EntityGroup::Tenants,
        EntityGroup::Users,
        EntityGroup::Applications,
        EntityGroup::Tokens,
    ];

    /// The group's configuration name: `"tenants"`, `"users"`, `"applications"`, `"tokens"`.
    pub fn as_str(self) -> &'static str {
        match self {
            EntityGroup::Tenants => "tenants",
            EntityGroup::Users => "users",
            EntityGroup::Applications => "applications",
            EntityGroup::Tokens => "tokens",
        }
    }

    /// Dense index (0..4) for per-group arrays, in [`EntityGroup::ALL`] order.
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl FromStr for EntityGroup {
    type Err = RouterError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EntityGroup::ALL
            .into_iter()
            .find(|g| g.as_str() == s)
            .ok_or_else(|| RouterError::UnknownGroup(s.to_owned()))
    }
}

impl fmt::Display for EntityGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a connection is wanted for reading or for writing.
///
/// Reads may go to a replica (except token reads); writes always go to a primary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Queries only (Django's `db_for_read`).
    Read,
    /// Inserts, updates, deletes and transactions (Django's `db_for_write`).
    Write,
}

impl Role {
    /// `"read"` or `"write"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Write => "write",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for g in EntityGroup::ALL {
            assert_eq!(g.as_str().parse::<EntityGroup>().unwrap(), g);
            assert_eq!(g.to_string(), g.as_str());
        }
        assert_eq!(EntityGroup::ALL.map(EntityGroup::index), [0, 1, 2, 3]);
    }

    #[test]
    fn unknown_group_is_an_error() {
        assert_eq!(
            "grants".parse::<EntityGroup>(),
            Err(RouterError::UnknownGroup("grants".into()))
        );
    }

    #[test]
    fn role_display() {
        assert_eq!(Role::Read.to_string(), "read");
        assert_eq!(Role::Write.to_string(), "write");
    }
}
