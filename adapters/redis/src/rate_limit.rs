//! RateLimiter over Redis: `throttle:{policy}:{subject}:{route}` counters, one
//! fixed window each, counted and expired by one Lua script.

use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use redis::Script;
use webchat_domain::{RateLimitDecision, RateLimitPolicy};
use webchat_ports::{PortResult, RateLimiter};

use crate::backend::{millis, unavailable, RedisBackend};

static HIT: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/throttle_hit.lua")));

#[derive(Debug, Clone)]
pub struct RedisRateLimiter {
    backend: RedisBackend,
}

impl RedisRateLimiter {
    pub fn new(backend: RedisBackend) -> Self {
        Self { backend }
    }
}

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    #[tracing::instrument(skip(self, policy), fields(policy = %policy.name))]
    async fn hit(
        &self,
        policy: &RateLimitPolicy,
        subject: &str,
        route: &str,
    ) -> PortResult<RateLimitDecision> {
        let key = self.backend.keys().throttle(&policy.name, subject, route);
        let mut conn = self.backend.conn().await?;
        let (hits, ttl_ms): (u64, i64) = HIT
            .key(key)
            .arg(millis(policy.window))
            .invoke_async(&mut conn)
            .await
            .map_err(|e| unavailable("throttle", e))?;
        let limit = u64::from(policy.limit);
        Ok(RateLimitDecision {
            allowed: hits <= limit,
            limit: policy.limit,
            remaining: u32::try_from(limit.saturating_sub(hits)).unwrap_or(0),
            reset_after: Duration::from_millis(u64::try_from(ttl_ms).unwrap_or(0)),
        })
    }
}
