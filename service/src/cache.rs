//! A node's in-process cache of what it read from the database (client
//! registrations, signing keys, CORS origins): bounded, with a time-to-live, and
//! loads coalesced — when an entry is missing or expired, concurrent requests for it
//! wait for one load instead of each reading (and, for keys, decrypting) it again.
//!
//! It answers only while the node hears every change notice
//! ([`crate::shared::changes::Trust`]); otherwise each request loads for itself. A
//! value is stored only if no notice arrived while it was loading (the trust's
//! epoch did not move), so a load older than a change never lands after it.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::shared::changes::Trust;

/// What a cache holds: entries stored at an instant, and the loads in progress.
#[derive(Debug)]
pub struct Cache<K, V> {
    ttl: Duration,
    max_entries: usize,
    entries: RwLock<HashMap<K, (Instant, Arc<V>)>>,
    /// One lock per key being loaded: the first request loads, the others wait on it
    /// and then find the entry.
    loading: Mutex<HashMap<K, Arc<tokio::sync::Mutex<()>>>>,
    /// Answers from a stored entry, and loads (misses and reads while untrusted).
    hits: AtomicU64,
    misses: AtomicU64,
}

/// A cache's answers so far (`/metrics`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheCounts {
    /// Answered from a stored entry.
    pub hits: u64,
    /// Loaded from the database.
    pub misses: u64,
}

impl<K: Clone + Eq + Hash, V> Cache<K, V> {
    /// A cache whose entries live `ttl` (zero: nothing is kept) and which holds at
    /// most `max_entries` (the oldest eighth goes when it is full).
    pub fn new(ttl: Duration, max_entries: usize) -> Self {
        Self {
            ttl,
            max_entries: max_entries.max(1),
            entries: RwLock::new(HashMap::new()),
            loading: Mutex::new(HashMap::new()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Hits and misses so far.
    pub fn counts(&self) -> CacheCounts {
        CacheCounts {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }

    /// The value for `key`: a fresh entry while `trust` holds, else `load`'s answer
    /// (`None`: there is no such thing, and nothing is stored), coalesced with the
    /// concurrent loads of the same key.
    pub async fn get_or_load<E, Fut>(
        &self,
        key: K,
        trust: &Trust,
        load: impl FnOnce() -> Fut,
    ) -> Result<Option<Arc<V>>, E>
    where
        Fut: Future<Output = Result<Option<V>, E>>,
    {
        if !trust.is_trusted() || self.is_off() {
            self.misses.fetch_add(1, Ordering::Relaxed);
            return Ok(load().await?.map(Arc::new));
        }
        if let Some(hit) = self.fresh(&key) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Some(hit));
        }
        let turn = self.turn(&key);
        let held = turn.lock().await;
        let answer = match self.fresh(&key) {
            // Another request loaded it while this one waited.
            Some(hit) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                Ok(Some(hit))
            }
            None => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                let began = trust.epoch();
                match load().await {
                    Ok(Some(value)) => {
                        let value = Arc::new(value);
                        if trust.admits(began) {
                            self.store(key.clone(), Arc::clone(&value));
                        }
                        Ok(Some(value))
                    }
                    other => other.map(|found| found.map(Arc::new)),
                }
            }
        };
        drop(held);
        self.done_with(&key, turn);
        answer
    }

    /// Stores `value` for `key` (the caller read it under a trust it checked).
    pub fn store(&self, key: K, value: Arc<V>) {
        if self.is_off() {
            return;
        }
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() >= self.max_entries && !entries.contains_key(&key) {
                self.make_room(&mut entries);
            }
            entries.insert(key, (Instant::now(), value));
        }
    }

    /// Drops `key`'s entry.
    pub fn forget(&self, key: &K) {
        if let Ok(mut entries) = self.entries.write() {
            entries.remove(key);
        }
    }

    /// Drops every entry whose key `matches`.
    pub fn forget_where(&self, matches: impl Fn(&K) -> bool) {
        if let Ok(mut entries) = self.entries.write() {
            entries.retain(|key, _| !matches(key));
        }
    }

    /// Drops every entry.
    pub fn forget_all(&self) {
        if let Ok(mut entries) = self.entries.write() {
            entries.clear();
        }
    }

    /// Entries held now.
    pub fn len(&self) -> usize {
        self.entries
            .read()
            .map(|entries| entries.len())
            .unwrap_or(0)
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the cache keeps nothing (a zero time-to-live).
    pub fn is_off(&self) -> bool {
        self.ttl.is_zero()
    }

    /// Counts an answer from an entry (`hit`) or a load, for a caller that decides
    /// for itself when an entry may be used.
    pub fn count(&self, hit: bool) {
        let counter = if hit { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The entry for `key` if it is younger than the time-to-live (the caller
    /// decides whether it may still be used).
    pub fn fresh(&self, key: &K) -> Option<Arc<V>> {
        let entries = self.entries.read().ok()?;
        let (stored_at, value) = entries.get(key)?;
        (stored_at.elapsed() < self.ttl).then(|| Arc::clone(value))
    }

    fn turn(&self, key: &K) -> Arc<tokio::sync::Mutex<()>> {
        match self.loading.lock() {
            Ok(mut loading) => Arc::clone(loading.entry(key.clone()).or_default()),
            // A poisoned map: load alone rather than not at all.
            Err(_) => Arc::default(),
        }
    }

    /// Forgets the key's load lock once no other request holds it.
    fn done_with(&self, key: &K, turn: Arc<tokio::sync::Mutex<()>>) {
        if let Ok(mut loading) = self.loading.lock() {
            // This request's handle and the map's: nobody else waits.
            if Arc::strong_count(&turn) <= 2 {
                loading.remove(key);
            }
        }
    }

    /// Drops expired entries, then the oldest eighth if that was not enough.
    fn make_room(&self, entries: &mut HashMap<K, (Instant, Arc<V>)>) {
        entries.retain(|_, (stored_at, _)| stored_at.elapsed() < self.ttl);
        if entries.len() < self.max_entries {
            return;
        }
        let mut ages: Vec<Instant> = entries.values().map(|(stored_at, _)| *stored_at).collect();
        let cut = (ages.len() / 8).max(1);
        let (_, cutoff, _) = ages.select_nth_unstable(cut - 1);
        let cutoff = *cutoff;
        entries.retain(|_, (stored_at, _)| *stored_at > cutoff);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_misses_load_once() {
        let cache: Arc<Cache<u32, String>> = Arc::new(Cache::new(Duration::from_secs(60), 10));
        let trust = Arc::new(Trust::alone());
        let loads = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let (cache, trust, loads) = (cache.clone(), trust.clone(), loads.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_load(7, &trust, || async {
                        loads.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok::<_, ()>(Some("keys".to_owned()))
                    })
                    .await
                    .unwrap()
                    .unwrap()
            }));
        }
        for task in tasks {
            assert_eq!(*task.await.unwrap(), "keys");
        }
        assert_eq!(loads.load(Ordering::SeqCst), 1, "one load for 50 requests");
        assert!(
            cache.loading.lock().unwrap().is_empty(),
            "no lock left behind"
        );
    }

    #[tokio::test]
    async fn a_load_overtaken_by_a_notice_is_not_kept() {
        let cache: Cache<u32, u32> = Cache::new(Duration::from_secs(60), 10);
        let trust = Trust::alone();
        let value = cache
            .get_or_load(1, &trust, || async {
                // A change notice arrives while this load runs.
                trust.advance_for_tests();
                Ok::<_, ()>(Some(1))
            })
            .await
            .unwrap();
        assert_eq!(value.as_deref(), Some(&1), "the caller gets what it read");
        assert!(cache.is_empty(), "but it is not kept");
    }

    #[tokio::test]
    async fn misses_are_not_kept_and_the_bound_holds() {
        let cache: Cache<u32, u32> = Cache::new(Duration::from_secs(60), 16);
        let trust = Trust::alone();
        let missing = cache
            .get_or_load(1, &trust, || async { Ok::<_, ()>(None) })
            .await
            .unwrap();
        assert!(missing.is_none());
        assert!(cache.is_empty());
        for key in 0..1000 {
            cache.store(key, Arc::new(key));
            assert!(cache.len() <= 16);
        }
        cache.forget_where(|key| key % 2 == 0);
        assert!(cache.fresh(&998).is_none());
        assert!(cache.fresh(&999).is_some(), "the newest stay");
    }
}
