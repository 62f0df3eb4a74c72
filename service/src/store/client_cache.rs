//! A short-lived in-process cache of client registrations, keyed by
//! (tenant, client_id), so authenticating a client on the hot paths (token,
//! introspection, authorization) costs no database round trip while the entry is
//! fresh.
//!
//! A change to an application is announced to every node after it commits
//! (`shared::changes`) and drops the entry there; an entry is used only while this
//! node hears every notice ([`crate::shared::changes::Trust`]), else the
//! registration is read from the primary each time. Without Redis (one node) a
//! change made by the CLI reaches the node within `ttl`. Token state is never cached
//! here: revocation stays exact.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use entity::application;

use crate::error::Error;
use crate::store::access::TenantData;
use crate::store::applications;

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

    /// The registration of `client_id` in the tenant: cached while this node hears
    /// every change notice, else from the primary (`None`: not registered).
    pub async fn registration(
        &self,
        data: TenantData<'_>,
        client_id: &str,
    ) -> Result<Option<Arc<application::Model>>, Error> {
        let trust = data.trust();
        if trust.is_trusted()
            && let Some(cached) = self.get(data.tenant_id(), client_id)
        {
            return Ok(Some(cached));
        }
        let began = trust.epoch();
        let found = applications::find_by_client_id(data, client_id)
            .await?
            .map(Arc::new);
        if let Some(application) = &found
            && trust.admits(began)
        {
            self.put(Arc::clone(application));
        }
        Ok(found)
    }

    /// The registration read from the primary now, bypassing and refreshing the cache
    /// (a secret that failed against the cached one is checked once more).
    pub async fn reread(
        &self,
        data: TenantData<'_>,
        client_id: &str,
    ) -> Result<Option<Arc<application::Model>>, Error> {
        self.forget(data.tenant_id(), client_id);
        self.registration(data, client_id).await
    }

    fn get(&self, tenant_id: i64, client_id: &str) -> Option<Arc<application::Model>> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.read().ok()?;
        let (stored_at, model) = entries.get(&(tenant_id, client_id.to_owned()))?;
        (stored_at.elapsed() < self.ttl).then(|| Arc::clone(model))
    }

    fn put(&self, model: Arc<application::Model>) {
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

    /// Forgets a client (its registration changed).
    pub fn forget(&self, tenant_id: i64, client_id: &str) {
        if let Ok(mut entries) = self.entries.write() {
            entries.remove(&(tenant_id, client_id.to_owned()));
        }
    }

    /// Forgets every client.
    pub fn forget_all(&self) {
        if let Ok(mut entries) = self.entries.write() {
            entries.clear();
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
        cache.forget_all();
        assert!(cache.get(1, "web").is_none());
        cache.put(model(1, "web"));
        std::thread::sleep(Duration::from_millis(60));
        assert!(cache.get(1, "web").is_none(), "expired");
        let disabled = ClientCache::new(Duration::ZERO);
        disabled.put(model(1, "web"));
        assert!(disabled.get(1, "web").is_none());
    }
}
