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

/// Opens one connection with the given settings (timeouts): plainly, or after
/// asking Sentinel where the master is.
pub(crate) type Connector = Arc<
    dyn Fn(
            AsyncConnectionConfig,
        ) -> Pin<Box<dyn Future<Output = RedisResult<MultiplexedConnection>> + Send>>
        + Send
        + Sync,
>;

#[derive(Clone)]
enum State {
    /// The first attempt (at start, or right after a loss) runs: wait for it.
    Connecting,
    Up {
        generation: u64,
        conn: MultiplexedConnection,
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
    pub(crate) fn start(
        connector: Connector,
        connect_timeout: Duration,
        response_timeout: Duration,
    ) -> Self {
        let (state_tx, state) = watch::channel(State::Connecting);
        let (broken, broken_rx) = mpsc::unbounded_channel();
        let nudge = Arc::new(Notify::new());
        let check = Arc::new(Notify::new());
        let task = tokio::spawn(supervise(
            connector,
            connect_timeout,
            response_timeout,
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
#[derive(Clone)]
pub(crate) struct SharedHandle {
    conn: MultiplexedConnection,
    generation: u64,
    broken: mpsc::UnboundedSender<u64>,
}

impl SharedHandle {
    fn observe<T>(&self, result: &Result<T, RedisError>) {
        if let Err(e) = result {
            if e.is_unrecoverable_error()
                || e.kind() == ErrorKind::Server(ServerErrorKind::ReadOnly)
            {
                let _ = self.broken.send(self.generation);
            }
        }
    }
}

impl ConnectionLike for SharedHandle {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let result = self.conn.send_packed_command(cmd).await;
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
            let result = self
                .conn
                .send_packed_commands(pipeline, offset, count)
                .await;
            self.observe(&result);
            result
        })
    }

    fn get_db(&self) -> i64 {
        self.conn.get_db()
    }
}

async fn supervise(
    connector: Connector,
    connect_timeout: Duration,
    response_timeout: Duration,
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
                let why = watch_link(conn, generation, response_timeout, &mut broken, &check).await;
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

/// Returns once the link must be replaced.
async fn watch_link(
    conn: MultiplexedConnection,
    generation: u64,
    response_timeout: Duration,
    broken: &mut mpsc::UnboundedReceiver<u64>,
    check: &Notify,
) -> &'static str {
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.reset();
    loop {
        tokio::select! {
            _ = check.notified() => ping.reset_immediately(),
            reported = broken.recv() => match reported {
                Some(g) if g == generation => return "a command saw the connection drop",
                Some(_) => {}
                None => return "every handle is gone",
            },
            _ = ping.tick() => {
                let mut c = conn.clone();
                let ping = redis::cmd("PING");
                let pong = ping.query_async::<String>(&mut c);
                if !matches!(tokio::time::timeout(response_timeout, pong).await, Ok(Ok(_))) {
                    return "health ping failed";
                }
            }
        }
    }
}
