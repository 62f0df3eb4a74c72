//! What a node keeps to cap pending rows that unauthenticated requests create
//! (interactions, device grants): one lock per stripe of (tenant, source address),
//! held while a request counts that address's rows and stores its own, so
//! concurrent requests from one address cannot all pass the same count; and each
//! tenant's last counted total, so the tenant-wide cap reads the database at most
//! once per [`TENANT_COUNT_TTL`] per node instead of counting on every request.
//! The rows themselves are the truth ([`crate::oauth::pending_limits`] counts them).

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a node reuses a tenant's counted total (adding what it stored since).
pub const TENANT_COUNT_TTL: Duration = Duration::from_secs(1);

/// Stripes of the per-address locks: enough that unrelated addresses rarely wait
/// for each other, few enough to cost nothing.
const STRIPES: usize = 64;

/// How long an address found over its cap is refused without counting again: a
/// flood's refusals then cost no database work (and on SQLite no writer turn).
pub const REFUSAL_MEMO_TTL: Duration = Duration::from_secs(1);

/// Refused addresses remembered at most (the memo's memory bound, ~100 bytes each);
/// when full, a newcomer is simply not remembered (it is counted again).
const MAX_REMEMBERED_REFUSALS: usize = 10_000;

/// What is capped.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum PendingKind {
    /// Stored interactions (sign-ins waiting for login or consent).
    Interaction,
    /// Pending device grants (RFC 8628).
    DeviceGrant,
}

impl PendingKind {
    /// Its name in messages and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Interaction => "interactions",
            Self::DeviceGrant => "device grants",
        }
    }
}

/// A tenant's counted total and when it was counted.
#[derive(Clone, Copy, Debug)]
struct Counted {
    at: Instant,
    total: u64,
}

/// The node's per-address locks and per-tenant totals. Memory: the stripes, and one
/// entry per (tenant, kind) that stored something.
#[derive(Debug)]
pub struct PendingCounts {
    stripes: Vec<tokio::sync::Mutex<()>>,
    hasher: std::collections::hash_map::RandomState,
    totals: Mutex<HashMap<(i64, PendingKind), Counted>>,
    refused: Mutex<HashMap<(i64, PendingKind, String), Instant>>,
}

impl Default for PendingCounts {
    fn default() -> Self {
        Self {
            stripes: (0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
            hasher: std::collections::hash_map::RandomState::new(),
            totals: Mutex::new(HashMap::new()),
            refused: Mutex::new(HashMap::new()),
        }
    }
}

impl PendingCounts {
    /// Holds the lock of (tenant, kind, source) until the guard drops.
    pub async fn lock(
        &self,
        tenant_id: i64,
        kind: PendingKind,
        source: &str,
    ) -> tokio::sync::MutexGuard<'_, ()> {
        let mut hasher = self.hasher.build_hasher();
        (tenant_id, kind, source).hash(&mut hasher);
        let index = usize::try_from(std::hash::Hasher::finish(&hasher) % STRIPES as u64)
            .unwrap_or_default();
        self.stripes[index % self.stripes.len()].lock().await
    }

    /// The tenant's total when counted within [`TENANT_COUNT_TTL`] (plus what this
    /// node stored since); `None` when it must be counted again.
    pub fn recent_total(&self, tenant_id: i64, kind: PendingKind) -> Option<u64> {
        let totals = self.totals.lock().ok()?;
        totals
            .get(&(tenant_id, kind))
            .filter(|counted| counted.at.elapsed() < TENANT_COUNT_TTL)
            .map(|counted| counted.total)
    }

    /// Records a fresh count of the tenant's total.
    pub fn set_total(&self, tenant_id: i64, kind: PendingKind, total: u64) {
        if let Ok(mut totals) = self.totals.lock() {
            totals.insert(
                (tenant_id, kind),
                Counted {
                    at: Instant::now(),
                    total,
                },
            );
        }
    }

    /// Whether `source` was found over its cap (or the tenant over its own) within
    /// [`REFUSAL_MEMO_TTL`].
    pub fn recently_refused(&self, tenant_id: i64, kind: PendingKind, source: &str) -> bool {
        let Ok(refused) = self.refused.lock() else {
            return false;
        };
        refused
            .get(&(tenant_id, kind, source.to_owned()))
            .is_some_and(|at| at.elapsed() < REFUSAL_MEMO_TTL)
    }

    /// Remembers that `source` was refused just now.
    pub fn remember_refusal(&self, tenant_id: i64, kind: PendingKind, source: &str) {
        let Ok(mut refused) = self.refused.lock() else {
            return;
        };
        if refused.len() >= MAX_REMEMBERED_REFUSALS {
            refused.retain(|_, at| at.elapsed() < REFUSAL_MEMO_TTL);
        }
        if refused.len() < MAX_REMEMBERED_REFUSALS {
            refused.insert((tenant_id, kind, source.to_owned()), Instant::now());
        }
    }

    /// Adds one row this node just stored to the tenant's total.
    pub fn add_one(&self, tenant_id: i64, kind: PendingKind) {
        if let Ok(mut totals) = self.totals.lock()
            && let Some(counted) = totals.get_mut(&(tenant_id, kind))
        {
            counted.total += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn totals_expire_and_grow_with_what_was_stored() {
        let counts = PendingCounts::default();
        assert_eq!(counts.recent_total(1, PendingKind::Interaction), None);
        counts.set_total(1, PendingKind::Interaction, 7);
        counts.add_one(1, PendingKind::Interaction);
        assert_eq!(counts.recent_total(1, PendingKind::Interaction), Some(8));
        assert_eq!(counts.recent_total(1, PendingKind::DeviceGrant), None);
        assert_eq!(counts.recent_total(2, PendingKind::Interaction), None);
        assert!(!counts.recently_refused(1, PendingKind::Interaction, "10.0.0.1"));
        counts.remember_refusal(1, PendingKind::Interaction, "10.0.0.1");
        assert!(counts.recently_refused(1, PendingKind::Interaction, "10.0.0.1"));
        assert!(!counts.recently_refused(1, PendingKind::DeviceGrant, "10.0.0.1"));
        assert!(!counts.recently_refused(1, PendingKind::Interaction, "10.0.0.2"));
        let _held = counts.lock(1, PendingKind::Interaction, "10.0.0.1").await;
        // Another address (most likely another stripe) is not blocked for good: the
        // lock is per stripe and released on drop.
        drop(_held);
        let _again = counts.lock(1, PendingKind::Interaction, "10.0.0.1").await;
    }
}
