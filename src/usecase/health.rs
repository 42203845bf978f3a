//! Backend health, as `/health` reports it.

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use webchat_ports::{HealthCheck, PortError, PortResult};

/// How long one backend may take to answer a health check.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

pub struct HealthService {
    checks: Vec<Arc<dyn HealthCheck>>,
}

impl HealthService {
    pub fn new(checks: Vec<Arc<dyn HealthCheck>>) -> Self {
        Self { checks }
    }

    /// Every backend's answer, checked concurrently; empty when all is in memory.
    /// Causes are logged here; callers only learn up or down.
    pub async fn check(&self) -> Vec<(&'static str, PortResult<()>)> {
        join_all(self.checks.iter().map(|check| async move {
            let result = tokio::time::timeout(CHECK_TIMEOUT, check.check())
                .await
                .unwrap_or_else(|_| Err(PortError::unavailable("timed out")));
            if let Err(e) = &result {
                tracing::warn!(backend = check.name(), error = %e, "health check failed");
            }
            (check.name(), result)
        }))
        .await
    }
}
