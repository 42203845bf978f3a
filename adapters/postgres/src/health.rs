//! The `database` entry of `/health`.

use std::time::Duration;

use async_trait::async_trait;
use diesel_async::pooled_connection::bb8::Pool;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use webchat_ports::{HealthCheck, PortError, PortResult};

use crate::error::{pool_error, query_error};

/// Answers `SELECT 1` through the pool.
#[derive(Clone)]
pub struct PgHealthCheck {
    pool: Pool<AsyncPgConnection>,
    timeout: Duration,
}

impl PgHealthCheck {
    pub(crate) fn new(pool: Pool<AsyncPgConnection>, timeout: Duration) -> Self {
        Self { pool, timeout }
    }
}

#[async_trait]
impl HealthCheck for PgHealthCheck {
    fn name(&self) -> &'static str {
        "database"
    }

    #[tracing::instrument(skip(self))]
    async fn check(&self) -> PortResult<()> {
        // The pool bounds the wait for a connection; this also bounds a database that
        // accepts the connection but never answers.
        let ping = async {
            let mut conn = self.pool.get().await.map_err(pool_error)?;
            diesel::sql_query("SELECT 1")
                .execute(&mut conn)
                .await
                .map_err(query_error)?;
            Ok(())
        };
        tokio::time::timeout(self.timeout, ping)
            .await
            .map_err(|_| PortError::unavailable("database did not answer SELECT 1 in time"))?
    }
}
