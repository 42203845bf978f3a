//! The shared connection layer: a command pool plus the process's one pub/sub link.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::RedisError;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use webchat_domain::InstanceId;
use webchat_ports::{PortError, PortResult};

use crate::config::{ConfigError, RedisConfig};
use crate::connection::{Connector, SharedConn, SharedHandle};
use crate::keys::Keys;

use crate::pubsub::PubSubLink;
use crate::supervisor::supervise;

/// One process's handle on Redis. Cheap to clone; every adapter holds one.
///
/// Holds the shared command connection and the pub/sub link, each kept connected by
/// a supervisor task (backoff `min(attempt * 50 ms, 2 s)`). Nothing here needs Redis
/// to be up: the app starts and serves while Redis is down, and port calls fail fast
/// with `PortError::Unavailable`.
#[derive(Clone)]
pub struct RedisBackend {
    inner: Arc<Inner>,
}

struct Inner {
    commands: SharedConn,
    keys: Keys,
    instance: InstanceId,
    link: Arc<PubSubLink>,
    shutdown: watch::Sender<bool>,
    supervisor: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    // The last handle going stops the pub/sub task even without `shutdown()`.
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
    }
}

impl std::fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackend")
            .field("instance", &self.inner.instance)
            .field("key_prefix", &self.inner.keys.prefix())
            .field("pubsub_alive", &self.pubsub_alive())
            .finish()
    }
}

impl RedisBackend {
    /// Builds the pool and starts the pub/sub task; needs a Tokio runtime. Does not
    /// contact Redis, so it succeeds while Redis is down. `instance` marks this
    /// process's publications (the event bus skips its own echoes); it must be
    /// unique per process, as `InstanceId::random()` is.
    pub fn start(config: RedisConfig, instance: InstanceId) -> Result<Self, ConfigError> {
        let invalid = |e: RedisError| ConfigError {
            variable: "REDIS_URL",
            reason: e.to_string(),
        };
        let client = redis::Client::open(config.connection.clone()).map_err(invalid)?;
        let commands_client = client.clone();
        let connector: Connector = Arc::new(move |settings| {
            let client = commands_client.clone();
            Box::pin(async move {
                client
                    .get_multiplexed_async_connection_with_config(&settings)
                    .await
            })
        });
        let commands = SharedConn::start(
            connector,
            config.connection_timeout,
            config.response_timeout,
        );
        let link = Arc::new(PubSubLink::new(instance.as_str().to_owned()));
        let (shutdown, stop) = watch::channel(false);
        let task = tokio::spawn(supervise(
            Arc::clone(&link),
            client,
            stop,
            config.connection_timeout,
            commands.clone(),
        ));
        tracing::info!(config = ?config, instance = %instance, "redis backend started");
        Ok(Self {
            inner: Arc::new(Inner {
                commands,
                keys: Keys::new(&config.key_prefix),
                instance,
                link,
                shutdown,
                supervisor: Mutex::new(Some(task)),
            }),
        })
    }

    pub fn instance(&self) -> &InstanceId {
        &self.inner.instance
    }

    pub fn key_prefix(&self) -> &str {
        self.inner.keys.prefix()
    }

    /// One PING over the command connection.
    #[tracing::instrument(skip(self))]
    pub async fn ping(&self) -> PortResult<()> {
        let mut conn = self.conn().await?;
        let pong: String = redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .map_err(|e| unavailable("PING", e))?;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(PortError::Unavailable(format!("PING answered {pong:?}")))
        }
    }

    /// True while the pub/sub connection is up and subscribed.
    pub fn pubsub_alive(&self) -> bool {
        self.inner.link.is_alive()
    }

    /// Stops the pub/sub task and waits for it (at most 5 s): no more events arrive
    /// from other processes. Commands keep working until the last handle is dropped
    /// (dropping every handle also stops the task).
    pub async fn shutdown(&self) {
        self.inner.shutdown.send_replace(true);
        let task = self
            .inner
            .supervisor
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(task) = task {
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                tracing::warn!("redis pub/sub task did not stop within 5 s");
            }
        }
    }

    pub(crate) fn keys(&self) -> &Keys {
        &self.inner.keys
    }

    pub(crate) fn pubsub(&self) -> &Arc<PubSubLink> {
        &self.inner.link
    }

    /// The shared command connection, or `Unavailable` (at once while Redis is
    /// down, within the connect timeout while a reconnect runs).
    pub(crate) async fn conn(&self) -> PortResult<SharedHandle> {
        self.inner
            .commands
            .get()
            .await
            .map_err(|e| PortError::Unavailable(format!("redis: {e}")))
    }
}

/// Maps a failed command to the port error callers degrade on.
pub(crate) fn unavailable(op: &str, e: RedisError) -> PortError {
    tracing::debug!(op, error = %e, "redis command failed");
    PortError::Unavailable(format!("redis {op}: {e}"))
}

/// Maps data this code cannot read.
pub(crate) fn corrupt(what: &str, e: impl std::fmt::Display) -> PortError {
    PortError::Corrupt(format!("{what}: {e}"))
}

/// Milliseconds for PX/PEXPIRE, never 0 (Redis refuses a zero expiry).
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}
