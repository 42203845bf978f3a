//! The command connection: one supervised, multiplexed connection shared by every
//! caller of the process (no pool, no checkout).
//!
//! - **No PING per command.** Callers clone the current connection (a channel-sender
//!   clone) and pipeline their commands over it; the link itself is PINGed every
//!   `PING_EVERY`, which also finds a half-open TCP connection.
//! - **Heals itself.** A command that sees the connection drop (or `READONLY`: a
//!   master demoted by a failover) reports it, and the supervisor replaces the
//!   connection; so does a failed health PING.
//! - **Fails fast.** While Redis is down, calls fail at once; only the single
//!   reconnect attempt right after a loss is waited for (at most the connect
//!   timeout; a refused connect takes about a millisecond).
//! - **No connect storm.** Thousands of concurrent commands share the one socket:
//!   nothing waits for a pooled connection, so nothing times out doing so.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{
    AsyncConnectionConfig, Cmd, ErrorKind, Pipeline, RedisError, RedisFuture, RedisResult,
    ServerErrorKind, Value,
};
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinHandle;
use webchat_domain::reconnect_backoff;

/// How often the shared link is PINGed.
const PING_EVERY: Duration = Duration::from_secs(5);
/// While down, a caller cuts the backoff short, but attempts stay this far apart.
const MIN_RETRY_GAP: Duration = Duration::from_millis(50);
/// While down, how long a caller waits for the attempt it asked for: Redis coming
/// back costs no call, and a dead Redis still fails calls in well under a second.
const DOWN_WAIT: Duration = Duration::from_millis(100);

/// Reported as broken: whichever link is current.
const ANY_GENERATION: u64 = u64::MAX;

/// Health pings a Cluster link may fail in a row before it is rebuilt (the cluster
/// connection repairs lost nodes by itself; only a link that stays dead is replaced).
const CLUSTER_PING_FAILURES: u32 = 3;

/// The shared connection: one multiplexed connection to a single server (or to
/// the master Sentinel named), or a Redis Cluster connection that routes each
/// command to the master of its slot.
#[derive(Clone)]
pub(crate) enum Link {
    Single(MultiplexedConnection),
    Cluster(ClusterConnection),
}

/// Opens one connection with the given settings (timeouts): plainly, to a
/// cluster, or after asking Sentinel where the master is.
pub(crate) type Connector = Arc<
    dyn Fn(AsyncConnectionConfig) -> Pin<Box<dyn Future<Output = RedisResult<Link>> + Send>>
        + Send
        + Sync,
>;

#[derive(Clone)]
enum State {
    /// The first attempt (at start, or right after a loss) runs: wait for it.
    Connecting,
    Up {
        generation: u64,
        conn: Link,
    },
    /// The last attempt failed; the supervisor retries with backoff. Fail at once.
    Down,
}

/// The process's command connection. Cheap to clone.
#[derive(Clone)]
pub(crate) struct SharedConn {
    state: watch::Receiver<State>,
    broken: mpsc::UnboundedSender<u64>,
    nudge: Arc<Notify>,
    /// Asks the supervisor to PING the link now (another link to the same server
    /// just dropped: this one likely did too).
    check: Arc<Notify>,
    connect_timeout: Duration,
    _supervisor: Arc<AbortOnDrop>,
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn unavailable(why: &'static str) -> RedisError {
    RedisError::from((ErrorKind::Io, "redis unavailable", why.to_owned()))
}

impl SharedConn {
    /// Starts the supervisor; does not wait for Redis.
    /// `master_only`: the health check also asks `ROLE` and replaces a link whose
    /// server is not a master any more (Sentinel mode).
    pub(crate) fn start(
        connector: Connector,
        connect_timeout: Duration,
        response_timeout: Duration,
        master_only: bool,
    ) -> Self {
        let (state_tx, state) = watch::channel(State::Connecting);
        let (broken, broken_rx) = mpsc::unbounded_channel();
        let nudge = Arc::new(Notify::new());
        let check = Arc::new(Notify::new());
        let task = tokio::spawn(supervise(
            connector,
            connect_timeout,
            response_timeout,
            master_only,
            state_tx,
            broken_rx,
            Arc::clone(&nudge),
            Arc::clone(&check),
        ));
        Self {
            state,
            broken,
            nudge,
            check,
            connect_timeout,
            _supervisor: Arc::new(AbortOnDrop(task)),
        }
    }

    /// Has the link checked at once (a sibling connection to the same Redis just
    /// dropped), so a dead link is replaced before a caller finds out.
    pub(crate) fn check_now(&self) {
        self.check.notify_one();
    }

    /// Replaces the link at once (the master it talks to was demoted).
    pub(crate) fn reconnect_now(&self) {
        let _ = self.broken.send(ANY_GENERATION);
    }

    /// The shared connection, or an error: while Redis is down after the next
    /// attempt (at most `DOWN_WAIT`), while a first reconnect runs after at most the
    /// connect timeout.
    pub(crate) async fn get(&self) -> Result<SharedHandle, RedisError> {
        let mut rx = self.state.clone();
        loop {
            let state = rx.borrow_and_update().clone();
            match state {
                State::Up { generation, conn } => {
                    return Ok(SharedHandle {
                        conn,
                        generation,
                        broken: self.broken.clone(),
                        unordered: false,
                    })
                }
                State::Down => {
                    // Have the supervisor try again now, and take its answer.
                    self.nudge.notify_one();
                    let changed = tokio::time::timeout(DOWN_WAIT, rx.changed()).await;
                    if !matches!(changed, Ok(Ok(()))) {
                        return Err(unavailable("down"));
                    }
                    let state = rx.borrow_and_update().clone();
                    return match state {
                        State::Up { generation, conn } => Ok(SharedHandle {
                            conn,
                            generation,
                            broken: self.broken.clone(),
                            unordered: false,
                        }),
                        _ => Err(unavailable("down")),
                    };
                }
                State::Connecting => {
                    match tokio::time::timeout(self.connect_timeout, rx.changed()).await {
                        Ok(Ok(())) => continue,
                        Ok(Err(_)) => return Err(unavailable("supervisor gone")),
                        Err(_) => return Err(unavailable("connect in progress timed out")),
                    }
                }
            }
        }
    }
}

/// A clone of the shared connection that reports a dropped connection to the
/// supervisor. `query_async`, pipelines and scripts run on `&mut handle`.
///
/// In Cluster mode a pipeline whose commands hash to several slots is split: runs
/// of commands on one slot go as one pipeline each, in the pipeline's order (see
/// `cluster::ordered`); `unordered()` sends the runs concurrently instead, for
/// batches whose order does not matter.
#[derive(Clone)]
pub(crate) struct SharedHandle {
    conn: Link,
    generation: u64,
    broken: mpsc::UnboundedSender<u64>,
    unordered: bool,
}

impl SharedHandle {
    fn observe<T>(&self, result: &Result<T, RedisError>) {
        // A cluster connection repairs its node connections by itself.
        if matches!(self.conn, Link::Cluster(_)) {
            return;
        }
        if let Err(e) = result {
            if e.is_unrecoverable_error()
                || e.kind() == ErrorKind::Server(ServerErrorKind::ReadOnly)
            {
                let _ = self.broken.send(self.generation);
            }
        }
    }

    /// This handle, sending each pipeline's slots concurrently in Cluster mode
    /// (a batch of independent commands: reads, `SET NX` copies, per-slot scripts).
    pub(crate) fn unordered(&self) -> Self {
        Self {
            unordered: true,
            ..self.clone()
        }
    }

    /// The cluster connection, in Cluster mode.
    pub(crate) fn cluster(&self) -> Option<&ClusterConnection> {
        match &self.conn {
            Link::Cluster(c) => Some(c),
            Link::Single(_) => None,
        }
    }
}

impl ConnectionLike for SharedHandle {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let result = match &mut self.conn {
                Link::Single(c) => c.send_packed_command(cmd).await,
                Link::Cluster(c) => c.req_packed_command(cmd).await,
            };
            self.observe(&result);
            result
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let unordered = self.unordered;
            let result = match &mut self.conn {
                Link::Single(c) => c.send_packed_commands(pipeline, offset, count).await,
                Link::Cluster(c) => {
                    crate::cluster::send_pipeline(c, pipeline, offset, count, unordered).await
                }
            };
            self.observe(&result);
            result
        })
    }

    fn get_db(&self) -> i64 {
        match &self.conn {
            Link::Single(c) => c.get_db(),
            Link::Cluster(_) => 0,
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn supervise(
    connector: Connector,
    connect_timeout: Duration,
    response_timeout: Duration,
    master_only: bool,
    state: watch::Sender<State>,
    mut broken: mpsc::UnboundedReceiver<u64>,
    nudge: Arc<Notify>,
    check: Arc<Notify>,
) {
    let mut generation = 0u64;
    let mut attempt = 0u32;
    loop {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(connect_timeout))
            .set_response_timeout(Some(response_timeout));
        let connected = tokio::time::timeout(connect_timeout, connector(config))
            .await
            .unwrap_or_else(|_| Err(unavailable("connect timed out")));
        match connected {
            Ok(conn) => {
                generation += 1;
                if attempt > 0 || generation > 1 {
                    tracing::info!(generation, attempt, "redis command connection up");
                }
                attempt = 0;
                state.send_replace(State::Up {
                    generation,
                    conn: conn.clone(),
                });
                let why = watch_link(
                    conn,
                    generation,
                    response_timeout,
                    master_only,
                    &mut broken,
                    &check,
                )
                .await;
                tracing::warn!(
                    generation,
                    reason = why,
                    "redis command connection lost; reconnecting"
                );
                state.send_replace(State::Connecting);
            }
            Err(e) => {
                attempt += 1;
                if attempt == 1 {
                    tracing::warn!(error = %e, "redis command connection failed");
                }
                state.send_replace(State::Down);
                let failed_at = tokio::time::Instant::now();
                tokio::select! {
                    _ = tokio::time::sleep(reconnect_backoff(attempt)) => {}
                    _ = async {
                        nudge.notified().await;
                        tokio::time::sleep_until(failed_at + MIN_RETRY_GAP).await;
                    } => {}
                }
            }
        }
    }
}

/// One health PING over the link: to the server, or to any node of a cluster.
/// `master_only`: `ROLE` instead, and an error unless the server is a master.
async fn ping(conn: &Link, master_only: bool) -> RedisResult<Value> {
    match conn {
        Link::Single(c) if master_only => {
            let role: Vec<Value> = redis::cmd("ROLE").query_async(&mut c.clone()).await?;
            match role.first() {
                Some(Value::BulkString(r)) if r.as_slice() == b"master" => Ok(Value::Okay),
                Some(Value::SimpleString(r)) if r == "master" => Ok(Value::Okay),
                _ => Err(unavailable("the server is not a master any more")),
            }
        }
        Link::Single(c) => redis::cmd("PING").query_async(&mut c.clone()).await,
        Link::Cluster(c) => {
            c.clone()
                .route_command(
                    redis::cmd("PING"),
                    RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
                )
                .await
        }
    }
}

/// Returns once the link must be replaced.
async fn watch_link(
    conn: Link,
    generation: u64,
    response_timeout: Duration,
    master_only: bool,
    broken: &mut mpsc::UnboundedReceiver<u64>,
    check: &Notify,
) -> &'static str {
    let mut ping_tick = tokio::time::interval(PING_EVERY);
    ping_tick.reset();
    let allowed_failures = match conn {
        Link::Single(_) => 1,
        Link::Cluster(_) => CLUSTER_PING_FAILURES,
    };
    let mut failures = 0;
    loop {
        tokio::select! {
            _ = check.notified() => ping_tick.reset_immediately(),
            reported = broken.recv() => match reported {
                Some(g) if g == generation => return "a command saw the connection drop",
                Some(ANY_GENERATION) => return "the master switched",
                Some(_) => {}
                None => return "every handle is gone",
            },
            _ = ping_tick.tick() => {
                if matches!(tokio::time::timeout(response_timeout, ping(&conn, master_only)).await, Ok(Ok(_))) {
                    failures = 0;
                } else {
                    failures += 1;
                    if failures >= allowed_failures {
                        return "health ping failed";
                    }
                }
            }
        }
    }
}
