//! Configured pools as the router sees them.

use crate::PoolName;

/// One configured pool as the router sees it (no URL: no I/O here).
///
/// `replica_of` marks a read replica: validation refuses writes and token reads there and
/// never migrates it (the primary's migrations replicate).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolSpec {
    /// The `[databases.NAME]` key.
    pub name: PoolName,
    /// The primary this pool replicates, if it is a read replica.
    pub replica_of: Option<PoolName>,
}

impl PoolSpec {
    /// A primary (writable) pool.
    pub fn primary(name: PoolName) -> Self {
        PoolSpec {
            name,
            replica_of: None,
        }
    }

    /// A read replica of `primary`.
    pub fn replica(name: PoolName, primary: PoolName) -> Self {
        PoolSpec {
            name,
            replica_of: Some(primary),
        }
    }

    /// Whether this pool is a read replica.
    pub fn is_replica(&self) -> bool {
        self.replica_of.is_some()
    }
}
