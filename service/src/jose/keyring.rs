//! Each tenant's keys: one signing key per algorithm at a time, plus keys published
//! ahead of signing and retired keys published until the tokens they signed expire
//! (docs/security.md; rotation in docs/openid-connect.md).
//!
//! A node keeps a tenant's opened keys for `key_cache_ttl_secs`, then reads them again
//! (concurrent requests wait for one read); a rotation is announced to every node,
//! which drops them at once (without Redis, another process's rotation is seen
//! within that time). A rotated-in
//! key is published `key_publish_ahead_secs` before it signs, longer than this cache
//! and the JWKS `Cache-Control`, so no relying party sees a token whose key it could
//! not have fetched.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use entity::signing_key;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::Semaphore;

use crate::cache::Cache;
use crate::db::Databases;
use crate::error::Error;
use crate::jose::jwk::{self, PrivateKey, SigningAlgorithm};
use crate::jose::jws::{self, Header};
use crate::jose::sealing::{KeyEncryptionKey, OpenError};
use crate::store::signing_keys::{self, NewSigningKey};
use crate::tenancy::Tenant;
use crate::time::now;

/// The most tenants whose keys a node keeps open at once.
const MAX_TENANTS: usize = 100_000;

/// How many stored keys the start unseals per read.
const CHECK_PAGE: u64 = 1_000;

/// An opened key.
#[derive(Debug)]
pub struct LoadedKey {
    /// RFC 7638 thumbprint.
    pub kid: String,
    /// The one algorithm it signs with.
    pub algorithm: SigningAlgorithm,
    /// The key pair.
    pub private: Arc<PrivateKey>,
    /// The published JWK, as JSON text: a served tenant's keys stay in memory, and
    /// text is a fraction of a parsed `Value`'s allocations (docs/benchmarks.md).
    pub public_jwk: Box<str>,
    /// When it starts to sign.
    pub signs_from: entity::Timestamp,
    /// When it stops signing, once rotated out.
    pub retired_at: Option<entity::Timestamp>,
}

/// A tenant's published keys, as loaded.
#[derive(Debug)]
pub struct TenantKeys {
    /// Published keys, oldest first.
    pub keys: Vec<Arc<LoadedKey>>,
    /// The JWK Set document (RFC 7517 §5), serialized.
    pub jwks: String,
}

impl TenantKeys {
    /// The key that signs with `algorithm` at `at`: of the keys already signing and
    /// not yet retired, the newest.
    pub fn signing_key(
        &self,
        algorithm: SigningAlgorithm,
        at: entity::Timestamp,
    ) -> Option<&Arc<LoadedKey>> {
        self.keys
            .iter()
            .filter(|key| key.algorithm == algorithm && key.signs_from <= at)
            .filter(|key| key.retired_at.is_none_or(|retired| retired > at))
            .max_by_key(|key| key.signs_from)
    }

    /// The published key `kid`.
    pub fn find(&self, kid: &str) -> Option<&Arc<LoadedKey>> {
        self.keys.iter().find(|key| key.kid == kid)
    }

    /// The algorithms the tenant has no unretired key of.
    fn missing_algorithms(&self) -> Vec<SigningAlgorithm> {
        algorithms_without_key(|algorithm| {
            self.keys
                .iter()
                .any(|key| key.algorithm == algorithm && key.retired_at.is_none())
        })
        .collect()
    }
}

/// The algorithms a tenant must be given a key of: those it has no unretired key of,
/// as `has_unretired` says. The one rule for a tenant's opened keys
/// ([`TenantKeys::missing_algorithms`]) and for the rows a start checks
/// ([`Keyring::check_stored_keys`]).
fn algorithms_without_key(
    has_unretired: impl Fn(SigningAlgorithm) -> bool,
) -> impl Iterator<Item = SigningAlgorithm> {
    SigningAlgorithm::ALL
        .into_iter()
        .filter(move |algorithm| !has_unretired(*algorithm))
}

/// The keyring of every tenant this node has used.
#[derive(Debug)]
pub struct Keyring {
    kek: KeyEncryptionKey,
    /// Each tenant's opened keys (concurrent misses open them once).
    tenants: Cache<i64, TenantKeys>,
    /// RSA signatures take a millisecond of CPU: they run on blocking threads, at most
    /// this many at once (half the cores), so they never hold every core; the permit
    /// moves into the work, so a client that hangs up does not release it early.
    slow_signatures: Arc<Semaphore>,
}

/// What a key creation or rotation stored.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedKey {
    /// RFC 7638 thumbprint.
    pub kid: String,
    /// JWA name.
    pub algorithm: &'static str,
    /// When it starts to sign (RFC 3339).
    pub signs_from: String,
}

fn context(tenant_id: i64, kid: &str) -> Vec<u8> {
    format!("tessera signing key v1\0{tenant_id}\0{kid}").into_bytes()
}

impl Keyring {
    /// The keys cache's hits and misses.
    pub fn counts(&self) -> crate::cache::CacheCounts {
        self.tenants.counts()
    }

    /// A keyring opening keys with `kek`.
    pub fn new(kek: KeyEncryptionKey, cache_ttl: Duration, slow_signatures: usize) -> Self {
        Self {
            kek,
            tenants: Cache::new(cache_ttl, MAX_TENANTS),
            slow_signatures: Arc::new(Semaphore::new(slow_signatures.max(1))),
        }
    }

    /// The key-encryption key.
    pub fn kek(&self) -> &KeyEncryptionKey {
        &self.kek
    }

    /// The tenant's keys: cached, or read from the directory pool (creating the keys
    /// of any algorithm the tenant has none of, as for a tenant made before keys were).
    pub async fn tenant_keys(
        &self,
        databases: &Databases,
        tenant: &Tenant,
    ) -> Result<Arc<TenantKeys>, Error> {
        let loaded = self
            .tenants
            .get_or_load(tenant.id, databases.changes().trust(), || async {
                Ok::<_, Error>(Some(self.load_complete(databases, tenant).await?))
            })
            .await?;
        loaded.ok_or_else(|| Error::Corrupt(format!("tenant {} has no keys", tenant.slug)))
    }

    /// Unseals every published key in the directory, a page at a time, proving the
    /// key-encryption key opens them all (a wrong KEK, or a row altered or moved to
    /// another tenant, stops the start), and returns those of `tenants` that have no
    /// unretired key of some algorithm. It keeps nothing: a node holds a tenant's
    /// opened keys only once it serves the tenant ([`Self::tenant_keys`]), so a start
    /// with 10,000 tenants holds no keys (about 13 KB per served tenant,
    /// docs/benchmarks.md). Keys are unsealed, not parsed: the seal authenticates the
    /// PKCS#8 it holds, and parsing waits for the first signature or JWKS.
    pub async fn check_stored_keys(
        &self,
        databases: &Databases,
        tenants: &[Arc<Tenant>],
    ) -> Result<Vec<Arc<Tenant>>, Error> {
        let at = now();
        let slugs: HashMap<i64, &str> = tenants
            .iter()
            .map(|tenant| (tenant.id, tenant.slug.as_ref()))
            .collect();
        let mut unretired: HashSet<(i64, SigningAlgorithm)> = HashSet::new();
        let mut after_id = 0;
        loop {
            let page = signing_keys::published_page(databases, after_id, at, CHECK_PAGE).await?;
            let Some(last) = page.last() else { break };
            after_id = last.id;
            for row in &page {
                let slug = slugs
                    .get(&row.tenant_id)
                    .copied()
                    .unwrap_or("(not in the directory)");
                let algorithm = algorithm_of(row)?;
                self.unseal(slug, row)?;
                if row.retired_at.is_none() {
                    unretired.insert((row.tenant_id, algorithm));
                }
            }
        }
        Ok(tenants
            .iter()
            .filter(|tenant| {
                algorithms_without_key(|algorithm| unretired.contains(&(tenant.id, algorithm)))
                    .next()
                    .is_some()
            })
            .cloned()
            .collect())
    }

    /// Creates the keys of any algorithm the tenant has none of, unless another node
    /// or request did meanwhile; keeps nothing (see [`Self::check_stored_keys`]).
    pub async fn complete_tenant_keys(
        &self,
        databases: &Databases,
        tenant: &Tenant,
    ) -> Result<(), Error> {
        self.load_complete(databases, tenant).await.map(drop)
    }

    /// The tenant's keys, read from the directory pool and opened, with those of any
    /// algorithm it has none of created first (as for a tenant made before keys
    /// were).
    async fn load_complete(
        &self,
        databases: &Databases,
        tenant: &Tenant,
    ) -> Result<TenantKeys, Error> {
        let keys = self.load(databases, tenant).await?;
        let missing = keys.missing_algorithms();
        if missing.is_empty() {
            return Ok(keys);
        }
        create_keys(databases, &self.kek, tenant.id, &missing, now()).await?;
        self.load(databases, tenant).await
    }

    /// Drops the cached keys of a tenant (a rotation was announced).
    pub fn forget(&self, tenant_id: i64) {
        self.tenants.forget(&tenant_id);
    }

    /// Drops every tenant's cached keys.
    pub fn forget_all(&self) {
        self.tenants.forget_all();
    }

    async fn load(&self, databases: &Databases, tenant: &Tenant) -> Result<TenantKeys, Error> {
        let rows = signing_keys::published(databases, tenant.id, now()).await?;
        let mut keys = Vec::with_capacity(rows.len());
        for row in rows {
            keys.push(Arc::new(self.open(tenant, row)?));
        }
        let members: Vec<&str> = keys.iter().map(|key| &*key.public_jwk).collect();
        let jwks = format!("{{\"keys\":[{}]}}", members.join(","));
        Ok(TenantKeys { keys, jwks })
    }

    fn open(&self, tenant: &Tenant, row: signing_key::Model) -> Result<LoadedKey, Error> {
        let algorithm = algorithm_of(&row)?;
        let pkcs8 = self.unseal(tenant.slug.as_ref(), &row)?;
        // Parsed once to check it is a JSON object, then kept as compact text.
        let public_jwk = serde_json::from_str::<serde_json::Map<String, Value>>(&row.public_jwk)
            .map(|members| Value::Object(members).to_string().into_boxed_str())
            .map_err(|error| Error::Corrupt(format!("public JWK of key {}: {error}", row.kid)))?;
        Ok(LoadedKey {
            kid: row.kid,
            algorithm,
            private: Arc::new(jwk::parse_private(algorithm, &pkcs8)?),
            public_jwk,
            signs_from: row.signs_from.unwrap_or(row.created_at),
            retired_at: row.retired_at,
        })
    }

    /// The PKCS#8 private key sealed in `row`, a key of tenant `slug`.
    fn unseal(&self, slug: &str, row: &signing_key::Model) -> Result<Vec<u8>, Error> {
        self.kek
            .open(&context(row.tenant_id, &row.kid), &row.sealed_private_key)
            .map_err(|error| wrong_kek(slug, &row.kid, &self.kek, error))
    }

    /// Signs `claims` as a JWT of type `typ` with the tenant's current key of
    /// `algorithm`.
    pub async fn sign(
        &self,
        databases: &Databases,
        tenant: &Tenant,
        algorithm: SigningAlgorithm,
        typ: &str,
        claims: &impl Serialize,
    ) -> Result<String, Error> {
        let keys = self.tenant_keys(databases, tenant).await?;
        let key = keys.signing_key(algorithm, now()).ok_or_else(|| {
            Error::Keys(format!(
                "tenant {} has no {} key that signs now",
                tenant.slug,
                algorithm.as_str()
            ))
        })?;
        let header = Header {
            alg: algorithm.as_str(),
            typ,
            kid: Some(&key.kid),
        };
        let input = jws::signing_input(&header, claims)?;
        if algorithm != SigningAlgorithm::Rs256 {
            let signature = key.private.sign(input.as_bytes())?;
            return Ok(jws::compact(input, &signature));
        }
        let permit = self
            .slow_signatures
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::Keys("the signing pool is closed".to_owned()))?;
        let private = key.private.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let signature = private.sign(input.as_bytes())?;
            Ok(jws::compact(input, &signature))
        })
        .await
        .map_err(|error| Error::Keys(format!("signing: {error}")))?
    }
}

fn algorithm_of(row: &signing_key::Model) -> Result<SigningAlgorithm, Error> {
    SigningAlgorithm::parse(&row.algorithm).ok_or_else(|| {
        Error::Corrupt(format!(
            "signing key {}: algorithm {:?}",
            row.kid, row.algorithm
        ))
    })
}

fn wrong_kek(tenant: &str, kid: &str, kek: &KeyEncryptionKey, error: OpenError) -> Error {
    match error {
        OpenError::OtherKey(sealed_with) => Error::Keys(format!(
            "the signing keys of tenant {tenant:?} were sealed with the key-encryption key {sealed_with}, \
             but the configured one is {}: configure the key they were sealed with",
            kek.id()
        )),
        OpenError::Corrupt => Error::Keys(format!(
            "signing key {kid} of tenant {tenant:?} does not open with the key-encryption key {}: \
             it was altered or belongs to another row",
            kek.id()
        )),
    }
}

/// Generates, seals and stores the tenant's first key of each of `algorithms`,
/// signing from `signs_from`. Generation runs on a blocking thread. A key another
/// node or command stored meanwhile wins: this one is dropped, not stored twice
/// (nodes started together on a fresh database create each key once).
pub async fn create_keys(
    databases: &Databases,
    kek: &KeyEncryptionKey,
    tenant_id: i64,
    algorithms: &[SigningAlgorithm],
    signs_from: entity::Timestamp,
) -> Result<Vec<CreatedKey>, Error> {
    let mut created = Vec::with_capacity(algorithms.len());
    for key in generate_sealed(kek, tenant_id, algorithms, signs_from, true).await? {
        let summary = summary(&key);
        match signing_keys::insert(databases, tenant_id, key).await {
            Ok(_) => created.push(summary),
            Err(Error::Conflict(_)) => {}
            Err(error) => return Err(error),
        }
    }
    Ok(created)
}

/// Rotates the tenant's keys of `algorithms`: in one transaction, the current keys
/// retire at `signs_from` (they sign until then) and stay published until
/// `published_until`; the new keys are published now and sign from `signs_from`.
pub async fn rotate(
    databases: &Databases,
    kek: &KeyEncryptionKey,
    tenant_id: i64,
    algorithms: &[SigningAlgorithm],
    signs_from: entity::Timestamp,
    published_until: entity::Timestamp,
) -> Result<Vec<CreatedKey>, Error> {
    let keys = generate_sealed(kek, tenant_id, algorithms, signs_from, false).await?;
    let created = keys.iter().map(summary).collect();
    signing_keys::rotate(databases, tenant_id, keys, signs_from, published_until).await?;
    Ok(created)
}

fn summary(key: &NewSigningKey) -> CreatedKey {
    CreatedKey {
        kid: key.kid.clone(),
        algorithm: SigningAlgorithm::parse(&key.algorithm)
            .map(SigningAlgorithm::as_str)
            .unwrap_or("?"),
        signs_from: crate::time::rfc3339(key.signs_from),
    }
}

async fn generate_sealed(
    kek: &KeyEncryptionKey,
    tenant_id: i64,
    algorithms: &[SigningAlgorithm],
    signs_from: entity::Timestamp,
    initial: bool,
) -> Result<Vec<NewSigningKey>, Error> {
    let algorithms = algorithms.to_vec();
    let generated = tokio::task::spawn_blocking(move || {
        algorithms
            .into_iter()
            .map(|algorithm| jwk::generate(algorithm).map(|key| (algorithm, key)))
            .collect::<Result<Vec<_>, Error>>()
    })
    .await
    .map_err(|error| Error::Keys(format!("generating keys: {error}")))??;
    generated
        .into_iter()
        .map(|(algorithm, key)| {
            let members = key.private.public_members();
            let kid = jwk::thumbprint(&members);
            Ok(NewSigningKey {
                sealed_private_key: kek.seal(&context(tenant_id, &kid), &key.pkcs8)?,
                public_jwk: jwk::public_jwk(&members, &kid, algorithm).to_string(),
                algorithm: algorithm.as_str().to_owned(),
                kid,
                signs_from,
                initial,
            })
        })
        .collect()
}
