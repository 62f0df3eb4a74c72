//! Failure counters in Redis, shared by every node: N nodes allow a key its limit,
//! not N times it, and a node's restart forgets nothing (docs/operations.md).
//!
//! The same sliding-window counter as the in-process limiter
//! ([`super::failures`]), over fixed windows aligned on the clock: per key, the count
//! of the current window and of the previous one, weighted by how much of the
//! previous window the sliding window still covers. Each count is one Redis key
//! that expires two windows after its window began (TTLs, not eviction). Keys are
//! keyed hashes (HMAC-SHA-256 under a key derived from the key-encryption key, which
//! every node shares), so Redis never holds a username or an address, and both
//! windows of a key share a hash tag (one Redis Cluster slot).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::future::join_all;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::limits::failures::{FailureKey, Limit, RetryAfter, estimate, retry_after};
use crate::shared::redis::{SharedRedis, Unavailable};

/// Failure counters in Redis.
#[derive(Debug)]
pub struct SharedFailures {
    redis: Arc<SharedRedis>,
    hash_key: [u8; 32],
}

/// One key's two windows, as Redis keys, and where the clock is in the current one.
struct Windows {
    current: String,
    previous: String,
    /// Seconds into the current window.
    into: f64,
}

impl SharedFailures {
    /// Counters on `redis`, their keys hashed under `hash_key`.
    pub fn new(redis: Arc<SharedRedis>, hash_key: [u8; 32]) -> Self {
        Self { redis, hash_key }
    }

    /// `Ok(Err(_))` when one of `keys` is at its limit; `Ok(Ok(clean))` when none is
    /// (`clean`: none has a failure counted); `Err` when Redis did not answer. One
    /// round trip for all the keys.
    pub async fn check(
        &self,
        keys: &[(FailureKey<'_>, Limit)],
    ) -> Result<Result<bool, RetryAfter>, Unavailable> {
        let counted: Vec<(Windows, Limit)> = keys
            .iter()
            .filter(|(_, limit)| limit.max_failures > 0)
            .map(|(key, limit)| (self.windows(*key, *limit), *limit))
            .collect();
        if counted.is_empty() {
            return Ok(Ok(true));
        }
        let counts = self.counts(&counted).await?;
        let mut clean = true;
        let mut refused: Option<RetryAfter> = None;
        for ((windows, limit), (previous, current)) in counted.iter().zip(counts) {
            let (previous, current) = (previous.unwrap_or(0), current.unwrap_or(0));
            clean &= previous == 0 && current == 0;
            let length = limit.window.as_secs_f64();
            if estimate(current, previous, windows.into, length) >= f64::from(limit.max_failures) {
                let wait = RetryAfter(retry_after(current, previous, windows.into, *limit));
                refused = Some(refused.map_or(wait, |other| other.max(wait)));
            }
        }
        Ok(match refused {
            Some(wait) => Err(wait),
            None => Ok(clean),
        })
    }

    /// Each key's (previous, current) counts: one MGET of every window on a single
    /// Redis; in a cluster one MGET per key (its two windows share a hash slot, the
    /// keys do not), sent together.
    async fn counts(
        &self,
        counted: &[(Windows, Limit)],
    ) -> Result<Vec<(Option<u32>, Option<u32>)>, Unavailable> {
        if !self.redis.is_cluster() {
            let mut command = redis::cmd("MGET");
            for (windows, _) in counted {
                command.arg(&windows.previous).arg(&windows.current);
            }
            let counts: Vec<Option<u32>> = self.redis.query(&command).await?;
            return Ok(counts
                .chunks(2)
                .map(|pair| {
                    (
                        pair.first().copied().flatten(),
                        pair.get(1).copied().flatten(),
                    )
                })
                .collect());
        }
        let commands: Vec<redis::Cmd> = counted
            .iter()
            .map(|(windows, _)| {
                redis::cmd("MGET")
                    .arg(&windows.previous)
                    .arg(&windows.current)
                    .to_owned()
            })
            .collect();
        join_all(
            commands
                .iter()
                .map(|command| self.redis.query::<(Option<u32>, Option<u32>)>(command)),
        )
        .await
        .into_iter()
        .collect()
    }

    /// Counts one failure against each of `keys`.
    pub async fn record_failure(
        &self,
        keys: &[(FailureKey<'_>, Limit)],
    ) -> Result<(), Unavailable> {
        let pipelines: Vec<redis::Pipeline> = keys
            .iter()
            .filter(|(_, limit)| limit.max_failures > 0)
            .map(|(key, limit)| {
                let windows = self.windows(*key, *limit);
                // Two windows after this one began the count no longer matters.
                let ttl_ms = 2 * millis(limit.window) + 1_000;
                redis::pipe()
                    .cmd("INCR")
                    .arg(&windows.current)
                    .ignore()
                    .cmd("PEXPIRE")
                    .arg(&windows.current)
                    .arg(ttl_ms)
                    .ignore()
                    .to_owned()
            })
            .collect();
        join_all(
            pipelines
                .iter()
                .map(|pipeline| self.redis.query_pipeline::<()>(pipeline)),
        )
        .await
        .into_iter()
        .collect()
    }

    /// Forgets `key`'s failures (a correct password or secret).
    pub async fn record_success(
        &self,
        key: FailureKey<'_>,
        limit: Limit,
    ) -> Result<(), Unavailable> {
        if limit.max_failures == 0 {
            return Ok(());
        }
        let windows = self.windows(key, limit);
        let delete = redis::cmd("DEL")
            .arg(&windows.previous)
            .arg(&windows.current)
            .to_owned();
        self.redis.query::<()>(&delete).await
    }

    fn windows(&self, key: FailureKey<'_>, limit: Limit) -> Windows {
        let length = millis(limit.window).max(1);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|since| since.as_millis())
            .unwrap_or(0);
        let index = now / u128::from(length);
        let into = (now % u128::from(length)) as f64 / 1000.0;
        let hash = self.hash(key);
        let name = |window: u128| {
            self.redis
                .key(&format!("failures:{{{hash}}}:{length}:{window}"))
        };
        Windows {
            current: name(index),
            previous: name(index.saturating_sub(1)),
            into,
        }
    }

    /// The key's keyed hash, 128 bits in hex.
    fn hash(&self, key: FailureKey<'_>) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.hash_key) else {
            return String::new();
        };
        match key {
            FailureKey::Username {
                tenant_id,
                username,
            } => {
                mac.update(format!("username\0{tenant_id}\0").as_bytes());
                mac.update(username.as_bytes());
            }
            FailureKey::Client {
                tenant_id,
                client_id,
            } => {
                mac.update(format!("client\0{tenant_id}\0").as_bytes());
                mac.update(client_id.as_bytes());
            }
            FailureKey::Address { tenant_id, address } => {
                mac.update(format!("address\0{tenant_id}\0{address}").as_bytes());
            }
            FailureKey::SignUp { tenant_id, address } => {
                mac.update(format!("sign-up\0{tenant_id}\0{address}").as_bytes());
            }
            FailureKey::Registration { tenant_id, address } => {
                mac.update(format!("registration\0{tenant_id}\0{address}").as_bytes());
            }
        }
        let digest = mac.finalize().into_bytes();
        digest[..16]
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
