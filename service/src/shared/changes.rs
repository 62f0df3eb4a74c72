//! Change notices: how a node hears that another node or the CLI changed something
//! it may have cached (docs/operations.md, "Several nodes").
//!
//! The database is the truth. After a change commits, whoever made it publishes a
//! [`Change`] on the deployment's channel (`PREFIX:changes`); every node drops the
//! entry on receipt. A cache entry is used only while its node is [`Trust`]ed: it is
//! subscribed, and its own probe (a notice it publishes every [`PROBE_INTERVAL`])
//! came back through the channel within [`PROBE_TIMEOUT`]. A node that is not —
//! Redis down, paused, reconnecting, a notice possibly missed — reads through to the
//! database, and when it is trusted again it drops everything it cached first.
//!
//! A load that began before a notice arrived may finish after it with what the
//! change made untrue: every notice moves the [`Trust::epoch`] on, and a cache stores
//! a value only when the epoch has not moved since its load began.
//!
//! Without Redis (one node) every cache is trusted, and its time-to-live bounds what
//! a change made elsewhere (the CLI) can leave stale, as before.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use redis::{PushInfo, PushKind, Value};
use tokio::sync::Notify;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::shared::redis::SharedRedis;

/// How often a node checks its subscription by a notice to itself.
pub const PROBE_INTERVAL: Duration = Duration::from_millis(200);

/// How long a probe may take to come back before the node stops trusting its caches.
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(300);

/// What changed: the key of what nodes cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// An application's registration (secret, grant types, scopes, redirect URIs,
    /// origins, login application) or its deletion.
    Application {
        /// The tenant's id.
        tenant_id: i64,
        /// The client_id.
        client_id: String,
    },
    /// A tenant's signing keys (creation, rotation, an emergency switch).
    SigningKeys {
        /// The tenant's id.
        tenant_id: i64,
    },
    /// A tenant's directory row (creation, display name, settings).
    Tenant {
        /// The tenant's slug.
        slug: String,
    },
}

impl Change {
    /// The notice's text: a word, then the key (a client_id may hold spaces, so it
    /// comes last).
    fn encode(&self) -> String {
        match self {
            Change::Application {
                tenant_id,
                client_id,
            } => format!("application {tenant_id} {client_id}"),
            Change::SigningKeys { tenant_id } => format!("keys {tenant_id}"),
            Change::Tenant { slug } => format!("tenant {slug}"),
        }
    }

    fn decode(text: &str) -> Option<Self> {
        let (word, rest) = text.split_once(' ')?;
        match word {
            "application" => {
                let (tenant_id, client_id) = rest.split_once(' ')?;
                Some(Change::Application {
                    tenant_id: tenant_id.parse().ok()?,
                    client_id: client_id.to_owned(),
                })
            }
            "keys" => Some(Change::SigningKeys {
                tenant_id: rest.parse().ok()?,
            }),
            "tenant" => Some(Change::Tenant {
                slug: rest.to_owned(),
            }),
            _ => None,
        }
    }
}

/// What a node's caches are told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// Drop this entry.
    Changed(Change),
    /// Drop everything (the node was not listening for a while).
    Everything,
}

/// Whether a node may answer from its caches, and the epoch their loads compare.
#[derive(Debug)]
pub struct Trust {
    trusted: AtomicBool,
    epoch: AtomicU64,
}

impl Trust {
    /// A node without Redis: its caches are always trusted (their time-to-live bounds
    /// staleness).
    pub fn alone() -> Self {
        Self {
            trusted: AtomicBool::new(true),
            epoch: AtomicU64::new(0),
        }
    }

    /// A node with Redis: not trusted until its first probe comes back.
    fn listening() -> Self {
        Self {
            trusted: AtomicBool::new(false),
            epoch: AtomicU64::new(0),
        }
    }

    /// Whether caches may answer.
    pub fn is_trusted(&self) -> bool {
        self.trusted.load(Ordering::Acquire)
    }

    /// The current epoch: read it before a load, and store the loaded value only if
    /// [`Self::admits`] it.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Whether a value loaded from epoch `began` may be stored.
    pub fn admits(&self, began: u64) -> bool {
        self.is_trusted() && self.epoch() == began
    }

    fn advance(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// What a notice does to the epoch (for other modules' tests).
    #[cfg(test)]
    pub(crate) fn advance_for_tests(&self) {
        self.advance();
    }
}

/// Where a node's notices go: a function that drops cache entries.
pub type Caches = Arc<dyn Fn(Notice) + Send + Sync>;

/// Publishes change notices, delivers them to this node's caches, and keeps the
/// node's [`Trust`].
pub struct ChangeFeed {
    redis: Option<Arc<SharedRedis>>,
    caches: OnceLock<Caches>,
    channel: String,
    trust: Trust,
    /// A random number naming this process's probes.
    node: u64,
    /// The newest of this node's probes seen on the channel.
    probe_seen: AtomicU64,
    probe_arrived: Notify,
    /// Whether the connection is (believed) subscribed.
    subscribed: AtomicBool,
}

impl std::fmt::Debug for ChangeFeed {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ChangeFeed")
            .field("channel", &self.channel)
            .field("trust", &self.trust)
            .finish()
    }
}

impl ChangeFeed {
    /// A node or command without Redis: notices go nowhere, caches are trusted.
    pub fn alone() -> Self {
        Self {
            redis: None,
            caches: OnceLock::new(),
            channel: String::new(),
            trust: Trust::alone(),
            node: 0,
            probe_seen: AtomicU64::new(0),
            probe_arrived: Notify::new(),
            subscribed: AtomicBool::new(false),
        }
    }

    /// Notices on `redis`'s `changes` channel.
    pub fn on(redis: Arc<SharedRedis>) -> Self {
        Self {
            channel: redis.key("changes"),
            redis: Some(redis),
            caches: OnceLock::new(),
            trust: Trust::listening(),
            node: rand::random(),
            probe_seen: AtomicU64::new(0),
            probe_arrived: Notify::new(),
            subscribed: AtomicBool::new(false),
        }
    }

    /// The caches' trust.
    pub fn trust(&self) -> &Trust {
        &self.trust
    }

    /// Delivers notices to `caches` from now on (once, when the node's caches exist;
    /// a command without caches never calls it).
    pub fn deliver_to(&self, caches: Caches) {
        if self.caches.set(caches).is_err() {
            tracing::warn!("change notices already go to other caches");
        }
    }

    fn deliver(&self, notice: Notice) {
        self.trust.advance();
        if let Some(caches) = self.caches.get() {
            caches(notice);
        }
    }

    /// Tells this node's caches, and every other node through Redis (when
    /// configured), about a committed change. A notice that cannot be published is
    /// logged: the other nodes' caches then hold the old value until their
    /// time-to-live ends.
    pub async fn announce(&self, change: Change) {
        // This node first: it may not hear its own notice (Redis down).
        let notice = change.encode();
        self.deliver(Notice::Changed(change));
        let Some(redis) = &self.redis else {
            return;
        };
        if let Err(error) = redis.publish(&self.channel, &notice).await {
            tracing::warn!(
                %error,
                change = %notice,
                "change notice not published: other nodes may use their cached copy \
                 until it expires (client_cache_ttl_secs, key_cache_ttl_secs)"
            );
        }
    }

    /// Keeps the node's trust (a task for the node's lifetime): reads the
    /// connection's pushes, delivers each change to the caches, and probes the
    /// channel. Returns at once without Redis.
    pub async fn listen(self: Arc<Self>, pushes: UnboundedReceiver<PushInfo>) {
        let Some(redis) = self.redis.clone() else {
            return;
        };
        let reader = tokio::spawn(Arc::clone(&self).read(pushes));
        self.probe(&redis).await;
        reader.abort();
    }

    async fn read(self: Arc<Self>, mut pushes: UnboundedReceiver<PushInfo>) {
        while let Some(push) = pushes.recv().await {
            match push.kind {
                PushKind::Disconnection => self.lose("the connection to redis closed"),
                PushKind::Message => {
                    let Some(text) = message_on(&push.data, &self.channel) else {
                        continue;
                    };
                    if let Some(seq) = self.own_probe(&text) {
                        self.probe_seen.fetch_max(seq, Ordering::AcqRel);
                        self.probe_arrived.notify_waiters();
                    } else if let Some(change) = Change::decode(&text) {
                        self.deliver(Notice::Changed(change));
                    } else if !text.starts_with("probe ") {
                        tracing::debug!(notice = %text, "unknown change notice ignored");
                    }
                }
                _ => {}
            }
        }
    }

    /// Every [`PROBE_INTERVAL`]: (re)subscribe if needed, publish a probe, and trust
    /// the caches only when it comes back in time. Never returns.
    async fn probe(&self, redis: &SharedRedis) {
        let mut seq: u64 = 0;
        loop {
            if !self.subscribed.load(Ordering::Acquire) {
                match redis.subscribe(&self.channel).await {
                    Ok(()) => self.subscribed.store(true, Ordering::Release),
                    Err(error) => {
                        self.lose(&format!("cannot subscribe: {error}"));
                        tokio::time::sleep(PROBE_INTERVAL).await;
                        continue;
                    }
                }
            }
            seq += 1;
            let arrived = self.probe_arrived.notified();
            let probe = format!("probe {} {seq}", self.node);
            let came_back = match redis.publish(&self.channel, &probe).await {
                Ok(_) => {
                    self.probe_seen.load(Ordering::Acquire) >= seq
                        || (tokio::time::timeout(PROBE_TIMEOUT, self.wait_for(seq, arrived))
                            .await
                            .is_ok())
                }
                Err(_) => false,
            };
            if came_back {
                self.regain();
            } else {
                self.lose("the change channel's probe did not come back in time");
            }
            tokio::time::sleep(PROBE_INTERVAL).await;
        }
    }

    async fn wait_for(&self, seq: u64, mut arrived: tokio::sync::futures::Notified<'_>) {
        loop {
            if self.probe_seen.load(Ordering::Acquire) >= seq {
                return;
            }
            arrived.await;
            arrived = self.probe_arrived.notified();
        }
    }

    fn own_probe(&self, text: &str) -> Option<u64> {
        let rest = text.strip_prefix("probe ")?;
        let (node, seq) = rest.split_once(' ')?;
        (node.parse::<u64>().ok()? == self.node)
            .then(|| seq.parse().ok())
            .flatten()
    }

    /// Stops trusting the caches (once per outage, logged).
    fn lose(&self, why: &str) {
        self.subscribed.store(false, Ordering::Release);
        self.trust.advance();
        if self.trust.trusted.swap(false, Ordering::AcqRel) {
            tracing::warn!(
                why,
                "not listening to change notices: caches read through to the database"
            );
        }
    }

    /// Trusts the caches again, after dropping everything they held.
    fn regain(&self) {
        if self.trust.is_trusted() {
            return;
        }
        self.deliver(Notice::Everything);
        self.trust.trusted.store(true, Ordering::Release);
        tracing::info!("listening to change notices: caches in use");
    }
}

/// The text of a pub/sub message on `channel` (RESP3 push: channel, payload).
fn message_on(data: &[Value], channel: &str) -> Option<String> {
    let [name, payload] = data else {
        return None;
    };
    let name: String = redis::from_redis_value_ref(name).ok()?;
    (name == channel)
        .then(|| redis::from_redis_value_ref(payload).ok())
        .flatten()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn notices_read_back_as_written() {
        for change in [
            Change::Application {
                tenant_id: 7,
                client_id: "a client id with spaces".to_owned(),
            },
            Change::SigningKeys { tenant_id: 3 },
            Change::Tenant {
                slug: "acme".to_owned(),
            },
        ] {
            assert_eq!(Change::decode(&change.encode()), Some(change));
        }
        assert_eq!(Change::decode("application x web"), None);
        assert_eq!(Change::decode("rotate everything"), None);
    }

    #[test]
    fn a_load_older_than_a_notice_is_not_stored() {
        let trust = Trust::alone();
        let began = trust.epoch();
        assert!(trust.admits(began));
        trust.advance();
        assert!(!trust.admits(began), "a notice arrived during the load");
        assert!(trust.admits(trust.epoch()));
        let listening = Trust::listening();
        assert!(!listening.admits(listening.epoch()), "not trusted yet");
    }
}
