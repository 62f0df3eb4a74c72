//! A short-lived in-process cache of client registrations, keyed by
//! (tenant, client_id), so authenticating a client on the hot paths (token,
//! introspection) costs no database round trip while the entry is fresh.
//!
//! What it trades: a change to a client made elsewhere (another node, the CLI) —
//! a new secret, removed grant types — reaches this node within `ttl`. Changes this
//! process makes itself (secret hash upgrades) invalidate at once. Token state is
//! never cached here: revocation stays exact.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use entity::application;

/// Entries beyond this many clear the cache (a bound, not an LRU: a tenant count
/// that large is rare, and a refill costs one query per client).
const MAX_ENTRIES: usize = 100_000;

/// (tenant id, client_id) → (read at, registration).
type Entries = HashMap<(i64, String), (Instant, Arc<application::Model>)>;

/// Cached client registrations.
#[derive(Debug)]
pub struct ClientCache {
    ttl: Duration,
    entries: RwLock<Entries>,
}

impl ClientCache {
    /// A cache whose entries live `ttl` (zero disables it).
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: RwLock::new(HashMap::new()),
        }
    }

    /// The fresh entry for `client_id` in `tenant_id`, if any.
    pub fn get(&self, tenant_id: i64, client_id: &str) -> Option<Arc<application::Model>> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.read().ok()?;
        let (stored_at, model) = entries.get(&(tenant_id, client_id.to_owned()))?;
        (stored_at.elapsed() < self.ttl).then(|| Arc::clone(model))
    }

    /// Remembers a registration read from the database.
    pub fn put(&self, model: Arc<application::Model>) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(
                (model.tenant_id, model.client_id.clone()),
                (Instant::now(), model),
            );
        }
    }

    /// Forgets a client (its registration changed here).
    pub fn forget(&self, tenant_id: i64, client_id: &str) {
        if let Ok(mut entries) = self.entries.write() {
            entries.remove(&(tenant_id, client_id.to_owned()));
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn model(tenant_id: i64, client_id: &str) -> Arc<application::Model> {
        let now = crate::time::now();
        Arc::new(application::Model {
            id: 1,
            tenant_id,
            client_id: client_id.to_owned(),
            owner_user_id: None,
            name: String::new(),
            client_type: "confidential".to_owned(),
            grant_types: String::new(),
            redirect_uris: String::new(),
            post_logout_redirect_uris: String::new(),
            allowed_origins: String::new(),
            client_secret: String::new(),
            hash_client_secret: true,
            skip_authorization: false,
            algorithm: String::new(),
            access_token_format: "opaque".to_owned(),
            allowed_scopes: String::new(),
            extensions: String::new(),
            login_url: String::new(),
            login_client_id: String::new(),
            created_at: now,
            updated_at: now,
        })
    }

    #[test]
    fn entries_are_per_tenant_expire_and_can_be_forgotten() {
        let cache = ClientCache::new(Duration::from_millis(50));
        cache.put(model(1, "web"));
        assert!(cache.get(1, "web").is_some());
        assert!(cache.get(2, "web").is_none(), "tenants stay apart");
        cache.forget(1, "web");
        assert!(cache.get(1, "web").is_none());
        cache.put(model(1, "web"));
        std::thread::sleep(Duration::from_millis(60));
        assert!(cache.get(1, "web").is_none(), "expired");
        let disabled = ClientCache::new(Duration::ZERO);
        disabled.put(model(1, "web"));
        assert!(disabled.get(1, "web").is_none());
    }
}
