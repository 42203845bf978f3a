//! The connection pool, migrations and the factory for repositories and health check.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::bb8::Pool;
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, PoolError};
use diesel_async::AsyncPgConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use thiserror::Error;
use webchat_ports::Repositories;

use crate::{PgChatRepository, PgHealthCheck, PgMessageRepository, PgUserRepository};

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations");

/// Any fixed key works as long as every webchat process uses the same one: instances
/// that start together take turns migrating instead of racing on the same DDL.
const MIGRATION_LOCK_KEY: i64 = 0x7765_6263_6861_7401;

/// Why the PostgreSQL backend could not be set up.
#[derive(Debug, Error)]
pub enum PgError {
    /// `DATABASE_URL` does not parse; a startup error, never retried.
    #[error("invalid DATABASE_URL: {0}")]
    InvalidUrl(String),
    /// The database could not be reached in time; retry with backoff.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A migration failed to apply.
    #[error("migration failed: {0}")]
    Migration(String),
}

impl PgError {
    /// True when retrying later may succeed.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// Pool settings. `Debug` hides the URL, which may carry a password.
#[derive(Clone)]
pub struct PgConfig {
    pub database_url: String,
    /// Upper bound of pooled connections per process.
    pub max_connections: u32,
    /// How long a caller waits for a connection before the call fails as
    /// `Unavailable`: short, so a dead database turns into a quick 503.
    pub connect_timeout: Duration,
}

impl PgConfig {
    pub fn new(database_url: impl Into<String>) -> Self {
        Self {
            database_url: database_url.into(),
            max_connections: 10,
            connect_timeout: Duration::from_secs(3),
        }
    }
}

impl fmt::Debug for PgConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgConfig")
            .field("database_url", &"<redacted>")
            .field("max_connections", &self.max_connections)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

/// bb8 drops connection errors silently by default; these are the seed's
/// "log connect errors".
#[derive(Debug, Clone, Copy)]
struct LogErrors;

impl bb8::ErrorSink<PoolError> for LogErrors {
    fn sink(&self, error: PoolError) {
        tracing::warn!(error = %error, "postgres connection failed");
    }
    fn boxed_clone(&self) -> Box<dyn bb8::ErrorSink<PoolError>> {
        Box::new(*self)
    }
}

/// How many of the pool's connections are lent out and how many wait idle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PgPoolState {
    pub in_use: u32,
    pub idle: u32,
}

/// A pool of connections to one database. Cheap to clone; every repository built from
/// it shares the pool.
#[derive(Clone)]
pub struct PgBackend {
    pool: Pool<AsyncPgConnection>,
    config: PgConfig,
}

impl fmt::Debug for PgBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgBackend")
            .field("config", &self.config)
            .field("pool", &self.pool.state())
            .finish()
    }
}

impl PgBackend {
    /// [`PgBackend::with_config`] with default pool settings.
    pub fn connect(database_url: &str) -> Result<Self, PgError> {
        Self::with_config(PgConfig::new(database_url))
    }

    /// Builds the pool without touching the network: a database that is down at
    /// startup is not an error here (calls fail as `Unavailable` until it is back),
    /// only a malformed URL is. Call it inside a Tokio runtime: the pool spawns its
    /// reaper task.
    pub fn with_config(config: PgConfig) -> Result<Self, PgError> {
        tokio_postgres::Config::from_str(&config.database_url)
            .map_err(|e| PgError::InvalidUrl(e.to_string()))?;
        let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new(&config.database_url);
        let pool = Pool::builder()
            .max_size(config.max_connections.max(1))
            .connection_timeout(config.connect_timeout)
            // No `SELECT 1` before every query: a connection that failed is
            // detected as closed (`has_broken`) and dropped on return.
            .test_on_check_out(false)
            .error_sink(Box::new(LogErrors))
            .build_unchecked(manager);
        Ok(Self { pool, config })
    }

    /// The pool's connections right now (for the pool gauges).
    pub fn pool_state(&self) -> PgPoolState {
        let state = self.pool.state();
        PgPoolState {
            in_use: state.connections.saturating_sub(state.idle_connections),
            idle: state.idle_connections,
        }
    }

    /// Applies the embedded migrations that are not applied yet; returns how many ran.
    /// Safe to call again and from several processes at once.
    #[tracing::instrument(skip(self))]
    pub async fn run_migrations(&self) -> Result<usize, PgError> {
        let conn = tokio::time::timeout(
            self.config.connect_timeout,
            self.pool.dedicated_connection(),
        )
        .await
        .map_err(|_| PgError::Unavailable("timed out connecting".into()))?
        .map_err(|e| PgError::Unavailable(e.to_string()))?;
        // diesel's migration harness is synchronous; it runs on a blocking thread that
        // drives the async connection through the current runtime.
        let applied = tokio::task::spawn_blocking(move || {
            let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::from(conn);
            conn.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))
                .map_err(|e| PgError::Unavailable(e.to_string()))?;
            let applied = conn
                .run_pending_migrations(MIGRATIONS)
                .map(|versions| versions.len())
                .map_err(|e| PgError::Migration(e.to_string()));
            // Closing the connection would release the lock too; unlocking just frees it
            // sooner.
            let _ = conn.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"));
            applied
        })
        .await
        .map_err(|e| PgError::Migration(format!("migration task failed: {e}")))??;
        tracing::info!(applied, "postgres migrations up to date");
        Ok(applied)
    }

    /// Users, chats and messages over this pool.
    pub fn repositories(&self) -> Repositories {
        Repositories {
            users: Arc::new(self.users()),
            chats: Arc::new(self.chats()),
            messages: Arc::new(self.messages()),
        }
    }

    pub fn users(&self) -> PgUserRepository {
        PgUserRepository::new(self.pool.clone())
    }

    pub fn chats(&self) -> PgChatRepository {
        PgChatRepository::new(self.pool.clone())
    }

    pub fn messages(&self) -> PgMessageRepository {
        PgMessageRepository::new(self.pool.clone())
    }

    /// The `database` entry of `/health`.
    pub fn health_check(&self) -> PgHealthCheck {
        PgHealthCheck::new(self.pool.clone(), self.config.connect_timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_url_is_an_error() {
        let err = PgBackend::connect("postgres://user@host:notaport/db").unwrap_err();
        assert!(matches!(err, PgError::InvalidUrl(_)), "{err:?}");
        assert!(!err.is_unavailable());
    }

    #[tokio::test]
    async fn well_formed_url_builds_without_a_database() {
        // Port 1 refuses at once: building must not need the database.
        let backend = PgBackend::connect("postgres://u@127.0.0.1:1/db").unwrap();
        let shown = format!("{backend:?}");
        assert!(
            shown.contains("<redacted>") && !shown.contains("127.0.0.1"),
            "{shown}"
        );
    }

    #[tokio::test]
    async fn a_fresh_pool_has_no_connections() {
        let backend = PgBackend::connect("postgres://u@127.0.0.1:1/db").unwrap();
        assert_eq!(backend.pool_state(), PgPoolState { in_use: 0, idle: 0 });
    }

    #[test]
    fn config_debug_hides_the_password() {
        let shown = format!("{:?}", PgConfig::new("postgres://u:secret@h/db"));
        assert!(!shown.contains("secret"), "{shown}");
    }
}
