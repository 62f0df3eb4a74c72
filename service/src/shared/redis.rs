//! The node's Redis connection (one Redis, or a Redis Cluster's nodes), for what
//! nodes share (docs/operations.md): every call
//! gives up after a short timeout, and after a failure calls are not even tried for a
//! moment (the next answer is the fallback at once, not another timeout), so a slow,
//! paused or absent Redis never stalls a request beyond [`CALL_TIMEOUT`]. The
//! connection reconnects by itself; [`SharedRedis::state`] says how it is doing for
//! `/readyz` and the logs.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{FromRedisValue, ProtocolVersion, PushInfo};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::config::RedisConfig;
use crate::error::Error;

/// How long one Redis call may take before the caller falls back.
pub const CALL_TIMEOUT: Duration = Duration::from_millis(250);

/// After a failed call, how long calls go straight to the fallback.
const COOL_DOWN: Duration = Duration::from_millis(500);

/// Redis, shared by every node, with the key prefix of this deployment.
pub struct SharedRedis {
    connection: Connection,
    prefix: String,
    /// Whether the last call failed, and since when calls skip Redis.
    failed_at: Mutex<Option<Instant>>,
    /// When a call last failed (never cleared): what was read from Redis before it
    /// may have been lost since (a restart, a failover), so caches checked against
    /// Redis do not trust entries read before it.
    last_failure: Mutex<Option<Instant>>,
    /// Whether the loss was logged (once per outage).
    reported: AtomicBool,
}

/// One Redis, or a Redis Cluster.
enum Connection {
    Single(ConnectionManager),
    Cluster(Box<Cluster>),
}

/// One call's connection: either kind runs commands the same way.
enum Handle {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl redis::aio::ConnectionLike for Handle {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        match self {
            Handle::Single(manager) => manager.req_packed_command(cmd),
            Handle::Cluster(cluster) => cluster.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        match self {
            Handle::Single(manager) => manager.req_packed_commands(pipeline, offset, count),
            Handle::Cluster(cluster) => cluster.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Handle::Single(manager) => manager.get_db(),
            Handle::Cluster(cluster) => cluster.get_db(),
        }
    }
}

/// A Redis Cluster's client and its connection, made on first use.
struct Cluster {
    client: ClusterClient,
    connection: tokio::sync::OnceCell<ClusterConnection>,
}

impl std::fmt::Debug for SharedRedis {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("SharedRedis")
            .field("prefix", &self.prefix)
            .field("up", &self.is_up())
            .finish()
    }
}

/// Why a Redis call did not answer (the caller falls back).
#[derive(Debug)]
pub enum Unavailable {
    /// A recent call failed: not tried.
    CoolingDown,
    /// No answer within [`CALL_TIMEOUT`].
    Timeout,
    /// Redis answered with an error, or the connection failed.
    Failed(redis::RedisError),
}

impl std::fmt::Display for Unavailable {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unavailable::CoolingDown => formatter.write_str("a recent call failed"),
            Unavailable::Timeout => write!(formatter, "no answer within {CALL_TIMEOUT:?}"),
            Unavailable::Failed(error) => write!(formatter, "{error}"),
        }
    }
}

impl SharedRedis {
    /// A lazy connection to the configured Redis (`url` already read from `url_file`
    /// when that is set): it connects on first use and reconnects by itself; only a
    /// URL that cannot be a Redis URL is an error. RESP3, so one connection carries
    /// commands and the change channel's messages (sent to the returned receiver).
    /// Several URLs separated by commas (or `cluster = true`) are a Redis Cluster's
    /// nodes. `rediss://` is TLS, checked against `ca_file` or the system's roots.
    pub fn connect(
        config: &RedisConfig,
        url: &str,
    ) -> Result<(Self, UnboundedReceiver<PushInfo>), Error> {
        let urls: Vec<&str> = url
            .split(',')
            .map(str::trim)
            .filter(|url| !url.is_empty())
            .collect();
        let certificates = match &config.ca_file {
            Some(path) => Some(redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(std::fs::read(path).map_err(|error| {
                    Error::Config(format!("redis.ca_file {}: {error}", path.display()))
                })?),
            }),
            None => None,
        };
        let (pushes, received) = tokio::sync::mpsc::unbounded_channel();
        let connection = if urls.len() > 1 || config.cluster {
            let mut builder = redis::cluster::ClusterClientBuilder::new(urls);
            if let Some(certificates) = certificates {
                builder = builder.certs(certificates);
            }
            let client = builder
                .use_protocol(ProtocolVersion::RESP3)
                .push_sender(pushes)
                .connection_timeout(CALL_TIMEOUT)
                .response_timeout(CALL_TIMEOUT)
                // A refused connection to a dead master fails the call at once (the
                // caller falls back) instead of being retried until the timeout.
                .retries(1)
                .build()?;
            Connection::Cluster(Box::new(Cluster {
                client,
                connection: tokio::sync::OnceCell::new(),
            }))
        } else {
            let info = redis::IntoConnectionInfo::into_connection_info(url)?;
            let settings = info
                .redis_settings()
                .clone()
                .set_protocol(ProtocolVersion::RESP3);
            let info = info.set_redis_settings(settings);
            let client = match certificates {
                Some(certificates) => redis::Client::build_with_tls(info, certificates)?,
                None => redis::Client::open(info)?,
            };
            let manager_config = redis::aio::ConnectionManagerConfig::new()
                .set_connection_timeout(Some(CALL_TIMEOUT))
                .set_response_timeout(Some(CALL_TIMEOUT))
                .set_number_of_retries(1)
                .set_max_delay(Duration::from_secs(1))
                .set_push_sender(pushes)
                .set_automatic_resubscription();
            Connection::Single(ConnectionManager::new_lazy_with_config(
                client,
                manager_config,
            )?)
        };
        Ok((
            Self {
                connection,
                prefix: config.key_prefix.clone(),
                failed_at: Mutex::new(None),
                last_failure: Mutex::new(None),
                reported: AtomicBool::new(false),
            },
            received,
        ))
    }

    /// `prefix:name`: every key and channel Tessera uses.
    pub fn key(&self, name: &str) -> String {
        format!("{}:{name}", self.prefix)
    }

    /// Whether this is a Redis Cluster (a command's keys must share a slot).
    pub fn is_cluster(&self) -> bool {
        matches!(self.connection, Connection::Cluster(_))
    }

    /// Whether the last call answered.
    pub fn is_up(&self) -> bool {
        self.failed_at
            .lock()
            .map(|at| at.is_none())
            .unwrap_or(false)
    }

    /// Whether no call has failed since `since`: a value read from Redis then still
    /// stands (a failed write, a restart or failover that may have lost or rolled
    /// back a write, would have failed some call of this node: its change-notice
    /// probe runs every 200 ms).
    pub fn no_failure_since(&self, since: Instant) -> bool {
        self.last_failure
            .lock()
            .map(|last| last.is_none_or(|failed| failed < since))
            .unwrap_or(false)
    }

    /// Runs one command within [`CALL_TIMEOUT`], unless a call failed less than a
    /// moment ago.
    pub async fn query<T: FromRedisValue>(&self, command: &redis::Cmd) -> Result<T, Unavailable> {
        self.guarded(async { command.query_async(&mut self.handle().await?).await })
            .await
    }

    /// Runs a pipeline (its commands' keys in one hash slot), as [`Self::query`].
    pub async fn query_pipeline<T: FromRedisValue>(
        &self,
        pipeline: &redis::Pipeline,
    ) -> Result<T, Unavailable> {
        self.guarded(async { pipeline.query_async(&mut self.handle().await?).await })
            .await
    }

    /// Runs one command within [`CALL_TIMEOUT`], even during a cool-down (a
    /// revocation's stamp is worth the wait).
    pub async fn query_now<T: FromRedisValue>(
        &self,
        command: &redis::Cmd,
    ) -> Result<T, Unavailable> {
        self.attempt(async { command.query_async(&mut self.handle().await?).await })
            .await
    }

    /// Publishes `message` on `channel` within [`CALL_TIMEOUT`], even during a
    /// cool-down (a change notice is worth the wait: nodes that miss it use their
    /// cached copy until it expires).
    pub async fn publish(&self, channel: &str, message: &str) -> Result<(), Unavailable> {
        let command = redis::cmd("PUBLISH").arg(channel).arg(message).to_owned();
        self.attempt(async { command.query_async::<i64>(&mut self.handle().await?).await })
            .await
            .map(|_| ())
    }

    /// Subscribes the connection to `channel` (again after a reconnection: harmless
    /// when already subscribed), even during a cool-down. In a cluster, messages
    /// published on any node reach every subscriber.
    pub async fn subscribe(&self, channel: &str) -> Result<(), Unavailable> {
        self.attempt(async {
            match self.handle().await? {
                Handle::Single(mut manager) => manager.subscribe(channel).await,
                Handle::Cluster(mut cluster) => cluster.subscribe(channel).await,
            }
        })
        .await
    }

    /// PING, even during a cool-down (for `/readyz`).
    pub async fn ping(&self) -> Result<(), Unavailable> {
        let command = redis::cmd("PING");
        self.attempt(async {
            command
                .query_async::<String>(&mut self.handle().await?)
                .await
        })
        .await
        .map(|_| ())
    }

    /// A handle on the connection (cheap: shared underneath); the cluster connection
    /// is made on first use (a cluster that is down when the node starts is
    /// connected to later).
    async fn handle(&self) -> redis::RedisResult<Handle> {
        match &self.connection {
            Connection::Single(manager) => Ok(Handle::Single(manager.clone())),
            Connection::Cluster(cluster) => cluster
                .connection
                .get_or_try_init(|| cluster.client.get_async_connection())
                .await
                .cloned()
                .map(Handle::Cluster),
        }
    }

    /// `call` within [`CALL_TIMEOUT`], unless a call failed less than
    /// [`COOL_DOWN`] ago.
    async fn guarded<T>(
        &self,
        call: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, Unavailable> {
        if let Ok(failed_at) = self.failed_at.lock()
            && let Some(at) = *failed_at
            && at.elapsed() < COOL_DOWN
        {
            return Err(Unavailable::CoolingDown);
        }
        self.attempt(call).await
    }

    /// `call` within [`CALL_TIMEOUT`], its outcome noted.
    async fn attempt<T>(
        &self,
        call: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, Unavailable> {
        let outcome = match tokio::time::timeout(CALL_TIMEOUT, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(Unavailable::Failed(error)),
            Err(_) => Err(Unavailable::Timeout),
        };
        self.note(&outcome);
        outcome
    }

    /// Records the outcome of a call: a failure starts a cool-down and is logged once
    /// per outage; the first success after one is logged too.
    fn note<T>(&self, outcome: &Result<T, Unavailable>) {
        let Ok(mut failed_at) = self.failed_at.lock() else {
            return;
        };
        match outcome {
            // A success ends an outage only once its cool-down is over: in a cluster
            // with a master gone, calls to the other masters succeed meanwhile, and
            // each would otherwise let the next call wait on the dead one again.
            Ok(_) if failed_at.is_some_and(|at| at.elapsed() < COOL_DOWN) => {}
            Ok(_) => {
                if failed_at.take().is_some() && self.reported.swap(false, Ordering::Relaxed) {
                    tracing::warn!("redis answers again: shared limits and change notices resume");
                }
            }
            Err(error) => {
                let now = Instant::now();
                *failed_at = Some(now);
                if let Ok(mut last_failure) = self.last_failure.lock() {
                    *last_failure = Some(now);
                }
                if !self.reported.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        %error,
                        "redis does not answer: limits fall back to this node's, caches read \
                         through to the database (see /readyz)"
                    );
                }
            }
        }
    }
}
