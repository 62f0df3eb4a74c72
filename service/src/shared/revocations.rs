//! Revocation stamps: what lets a node answer introspection from its memory and still
//! see, at once, a revocation made on any node or by the CLI (DESIGN §5, §6;
//! docs/decisions.md, "The token cache").
//!
//! Every holder of tokens has a stamp in Redis, a random number replaced by every
//! change that can end its tokens' life or alter their answer: the tenant
//! (`PREFIX:{tN}:revoked`), an application (`…:revoked:aID`) and a user
//! (`…:revoked:uID`). A revocation commits, then replaces the stamp, then answers.
//! A cached answer records the stamps it was read under and is used only while a
//! read of Redis **begun after the request arrived** returns the same stamps; so a
//! request that arrives after a revocation's 200 never gets a cached answer read
//! before it. The reads are coalesced: one task reads the stamps every waiting
//! request needs at once (one `MGET` per tenant), so under load one Redis round trip
//! serves many requests.
//!
//! Random values rather than counters: Redis restarted empty, or a key expired,
//! gives a new value, never one an old cache entry recorded. A missing stamp is set
//! (`SET … NX`) and nothing is cached against it until it is read back.
//!
//! Without Redis there are no stamps and the token cache is off: the CLI (another
//! process) revokes in the database only, and only Redis could tell a node at once.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};

use crate::shared::redis::SharedRedis;

/// How long a stamp lives in Redis unless replaced (a stamp that expires reads as
/// missing and is set anew: caches miss once, nothing wrong is served).
const STAMP_LIFETIME_SECS: u64 = 86_400;

/// The most requests one read of the stamps answers.
const MAX_BATCH: usize = 1_024;

/// Whose tokens an access token's answer depends on: its tenant, its client, and its
/// user if it has one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Holder {
    /// The tenant's id.
    pub tenant_id: i64,
    /// The application's row id.
    pub application_id: i64,
    /// The user's row id (`None`: a client's own token).
    pub user_id: Option<i64>,
}

/// The stamps a cached answer was read under: the tenant's, the application's and
/// (0 when the token has no user) the user's.
pub type Stamps = [u64; 3];

/// What a committed change ended or altered, within one tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revoked {
    /// Anything of the tenant (its rows erased).
    Tenant,
    /// The tokens of an application, or its registration (deleted, changed).
    Application(i64),
    /// The tokens of a user, or the user (deactivated, changed, deleted).
    User(i64),
}

impl Revoked {
    /// What revoking a token held by `user_id` (else by the application) ends.
    pub fn tokens_of(application_id: i64, user_id: Option<i64>) -> Self {
        match user_id {
            Some(user_id) => Revoked::User(user_id),
            None => Revoked::Application(application_id),
        }
    }
}

/// One request for the current stamps of a holder.
struct Waiting {
    holder: Holder,
    answer: oneshot::Sender<Option<Stamps>>,
}

/// Reads and replaces revocation stamps (one per process, shared by its requests).
pub struct Revocations {
    redis: Option<Arc<SharedRedis>>,
    /// The coalescing reader's queue, started on first use.
    reader: OnceLock<mpsc::UnboundedSender<Waiting>>,
    /// Revocations whose stamp could not be replaced (Redis unreachable from here).
    unshared: AtomicU64,
}

impl std::fmt::Debug for Revocations {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Revocations")
            .field("shared", &self.is_shared())
            .finish()
    }
}

impl Revocations {
    /// A process without Redis: no stamps, nothing cached against them.
    pub fn alone() -> Self {
        Self::kept_in(None)
    }

    /// Stamps kept in `redis`.
    pub fn on(redis: Arc<SharedRedis>) -> Self {
        Self::kept_in(Some(redis))
    }

    fn kept_in(redis: Option<Arc<SharedRedis>>) -> Self {
        Self {
            redis,
            reader: OnceLock::new(),
            unshared: AtomicU64::new(0),
        }
    }

    /// Whether there are stamps at all (Redis configured).
    pub fn is_shared(&self) -> bool {
        self.redis.is_some()
    }

    /// Whether stamps read at `read_at` may still be trusted: no Redis call of this
    /// process failed since. A stamp write that failed (this node's own revocation
    /// not shared) or a Redis restart or failover (which may roll a stamp back)
    /// fails some call, so entries read before it are not used again.
    pub fn trusts_reads_since(&self, read_at: Instant) -> bool {
        self.redis
            .as_ref()
            .is_some_and(|redis| redis.no_failure_since(read_at))
    }

    /// Revocations whose stamp could not be replaced so far (`/metrics`).
    pub fn unshared(&self) -> u64 {
        self.unshared.load(Ordering::Relaxed)
    }

    /// The current stamps of `holder`, read from Redis after this call began (one
    /// read shared with the requests waiting at the same time); `None` when they
    /// cannot be known now (no Redis, Redis not answering, a stamp just created):
    /// the caller reads the database.
    pub async fn current(&self, holder: Holder) -> Option<Stamps> {
        let redis = self.redis.as_ref()?;
        let reader = self.reader.get_or_init(|| {
            let (queue, waiting) = mpsc::unbounded_channel();
            tokio::spawn(read_stamps(Arc::clone(redis), waiting));
            queue
        });
        let (answer, answered) = oneshot::channel();
        reader.send(Waiting { holder, answer }).ok()?;
        answered.await.ok().flatten()
    }

    /// Replaces the stamp of what a committed change revoked in `tenant_id`. Called
    /// after the commit and before the answer. A stamp that cannot be replaced is
    /// logged and counted: nodes that still reach Redis may then answer from their
    /// caches until `token_cache_ttl_secs` ends.
    pub async fn announce(&self, tenant_id: i64, revoked: Revoked) {
        let Some(redis) = &self.redis else {
            return;
        };
        let key = redis.key(&stamp_name(tenant_id, revoked));
        let command = redis::cmd("SET")
            .arg(&key)
            .arg(new_stamp())
            .arg("EX")
            .arg(STAMP_LIFETIME_SECS)
            .to_owned();
        if let Err(error) = redis.query_now::<()>(&command).await {
            self.unshared.fetch_add(1, Ordering::Relaxed);
            tracing::error!(
                %error,
                tenant_id,
                revoked = ?revoked,
                "revocation committed but its stamp was not replaced in redis: nodes that \
                 reach redis may answer introspection from their caches until \
                 token_cache_ttl_secs ends"
            );
        }
    }
}

/// The stamp's key name (after the deployment's prefix). `{tN}` is a Redis Cluster
/// hash tag: one tenant's stamps share a slot, so one `MGET` reads them.
fn stamp_name(tenant_id: i64, revoked: Revoked) -> String {
    match revoked {
        Revoked::Tenant => format!("{{t{tenant_id}}}:revoked"),
        Revoked::Application(id) => format!("{{t{tenant_id}}}:revoked:a{id}"),
        Revoked::User(id) => format!("{{t{tenant_id}}}:revoked:u{id}"),
    }
}

/// The stamps of `holder`, in [`Stamps`] order.
fn stamp_names(holder: &Holder) -> Vec<String> {
    let mut names = vec![
        stamp_name(holder.tenant_id, Revoked::Tenant),
        stamp_name(
            holder.tenant_id,
            Revoked::Application(holder.application_id),
        ),
    ];
    if let Some(user_id) = holder.user_id {
        names.push(stamp_name(holder.tenant_id, Revoked::User(user_id)));
    }
    names
}

/// A new stamp: random, never zero (zero stands for "no user").
fn new_stamp() -> u64 {
    rand::random::<u64>() | 1
}

/// The coalescing reader (a task per process, ending with its queue): takes every
/// waiting request, reads their stamps (one `MGET` per tenant, the tenants at once),
/// answers them, and starts over with the requests that arrived meanwhile.
async fn read_stamps(redis: Arc<SharedRedis>, mut waiting: mpsc::UnboundedReceiver<Waiting>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while waiting.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let mut by_tenant: HashMap<i64, Vec<Waiting>> = HashMap::new();
        for request in batch.drain(..) {
            by_tenant
                .entry(request.holder.tenant_id)
                .or_default()
                .push(request);
        }
        futures_util::future::join_all(
            by_tenant
                .into_values()
                .map(|requests| answer_tenant(&redis, requests)),
        )
        .await;
    }
}

/// Reads the stamps one tenant's waiting requests need and answers each; sets the
/// missing ones in the background (those requests get `None`).
async fn answer_tenant(redis: &Arc<SharedRedis>, requests: Vec<Waiting>) {
    let mut names: Vec<String> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let positions: Vec<Vec<usize>> = requests
        .iter()
        .map(|request| {
            stamp_names(&request.holder)
                .into_iter()
                .map(|name| {
                    *index.entry(name.clone()).or_insert_with(|| {
                        names.push(name);
                        names.len() - 1
                    })
                })
                .collect()
        })
        .collect();
    let keys: Vec<String> = names.iter().map(|name| redis.key(name)).collect();
    let values: Vec<Option<u64>> = match redis
        .query::<Vec<Option<u64>>>(redis::cmd("MGET").arg(&keys))
        .await
    {
        Ok(values) if values.len() == keys.len() => values,
        _ => {
            for request in requests {
                let _ = request.answer.send(None);
            }
            return;
        }
    };
    let missing: Vec<&String> = keys
        .iter()
        .zip(&values)
        .filter(|(_, value)| value.is_none())
        .map(|(key, _)| key)
        .collect();
    for (request, positions) in requests.into_iter().zip(positions) {
        let mut stamps: Stamps = [0; 3];
        let mut known = true;
        for (slot, position) in positions.into_iter().enumerate() {
            match values[position] {
                Some(value) => stamps[slot] = value,
                None => known = false,
            }
        }
        let _ = request.answer.send(known.then_some(stamps));
    }
    if !missing.is_empty() {
        let mut pipeline = redis::pipe();
        for key in missing {
            pipeline
                .cmd("SET")
                .arg(key)
                .arg(new_stamp())
                .arg("NX")
                .arg("EX")
                .arg(STAMP_LIFETIME_SECS)
                .ignore();
        }
        // Not waited for: the next batch need not wait on it. Failing here only
        // means a later request finds the stamp missing again.
        let redis = Arc::clone(redis);
        tokio::spawn(async move { redis.query_pipeline::<()>(&pipeline).await });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_tenants_stamps_share_a_cluster_slot() {
        let holder = Holder {
            tenant_id: 7,
            application_id: 12,
            user_id: Some(55),
        };
        let names = stamp_names(&holder);
        assert_eq!(
            names,
            ["{t7}:revoked", "{t7}:revoked:a12", "{t7}:revoked:u55"]
        );
        let client_token = Holder {
            user_id: None,
            ..holder
        };
        assert_eq!(stamp_names(&client_token).len(), 2);
    }

    #[test]
    fn a_revoked_token_names_its_user_else_its_client() {
        assert_eq!(Revoked::tokens_of(3, Some(9)), Revoked::User(9));
        assert_eq!(Revoked::tokens_of(3, None), Revoked::Application(3));
    }

    #[test]
    fn stamps_are_never_zero() {
        assert!((0..1_000).all(|_| new_stamp() != 0));
    }
}
