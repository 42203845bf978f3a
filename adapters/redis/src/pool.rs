//! The command pool: bb8-redis connections that fail fast while Redis is down.
//!
//! bb8 makes a caller wait for a pooled connection until `connection_timeout` even
//! when the connect attempt made for it was refused at once. The manager here tells
//! waiting callers about a refused connect, so with Redis down a call fails in
//! about a millisecond instead of stalling every request by the timeout.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bb8::{ErrorSink, ManageConnection, Pool, PooledConnection};
use bb8_redis::RedisConnectionManager;
use redis::aio::MultiplexedConnection;
use redis::RedisError;
use tokio::sync::Notify;
use webchat_ports::{PortError, PortResult};

use crate::config::RedisConfig;

pub(crate) type Conn<'a> = PooledConnection<'a, FailFastManager>;

pub(crate) struct FailFastManager {
    inner: RedisConnectionManager,
    refusals: Arc<Refusals>,
}

/// Connect failures not yet announced to waiting callers.
#[derive(Default)]
struct Refusals {
    unannounced: AtomicU64,
    announce: Notify,
}

impl ManageConnection for FailFastManager {
    type Connection = MultiplexedConnection;
    type Error = RedisError;

    async fn connect(&self) -> Result<Self::Connection, Self::Error> {
        let outcome = self.inner.connect().await;
        if outcome.is_err() {
            // Announced by the error sink, which bb8 calls only after it has
            // released this attempt's slot; announcing here would let a caller
            // retry before the slot is free and wait out the full timeout.
            self.refusals.unannounced.fetch_add(1, Ordering::SeqCst);
        }
        outcome
    }

    async fn is_valid(&self, conn: &mut Self::Connection) -> Result<(), Self::Error> {
        self.inner.is_valid(conn).await
    }

    fn has_broken(&self, conn: &mut Self::Connection) -> bool {
        self.inner.has_broken(conn)
    }
}

/// bb8 reports failed connects and failed checkout pings here. A failed connect
/// wakes the callers waiting for a connection; a failed ping does not (bb8 then
/// tries a fresh connection for the same caller). Logged at `debug`: the pub/sub
/// task already reports outages at `warn`, and a down Redis must not flood the log.
#[derive(Clone)]
struct AnnouncingSink {
    refusals: Arc<Refusals>,
}

impl std::fmt::Debug for AnnouncingSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AnnouncingSink")
    }
}

impl ErrorSink<RedisError> for AnnouncingSink {
    fn sink(&self, error: RedisError) {
        tracing::debug!(error = %error, "redis pool connection failed");
        if self.refusals.unannounced.swap(0, Ordering::SeqCst) > 0 {
            self.refusals.announce.notify_waiters();
        }
    }
    fn boxed_clone(&self) -> Box<dyn ErrorSink<RedisError>> {
        Box::new(self.clone())
    }
}

pub(crate) struct CommandPool {
    pool: Pool<FailFastManager>,
    refusals: Arc<Refusals>,
}

impl CommandPool {
    /// Builds the pool without connecting (connections are made on demand).
    pub(crate) fn new(config: &RedisConfig) -> Result<Self, RedisError> {
        let refusals = Arc::new(Refusals::default());
        let manager = FailFastManager {
            inner: RedisConnectionManager::new(config.connection.clone())?,
            refusals: Arc::clone(&refusals),
        };
        let pool = Pool::builder()
            .max_size(config.pool_size.max(1))
            .min_idle(None)
            .connection_timeout(config.connection_timeout)
            .retry_connection(false)
            .error_sink(Box::new(AnnouncingSink {
                refusals: Arc::clone(&refusals),
            }))
            .build_unchecked(manager);
        Ok(Self { pool, refusals })
    }

    /// A pooled connection; `Unavailable` as soon as a connect attempt is refused,
    /// or after the connection timeout.
    pub(crate) async fn get(&self) -> PortResult<Conn<'_>> {
        let refused = self.refusals.announce.notified();
        tokio::pin!(refused);
        // Registered before asking the pool, so a refusal during `get` is not missed.
        refused.as_mut().enable();
        tokio::select! {
            conn = self.pool.get() => conn.map_err(|e| PortError::Unavailable(format!("redis pool: {e}"))),
            () = refused => Err(PortError::Unavailable("redis refused the connection".to_owned())),
        }
    }
}
