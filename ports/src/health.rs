use async_trait::async_trait;

use crate::PortResult;

/// A backend that `/health` reports on (Terminus' health indicators).
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait HealthCheck: Send + Sync {
    /// The entry name in `/health`: `database` or `redis`.
    fn name(&self) -> &'static str;

    /// Ok while the backend answers (a ping, a `SELECT 1`, a live subscription).
    async fn check(&self) -> PortResult<()>;
}
