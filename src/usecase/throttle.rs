//! The named throttling policies, shared by REST routes and WebSocket sends.

use std::sync::Arc;

use webchat_domain::{RateLimitDecision, RateLimitPolicy};
use webchat_ports::RateLimiter;

use super::{AppError, AppResult};

/// Which named policy a route uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyName {
    Default,
    Strict,
}

/// The route template message sends are counted under, for REST and WebSocket alike.
pub const SEND_ROUTE: &str = "/api/chats/{id}/messages";

pub struct Throttle {
    limiter: Arc<dyn RateLimiter>,
    default: RateLimitPolicy,
    strict: RateLimitPolicy,
}

impl Throttle {
    pub fn new(
        limiter: Arc<dyn RateLimiter>,
        default: RateLimitPolicy,
        strict: RateLimitPolicy,
    ) -> Self {
        Self {
            limiter,
            default,
            strict,
        }
    }

    pub fn policy(&self, name: PolicyName) -> &RateLimitPolicy {
        match name {
            PolicyName::Default => &self.default,
            PolicyName::Strict => &self.strict,
        }
    }

    /// Counts a hit. `Ok(Some(decision))` when allowed, `Err(TooManyRequests)` when
    /// refused, `Ok(None)` when the limiter is down: the request passes (fail open).
    pub async fn hit(
        &self,
        name: PolicyName,
        subject: &str,
        route: &str,
    ) -> AppResult<Option<RateLimitDecision>> {
        match self.limiter.hit(self.policy(name), subject, route).await {
            Ok(d) if d.allowed => Ok(Some(d)),
            Ok(d) => Err(AppError::TooManyRequests(d)),
            Err(e) => {
                tracing::warn!(error = %e, route, "rate limiter unavailable: failing open");
                Ok(None)
            }
        }
    }
}
