//! The brute-force counters a node uses ([`Failures`]): those shared by every node
//! in Redis ([`super::shared_failures`]) when configured and answering, else the
//! node's own ([`super::failures::InMemoryFailures`]).

use crate::limits::failures::{FailureKey, InMemoryFailures, Limit, RetryAfter};
use crate::limits::shared_failures::SharedFailures;

/// The brute-force counters a node uses: shared in Redis when it is configured and
/// answers, else this node's own (fail safe: a node whose Redis is down still
/// limits, by what it saw itself). Failures are counted in both, so a node falling
/// back has its own recent count.
#[derive(Debug)]
pub struct Failures {
    local: InMemoryFailures,
    shared: Option<SharedFailures>,
}

/// How a check went: `clean` when no key had a failure counted (a success then has
/// nothing to clear).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checked {
    /// No failure counted against any of the keys.
    pub clean: bool,
}

impl Failures {
    /// This node's counters only, at most `max_keys` keys.
    pub fn local(max_keys: usize) -> Self {
        Self {
            local: InMemoryFailures::new(max_keys),
            shared: None,
        }
    }

    /// Counters in Redis, with this node's as the fallback.
    pub fn shared(max_keys: usize, shared: SharedFailures) -> Self {
        Self {
            local: InMemoryFailures::new(max_keys),
            shared: Some(shared),
        }
    }

    /// This node's own counters (the fallback).
    pub fn local_counters(&self) -> &InMemoryFailures {
        &self.local
    }

    /// `Err` when one of `keys` has reached its limit within its window.
    pub async fn check(&self, keys: &[(FailureKey<'_>, Limit)]) -> Result<Checked, RetryAfter> {
        if let Some(shared) = &self.shared
            && let Ok(answer) = shared.check(keys).await
        {
            return answer.map(|clean| Checked { clean });
        }
        let mut clean = true;
        for (key, limit) in keys {
            self.local.check(*key, *limit)?;
            clean &= !self.local.tracks(*key);
        }
        Ok(Checked { clean })
    }

    /// Counts one failed attempt against each of `keys`.
    pub async fn record_failure(&self, keys: &[(FailureKey<'_>, Limit)]) {
        for (key, limit) in keys {
            self.local.record_failure(*key, *limit);
        }
        if let Some(shared) = &self.shared {
            // Unanswered: this node's own count stands in (logged by the connection).
            let _ = shared.record_failure(keys).await;
        }
    }

    /// Counts one creation against `key` (an account signed up, a client registered
    /// from an address: each counts, as a failure would), or refuses it when `key`
    /// has reached `limit` within its window.
    pub async fn count_creation(
        &self,
        key: FailureKey<'_>,
        limit: Limit,
    ) -> Result<(), RetryAfter> {
        self.check(&[(key, limit)]).await?;
        self.record_failure(&[(key, limit)]).await;
        Ok(())
    }

    /// Forgets `key`'s failures (a correct password or secret).
    pub async fn record_success(&self, key: FailureKey<'_>, limit: Limit) {
        self.local.record_success(key);
        if let Some(shared) = &self.shared {
            let _ = shared.record_success(key, limit).await;
        }
    }
}
