//! The shared connection layer: a command pool plus the process's one pub/sub link.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::{RedisError, Script};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use webchat_domain::{InstanceId, Topic};
use webchat_ports::{PortError, PortResult};

use crate::cluster::Node;
use crate::config::{ConfigError, RedisConfig, RedisMode, Topology};
use crate::connection::{Connector, Link, SharedConn, SharedHandle};
use crate::keys::Keys;

use crate::pubsub::PubSubLink;
use crate::sentinel::{watch_switches, Sentinels};
use crate::supervisor::{supervise, PubSubConn, PubSubConnector};

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
    mode: RedisMode,
    keys: Keys,
    instance: InstanceId,
    link: Arc<PubSubLink>,
    shutdown: watch::Sender<bool>,
    /// The pub/sub supervisor (and, in Sentinel mode, the switch watcher).
    tasks: Mutex<Vec<JoinHandle<()>>>,
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
            .field("mode", &self.inner.mode)
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
        let variable = match config.mode() {
            RedisMode::Single => "REDIS_URL",
            RedisMode::Cluster => "REDIS_CLUSTER_NODES",
            RedisMode::Sentinel => "REDIS_SENTINELS",
        };
        let invalid = |e: RedisError| ConfigError {
            variable,
            reason: e.to_string(),
        };
        let client = redis::Client::open(config.connection.clone()).map_err(invalid)?;
        let sentinels = Sentinels::from_config(&config).map_err(invalid)?;
        let (connector, pubsub): (Connector, PubSubConnector) = match &config.topology {
            Topology::Cluster { nodes } => {
                let cluster = cluster_client(nodes, &config, None).map_err(invalid)?;
                // The pub/sub client is built at each connect; refuse its settings now.
                cluster_client(nodes, &config, Some(mpsc::unbounded_channel().0))
                    .map_err(invalid)?;
                let commands: Connector = Arc::new(move |_settings| {
                    let cluster = cluster.clone();
                    Box::pin(
                        async move { Ok(Link::Cluster(cluster.get_async_connection().await?)) },
                    )
                });
                let (nodes, config) = (nodes.clone(), config.clone());
                let pubsub: PubSubConnector = Arc::new(move || {
                    let (tx, rx) = mpsc::unbounded_channel();
                    let client = cluster_client(&nodes, &config, Some(tx));
                    Box::pin(async move {
                        let conn = client?.get_async_connection().await?;
                        Ok(PubSubConn::Cluster(conn, rx))
                    })
                });
                (commands, pubsub)
            }
            Topology::Sentinel { .. } => {
                let sentinels = sentinels
                    .clone()
                    .expect("a sentinel topology has sentinels");
                let master = sentinels.clone();
                let commands: Connector = Arc::new(move |settings| {
                    let sentinels = master.clone();
                    Box::pin(async move {
                        let client = sentinels.master().await?;
                        Ok(Link::Single(
                            client
                                .get_multiplexed_async_connection_with_config(&settings)
                                .await?,
                        ))
                    })
                });
                let master = sentinels.clone();
                let pubsub: PubSubConnector = Arc::new(move || {
                    let sentinels = master.clone();
                    Box::pin(async move {
                        Ok(PubSubConn::Single(
                            sentinels.master().await?.get_async_pubsub().await?,
                        ))
                    })
                });
                (commands, pubsub)
            }
            Topology::Single => {
                let commands_client = client.clone();
                let commands: Connector = Arc::new(move |settings| {
                    let client = commands_client.clone();
                    Box::pin(async move {
                        Ok(Link::Single(
                            client
                                .get_multiplexed_async_connection_with_config(&settings)
                                .await?,
                        ))
                    })
                });
                let pubsub: PubSubConnector = Arc::new(move || {
                    let client = client.clone();
                    Box::pin(
                        async move { Ok(PubSubConn::Single(client.get_async_pubsub().await?)) },
                    )
                });
                (commands, pubsub)
            }
        };
        let commands = SharedConn::start(
            connector,
            config.connection_timeout,
            config.response_timeout,
            config.mode() == RedisMode::Sentinel,
        );
        // In Cluster mode the slot tag table (a few hundred thousand CRC16s) is
        // built off the runtime now, not inside the first presence sweep.
        if config.mode() == RedisMode::Cluster {
            drop(tokio::task::spawn_blocking(crate::slots::every_slot_tag));
        }
        let link = Arc::new(PubSubLink::new(instance.as_str().to_owned()));
        let (shutdown, stop) = watch::channel(false);
        let mut tasks = Vec::new();
        if let Some(sentinels) = sentinels {
            tasks.push(tokio::spawn(watch_switches(
                sentinels,
                commands.clone(),
                Arc::clone(&link),
                stop.clone(),
                config.connection_timeout,
            )));
        }
        tasks.push(tokio::spawn(supervise(
            Arc::clone(&link),
            pubsub,
            stop,
            config.connection_timeout,
            commands.clone(),
        )));
        tracing::info!(config = ?config, instance = %instance, mode = %config.mode(), "redis backend started");
        Ok(Self {
            inner: Arc::new(Inner {
                commands,
                mode: config.mode(),
                keys: if config.mode() == RedisMode::Cluster {
                    Keys::new(&config.key_prefix)
                } else {
                    Keys::unslotted(&config.key_prefix)
                },
                instance,
                link,
                shutdown,
                tasks: Mutex::new(tasks),
            }),
        })
    }

    pub fn instance(&self) -> &InstanceId {
        &self.inner.instance
    }

    pub fn key_prefix(&self) -> &str {
        self.inner.keys.prefix()
    }

    /// Single server, Cluster or Sentinel.
    pub fn mode(&self) -> RedisMode {
        self.inner.mode
    }

    /// The command that publishes on `topic`'s channel: SPUBLISH for a shard
    /// channel in Cluster mode (it reaches only the nodes of its slot), else PUBLISH.
    pub(crate) fn publish_command(&self, topic: &Topic) -> &'static str {
        if self.inner.mode == RedisMode::Cluster && Keys::is_sharded(topic) {
            "SPUBLISH"
        } else {
            "PUBLISH"
        }
    }

    /// Where a SCAN must run to see every key: the one server (`None`), or each
    /// master of the cluster.
    pub(crate) async fn scan_nodes(&self) -> PortResult<Vec<Option<Node>>> {
        let conn = self.conn().await?;
        match conn.cluster() {
            None => Ok(vec![None]),
            Some(cluster) => {
                let masters = crate::cluster::masters(&mut cluster.clone())
                    .await
                    .map_err(|e| unavailable("CLUSTER SLOTS", e))?;
                Ok(masters.into_iter().map(|(node, _)| Some(node)).collect())
            }
        }
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
        let tasks: Vec<JoinHandle<()>> = self
            .inner
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
            .collect();
        if tokio::time::timeout(Duration::from_secs(5), futures::future::join_all(tasks))
            .await
            .is_err()
        {
            tracing::warn!("redis pub/sub task did not stop within 5 s");
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

/// The cluster client for `nodes`, with the configured timeouts (a request,
/// retries and redirections included, takes at most the response timeout); with
/// `pushes`, a RESP3 client whose pub/sub messages arrive there.
fn cluster_client(
    nodes: &[redis::ConnectionInfo],
    config: &RedisConfig,
    pushes: Option<mpsc::UnboundedSender<redis::PushInfo>>,
) -> Result<ClusterClient, RedisError> {
    let builder = ClusterClientBuilder::new(nodes.to_vec())
        .connection_timeout(config.connection_timeout)
        .response_timeout(config.response_timeout);
    match pushes {
        Some(pushes) => builder
            .use_protocol(redis::ProtocolVersion::RESP3)
            .push_sender(pushes)
            .build(),
        None => builder.build(),
    }
}

/// A script that must run on one Redis Cluster slot: the `#!lua` shebang makes
/// Redis refuse, in Cluster mode, any key it touches on another slot (declared or
/// not) instead of running it on whichever node got it.
pub(crate) fn slot_script(body: &str) -> Script {
    Script::new(&format!("#!lua\n{body}"))
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
