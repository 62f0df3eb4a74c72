//! What every request shares: configuration, pools, tenants and the process-wide
//! caches and limits. It sits below the protocol logic and the endpoints, which both
//! take it as an argument; it knows nothing of HTTP.

use std::sync::Arc;

use crate::config::Config;
use crate::db::Databases;
use crate::error::Error;
use crate::jose::keyring::Keyring;
use crate::limits::failure_counters::Failures;
use crate::limits::hashing::HashPool;
use crate::limits::pending::PendingCounts;
use crate::network::TrustedProxies;
use crate::pages::Pages;
use crate::policy::Policies;
use crate::route_names::RouteName;
use crate::shared::redis::SharedRedis;
use crate::store::access::TenantData;
use crate::store::client_cache::ClientCache;
use crate::store::token_cache::TokenCache;
use crate::tenancy::{Tenant, Tenants};
use std::collections::BTreeSet;

/// Shared state of the service. Cloning is cheap (reference counts only).
#[derive(Clone, Debug)]
pub struct AppState {
    /// The loaded configuration.
    pub config: Arc<Config>,
    /// Every pool and the router.
    pub databases: Arc<Databases>,
    /// Loaded tenants.
    pub tenants: Arc<Tenants>,
    /// Redis, when configured (what nodes share: change notices, failure counters).
    pub redis: Option<Arc<SharedRedis>>,
    /// Recently read client registrations (hot-path client authentication).
    pub clients: Arc<ClientCache>,
    /// What introspection read about access tokens, used while their revocation
    /// stamps hold (`store::token_cache`).
    pub access_tokens: Arc<TokenCache>,
    /// Bounds concurrent slow-KDF work (argon2id, PBKDF2: ~19 MiB and ~50 ms each) so a
    /// flood of password attempts queues, briefly, instead of exhausting memory and
    /// threads.
    pub slow_hashes: Arc<HashPool>,
    /// Per-address locks and per-tenant totals of the caps on pending interactions
    /// and device grants.
    pub pending: Arc<PendingCounts>,
    /// Failed authentications per username, client and address (brute force).
    pub failures: Arc<Failures>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Arc<TrustedProxies>,
    /// The page templates (login, consent, device, authorized tokens, errors).
    pub pages: Arc<Pages>,
    /// The tenants' signing keys.
    pub keys: Arc<Keyring>,
    /// The routes switched off (answering 404, left out of discovery); set when the
    /// router is built.
    pub disabled_routes: Arc<BTreeSet<RouteName>>,
    /// An embedding program's policy hooks (Tessera's own rules by default).
    pub policies: Arc<Policies>,
    /// The node's counters (`/metrics`).
    pub metrics: Arc<crate::metrics::Metrics>,
}

impl AppState {
    /// Whether route `name` is served.
    pub fn serves(&self, name: RouteName) -> bool {
        !self.disabled_routes.contains(&name)
    }

    /// `tenant`'s data on its pools: what every store function takes (the store picks
    /// the connection).
    pub fn data<'a>(&'a self, tenant: &'a Tenant) -> TenantData<'a> {
        TenantData::new(&self.databases, tenant)
    }

    /// The tenant named `slug`, loaded or found in the directory; `None` if unknown.
    pub async fn tenant(&self, slug: &str) -> Result<Option<Arc<Tenant>>, Error> {
        self.tenants.resolve(&self.databases, slug).await
    }
}
