//! `/health`'s `redis` entry.

use async_trait::async_trait;
use webchat_ports::{HealthCheck, PortError, PortResult};

use crate::backend::RedisBackend;

/// Up while a PING answers and the pub/sub connection is live (a process whose
/// pub/sub link is down cannot hear other instances, so it is not healthy).
#[derive(Debug, Clone)]
pub struct RedisHealthCheck {
    backend: RedisBackend,
}

impl RedisHealthCheck {
    pub fn new(backend: RedisBackend) -> Self {
        Self { backend }
    }
}

#[async_trait]
impl HealthCheck for RedisHealthCheck {
    fn name(&self) -> &'static str {
        "redis"
    }

    async fn check(&self) -> PortResult<()> {
        self.backend.ping().await?;
        if self.backend.pubsub_alive() {
            Ok(())
        } else {
            Err(PortError::Unavailable(
                "redis pub/sub connection is down".to_owned(),
            ))
        }
    }
}
