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

use std::sync::Arc;
use std::time::Duration;

use entity::application;

use crate::cache::Cache;
use crate::error::Error;
use crate::store::access::TenantData;
use crate::store::applications;

/// The most registrations (and, apart, origin answers) a node keeps.
const MAX_ENTRIES: usize = 100_000;

/// Cached client registrations, and the tenant-wide CORS answers (whether any
/// application of a tenant lists an origin: asked by every preflight).
#[derive(Debug)]
pub struct ClientCache {
    registrations: Cache<(i64, String), application::Model>,
    origins: Cache<(i64, String), bool>,
}

impl ClientCache {
    /// A cache whose entries live `ttl` (zero disables it).
    pub fn new(ttl: Duration) -> Self {
        Self {
            registrations: Cache::new(ttl, MAX_ENTRIES),
            origins: Cache::new(ttl, MAX_ENTRIES),
        }
    }

    /// The registrations cache's and the CORS cache's hits and misses.
    pub fn counts(&self) -> [(&'static str, crate::cache::CacheCounts); 2] {
        [
            ("clients", self.registrations.counts()),
            ("origins", self.origins.counts()),
        ]
    }

    /// The registration of `client_id` in the tenant: cached while this node hears
    /// every change notice, else from the primary (`None`: not registered).
    /// Concurrent misses read it once.
    pub async fn registration(
        &self,
        data: TenantData<'_>,
        client_id: &str,
    ) -> Result<Option<Arc<application::Model>>, Error> {
        self.registrations
            .get_or_load(
                (data.tenant_id(), client_id.to_owned()),
                data.trust(),
                || applications::find_by_client_id(data, client_id),
            )
            .await
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

    /// Whether any application of the tenant lists `origin` (CORS before the client
    /// is known), cached like the registrations.
    pub async fn any_lists_origin(
        &self,
        data: TenantData<'_>,
        origin: &str,
    ) -> Result<bool, Error> {
        let listed = self
            .origins
            .get_or_load(
                (data.tenant_id(), origin.to_owned()),
                data.trust(),
                || async { applications::any_lists_origin(data, origin).await.map(Some) },
            )
            .await?;
        Ok(listed.is_some_and(|listed| *listed))
    }

    /// Forgets a client (its registration changed), and its tenant's origin answers.
    pub fn forget(&self, tenant_id: i64, client_id: &str) {
        self.registrations
            .forget(&(tenant_id, client_id.to_owned()));
        self.origins
            .forget_where(|(tenant, _)| *tenant == tenant_id);
    }

    /// Forgets every client and origin answer.
    pub fn forget_all(&self) {
        self.registrations.forget_all();
        self.origins.forget_all();
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
            client_uri: String::new(),
            token_endpoint_auth_method: String::new(),
            registration_token_hash: String::new(),
            created_at: now,
            updated_at: now,
        })
    }

    #[test]
    fn a_change_forgets_the_client_and_its_tenants_origins() {
        let cache = ClientCache::new(Duration::from_secs(60));
        cache
            .registrations
            .store((1, "web".to_owned()), model(1, "web"));
        cache
            .origins
            .store((1, "https://a.example".to_owned()), Arc::new(true));
        cache
            .origins
            .store((2, "https://a.example".to_owned()), Arc::new(true));
        cache.forget(1, "web");
        assert!(cache.registrations.is_empty());
        assert_eq!(
            cache.origins.len(),
            1,
            "only the other tenant's answer stays"
        );
        cache.forget_all();
        assert!(cache.origins.is_empty());
    }
}
