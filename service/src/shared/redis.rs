//! The node's Redis connection, for what nodes share (docs/operations.md): every call
//! gives up after a short timeout, and after a failure calls are not even tried for a
//! moment (the next answer is the fallback at once, not another timeout), so a slow,
//! paused or absent Redis never stalls a request beyond [`CALL_TIMEOUT`]. The
//! connection reconnects by itself; [`SharedRedis::state`] says how it is doing for
//! `/readyz` and the logs.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;
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
    connection: ConnectionManager,
    prefix: String,
    /// Whether the last call failed, and since when calls skip Redis.
    failed_at: Mutex<Option<Instant>>,
    /// Whether the loss was logged (once per outage).
    reported: AtomicBool,
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
    pub fn connect(
        config: &RedisConfig,
        url: &str,
    ) -> Result<(Self, UnboundedReceiver<PushInfo>), Error> {
        let info = redis::IntoConnectionInfo::into_connection_info(url)?;
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let client = redis::Client::open(info.set_redis_settings(settings))?;
        let (pushes, received) = tokio::sync::mpsc::unbounded_channel();
        let manager_config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CALL_TIMEOUT))
            .set_response_timeout(Some(CALL_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1))
            .set_push_sender(pushes)
            .set_automatic_resubscription();
        let connection = ConnectionManager::new_lazy_with_config(client, manager_config)?;
        Ok((
            Self {
                connection,
                prefix: config.key_prefix.clone(),
                failed_at: Mutex::new(None),
                reported: AtomicBool::new(false),
            },
            received,
        ))
    }

    /// `prefix:name`: every key and channel Tessera uses.
    pub fn key(&self, name: &str) -> String {
        format!("{}:{name}", self.prefix)
    }

    /// Whether the last call answered.
    pub fn is_up(&self) -> bool {
        self.failed_at
            .lock()
            .map(|at| at.is_none())
            .unwrap_or(false)
    }

    /// Runs one command within [`CALL_TIMEOUT`], unless a call failed less than a
    /// moment ago.
    pub async fn query<T: FromRedisValue>(&self, command: &redis::Cmd) -> Result<T, Unavailable> {
        self.guarded(command.query_async(&mut self.connection.clone()))
            .await
    }

    /// Runs a pipeline, as [`Self::query`].
    pub async fn query_pipeline<T: FromRedisValue>(
        &self,
        pipeline: &redis::Pipeline,
    ) -> Result<T, Unavailable> {
        self.guarded(pipeline.query_async(&mut self.connection.clone()))
            .await
    }

    /// Publishes `message` on `channel` within [`CALL_TIMEOUT`], even during a
    /// cool-down (a change notice is worth the wait: nodes that miss it use their
    /// cached copy until it expires).
    pub async fn publish(&self, channel: &str, message: &str) -> Result<(), Unavailable> {
        let command = redis::cmd("PUBLISH").arg(channel).arg(message).to_owned();
        let outcome = match tokio::time::timeout(
            CALL_TIMEOUT,
            command.query_async::<i64>(&mut self.connection.clone()),
        )
        .await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(error)) => Err(Unavailable::Failed(error)),
            Err(_) => Err(Unavailable::Timeout),
        };
        self.note(&outcome);
        outcome
    }

    /// Subscribes the connection to `channel` (again after a reconnection: harmless
    /// when already subscribed).
    pub async fn subscribe(&self, channel: &str) -> Result<(), Unavailable> {
        let mut connection = self.connection.clone();
        self.guarded(async move { connection.subscribe(channel).await })
            .await
    }

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
            Ok(_) => {
                if failed_at.take().is_some() && self.reported.swap(false, Ordering::Relaxed) {
                    tracing::warn!("redis answers again: shared limits and change notices resume");
                }
            }
            Err(error) => {
                *failed_at = Some(Instant::now());
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
