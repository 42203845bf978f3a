//! The named throttling policies, shared by REST routes and WebSocket sends.

use std::sync::atomic::{AtomicU64, Ordering};
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
/// History reads (`GET`, default policy) share the template: a WebSocket `join` that
/// recovers what was missed counts against the same budget.
pub const HISTORY_ROUTE: &str = SEND_ROUTE;
/// The WebSocket's own template: upgrades, and `status` frames (which have no REST
/// equivalent), count here under the default policy.
pub const WS_ROUTE: &str = "/ws";

pub struct Throttle {
    limiter: Arc<dyn RateLimiter>,
    default: RateLimitPolicy,
    strict: RateLimitPolicy,
    /// Requests let through because the limiter could not answer.
    failed_open: AtomicU64,
}

impl PolicyName {
    /// The policy's name, as configured and as the metrics label it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::Strict => "strict",
        }
    }
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
            failed_open: AtomicU64::new(0),
        }
    }

    /// How many requests passed unchecked because the limiter was down.
    pub fn failed_open(&self) -> u64 {
        self.failed_open.load(Ordering::Relaxed)
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
            Ok(d) => {
                crate::metrics::throttled(name.as_str());
                Err(AppError::TooManyRequests(d))
            }
            Err(e) => {
                crate::metrics::rate_limiter_failed_open();
                let total = self.failed_open.fetch_add(1, Ordering::Relaxed) + 1;
                // One line per 100 during an outage, not one per request.
                if total % 100 == 1 {
                    tracing::warn!(error = %e, route, total, "rate limiter unavailable: failing open");
                }
                Ok(None)
            }
        }
    }
}
