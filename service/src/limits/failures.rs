//! Brute-force protection (RFC 6749 §2.3.1 and §4.3.2: the authorization server MUST
//! protect the token endpoint against brute force): failed attempts are counted per
//! key — (tenant, username as typed), (tenant, client_id), (tenant, source address) —
//! in a sliding window, and a key over its limit is refused *before* any hash is
//! computed. A username that does not exist is counted like one that does, so the
//! answer reveals nothing.
//!
//! [`InMemoryFailures`] is one node's counters; [`super::shared_failures`] keeps the
//! same windows in Redis, and [`super::failure_counters::Failures`] (what the
//! protocol code uses) picks between them.
//!
//! The in-process window is a sliding-window counter: per key, the failures of the
//! current fixed window and of the previous one, weighted by how much of the previous
//! window the sliding window still covers. That is O(1) memory per key whatever the
//! limit. Keys are stored as 64-bit keyed hashes (SipHash with a per-process random
//! key), so usernames are not kept in memory and an attacker cannot aim collisions.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What a failure is counted against.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum FailureKey<'a> {
    /// A username as typed, in a tenant.
    Username {
        /// Tenant id.
        tenant_id: i64,
        /// The name exactly as presented.
        username: &'a str,
    },
    /// A client_id as presented, in a tenant.
    Client {
        /// Tenant id.
        tenant_id: i64,
        /// The client_id exactly as presented.
        client_id: &'a str,
    },
    /// A source address, in a tenant.
    Address {
        /// Tenant id.
        tenant_id: i64,
        /// The client's address (see [`crate::network`]).
        address: IpAddr,
    },
    /// Accounts created from a source address, in a tenant (the sign-up page counts
    /// each account as one "failure": the limit is on creations, not on mistakes).
    SignUp {
        /// Tenant id.
        tenant_id: i64,
        /// The client's address.
        address: IpAddr,
    },
    /// Clients registered dynamically (RFC 7591) from a source address, in a tenant
    /// (each registration counts, as each sign-up does).
    Registration {
        /// Tenant id.
        tenant_id: i64,
        /// The registrant's address.
        address: IpAddr,
    },
}

/// How many failures a key may have in a window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    /// Failures allowed in the window; the next attempt is refused. 0: no limit.
    pub max_failures: u32,
    /// The sliding window.
    pub window: Duration,
}

impl Limit {
    /// `max_failures` in a window of `window_secs`.
    pub fn new(max_failures: u32, window_secs: u64) -> Self {
        Self {
            max_failures,
            window: Duration::from_secs(window_secs),
        }
    }
}

/// A refused attempt: how long until the key is let through again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RetryAfter(pub Duration);

impl RetryAfter {
    /// Whole seconds for `Retry-After`, at least 1.
    pub fn seconds(self) -> u64 {
        let seconds = self.0.as_secs() + u64::from(self.0.subsec_nanos() > 0);
        seconds.max(1)
    }
}

/// One key's sliding-window counter (24 bytes; the window's length comes from the
/// [`Limit`] of each call).
#[derive(Clone, Copy, Debug)]
struct Window {
    /// Start of the current fixed window.
    start: Instant,
    current: u32,
    previous: u32,
}

impl Window {
    fn new(now: Instant) -> Self {
        Self {
            start: now,
            current: 0,
            previous: 0,
        }
    }

    /// Moves the fixed windows forward to the one containing `now`.
    fn advance(&mut self, now: Instant, length: Duration) {
        let elapsed = now.saturating_duration_since(self.start);
        if elapsed < length {
            return;
        }
        if elapsed < 2 * length {
            self.previous = self.current;
            self.start += length;
        } else {
            self.previous = 0;
            self.start = now;
        }
        self.current = 0;
    }

    /// Failures in the sliding window ending at `now`.
    fn estimate(&self, now: Instant, length: Duration) -> f64 {
        let into = now.saturating_duration_since(self.start).as_secs_f64();
        estimate(self.current, self.previous, into, length.as_secs_f64())
    }

    /// How long until the estimate falls below `max`, with no new failures.
    fn retry_after(&self, now: Instant, limit: Limit) -> Duration {
        let into = now.saturating_duration_since(self.start).as_secs_f64();
        retry_after(self.current, self.previous, into, limit)
    }

    /// Whether the window has nothing left to say at `now`.
    fn is_spent(&self, now: Instant, length: Duration) -> bool {
        now.saturating_duration_since(self.start) >= 2 * length
    }
}

/// Failures in a sliding window of `length` seconds that ends `into` seconds into
/// the current fixed window: the previous window's count weighted by the share of it
/// the sliding window still covers, plus the current one's.
pub(crate) fn estimate(current: u32, previous: u32, into: f64, length: f64) -> f64 {
    let length = length.max(f64::MIN_POSITIVE);
    let previous_share = (1.0 - into / length).clamp(0.0, 1.0);
    f64::from(previous) * previous_share + f64::from(current)
}

/// How long, `into` seconds into the current window, until [`estimate`] falls below
/// the limit with no new failures.
pub(crate) fn retry_after(current: u32, previous: u32, into: f64, limit: Limit) -> Duration {
    let length = limit.window.as_secs_f64();
    let max = f64::from(limit.max_failures);
    let (current, previous) = (f64::from(current), f64::from(previous));
    let seconds = if current >= max {
        // Only the next window's decay of `current` lets an attempt through.
        (length - into) + length * (1.0 - max / current)
    } else {
        // previous × (1 − t/length) + current < max, at the latest when the
        // previous window drops out at the end of this one.
        (length * (1.0 - (max - current) / previous.max(f64::MIN_POSITIVE)) - into)
            .min(length - into)
    };
    Duration::from_secs_f64(seconds.clamp(0.0, 2.0 * length) + 0.001)
}

const SHARDS: usize = 16;

/// The in-process limiter: failures per key in sharded maps of at most `max_keys`
/// keys in all. A key costs a 64-bit hash and a 24-byte window whatever the username
/// (see [`BYTES_PER_KEY`]), so memory is bounded by `max_keys`, not by what attackers
/// send.
///
/// When a shard is full, spent windows are dropped first, then keys well below their
/// limit (a flood of distinct usernames, each failing once, is what fills the map);
/// keys close to or over their limit — the ones under attack — are kept. If every
/// key is close to its limit the new key is not tracked; the per-address limit still
/// applies to it.
#[derive(Debug)]
pub struct InMemoryFailures {
    hasher: RandomState,
    shards: Vec<Mutex<HashMap<u64, Window>>>,
    per_shard: usize,
}

/// Bytes one tracked key costs at most: its hash and window (32 bytes) and the hash
/// map's control byte, in a table at most twice as large as its entries (hashbrown
/// rounds buckets up to a power of two at 7/8 load).
pub const BYTES_PER_KEY: usize = 2 * (8 + 24 + 1);

impl InMemoryFailures {
    /// A limiter tracking at most `max_keys` keys (at least one per shard).
    pub fn new(max_keys: usize) -> Self {
        let per_shard = max_keys.div_ceil(SHARDS).max(1);
        Self {
            hasher: RandomState::new(),
            shards: (0..SHARDS)
                .map(|_| Mutex::new(HashMap::with_capacity(per_shard.min(1024))))
                .collect(),
            per_shard,
        }
    }

    /// Keys tracked right now.
    pub fn tracked_keys(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| shard.lock().map(|map| map.len()).unwrap_or(0))
            .sum()
    }

    /// The most keys this limiter ever tracks.
    pub fn max_keys(&self) -> usize {
        self.per_shard * SHARDS
    }

    fn shard_of(&self, key: FailureKey<'_>) -> (u64, &Mutex<HashMap<u64, Window>>) {
        let hash = self.hasher.hash_one(key);
        // The low bits pick the shard; the map hashes the full value again.
        let index = (hash as usize) % SHARDS;
        (hash, &self.shards[index])
    }

    /// Makes room in a full shard; `false` when none could be made.
    fn make_room(
        map: &mut HashMap<u64, Window>,
        capacity: usize,
        limit: Limit,
        now: Instant,
    ) -> bool {
        map.retain(|_, window| !window.is_spent(now, limit.window));
        if map.len() < capacity {
            return true;
        }
        let half = f64::from(limit.max_failures) / 2.0;
        map.retain(|_, window| window.estimate(now, limit.window) >= half);
        map.len() < capacity
    }
}

impl InMemoryFailures {
    /// Whether `key` has failures counted.
    pub fn tracks(&self, key: FailureKey<'_>) -> bool {
        let (hash, shard) = self.shard_of(key);
        shard.lock().is_ok_and(|map| map.contains_key(&hash))
    }

    /// `Err` when `key` has reached `limit` within its window.
    pub fn check(&self, key: FailureKey<'_>, limit: Limit) -> Result<(), RetryAfter> {
        if limit.max_failures == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let (hash, shard) = self.shard_of(key);
        let Ok(mut map) = shard.lock() else {
            return Ok(());
        };
        let Some(window) = map.get_mut(&hash) else {
            return Ok(());
        };
        window.advance(now, limit.window);
        if window.estimate(now, limit.window) >= f64::from(limit.max_failures) {
            return Err(RetryAfter(window.retry_after(now, limit)));
        }
        Ok(())
    }

    /// Counts one failed attempt against `key`.
    pub fn record_failure(&self, key: FailureKey<'_>, limit: Limit) {
        if limit.max_failures == 0 {
            return;
        }
        let now = Instant::now();
        let (hash, shard) = self.shard_of(key);
        let Ok(mut map) = shard.lock() else {
            return;
        };
        if !map.contains_key(&hash)
            && map.len() >= self.per_shard
            && !Self::make_room(&mut map, self.per_shard, limit, now)
        {
            return;
        }
        let window = map.entry(hash).or_insert_with(|| Window::new(now));
        window.advance(now, limit.window);
        window.current = window.current.saturating_add(1);
    }

    /// Forgets `key`'s failures.
    pub fn record_success(&self, key: FailureKey<'_>) {
        let (hash, shard) = self.shard_of(key);
        if let Ok(mut map) = shard.lock() {
            map.remove(&hash);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const USER: FailureKey<'static> = FailureKey::Username {
        tenant_id: 1,
        username: "alice",
    };

    fn limit(max_failures: u32, window_ms: u64) -> Limit {
        Limit {
            max_failures,
            window: Duration::from_millis(window_ms),
        }
    }

    #[test]
    fn refuses_at_the_limit_and_lets_through_after_the_window() {
        let limiter = InMemoryFailures::new(1000);
        let limit = limit(3, 200);
        for _ in 0..3 {
            assert!(limiter.check(USER, limit).is_ok());
            limiter.record_failure(USER, limit);
        }
        let refused = limiter.check(USER, limit).unwrap_err();
        assert!(refused.0 <= Duration::from_millis(400), "{refused:?}");
        assert_eq!(refused.seconds(), 1);
        // Another tenant, another name: their own counters.
        let other_tenant = FailureKey::Username {
            tenant_id: 2,
            username: "alice",
        };
        assert!(limiter.check(other_tenant, limit).is_ok());
        std::thread::sleep(refused.0);
        assert!(limiter.check(USER, limit).is_ok(), "the window slid on");
    }

    #[test]
    fn success_forgets_and_zero_disables() {
        let limiter = InMemoryFailures::new(1000);
        let limit = limit(2, 60_000);
        limiter.record_failure(USER, limit);
        limiter.record_failure(USER, limit);
        assert!(limiter.check(USER, limit).is_err());
        limiter.record_success(USER);
        assert!(limiter.check(USER, limit).is_ok());
        let off = Limit {
            max_failures: 0,
            ..limit
        };
        for _ in 0..10 {
            limiter.record_failure(USER, off);
        }
        assert!(limiter.check(USER, off).is_ok());
        assert_eq!(limiter.tracked_keys(), 0);
    }

    /// A flood of distinct usernames cannot grow the map past its bound, and does
    /// not flush the counter of the name under attack.
    #[test]
    fn a_flood_of_names_stays_within_the_bound() {
        let limiter = InMemoryFailures::new(1600);
        let limit = limit(5, 60_000);
        for _ in 0..5 {
            limiter.record_failure(USER, limit);
        }
        for index in 0..50_000 {
            let name = format!("user{index}");
            limiter.record_failure(
                FailureKey::Username {
                    tenant_id: 1,
                    username: &name,
                },
                limit,
            );
            assert!(limiter.tracked_keys() <= limiter.max_keys());
        }
        assert!(
            limiter.check(USER, limit).is_err(),
            "the attacked name stays locked"
        );
    }

    #[test]
    fn retry_after_covers_the_sliding_window() {
        let now = Instant::now();
        let limit = limit(10, 300_000);
        let mut window = Window::new(now);
        window.current = 10;
        // All ten failures just now: the next window must decay them below 10.
        let wait = window.retry_after(now, limit);
        assert!(wait > Duration::from_secs(299), "{wait:?}");
        let mut later = window;
        later.advance(now + wait, limit.window);
        assert!(later.estimate(now + wait, limit.window) < 10.0);
        // Just before that, still refused.
        let mut sooner = window;
        let before = now + wait - Duration::from_millis(50);
        sooner.advance(before, limit.window);
        assert!(sooner.estimate(before, limit.window) >= 10.0);
    }
}
