use async_trait::async_trait;
use webchat_domain::{RateLimitDecision, RateLimitPolicy};

use crate::PortResult;

/// Fixed-window hit counting shared by every instance (the seed's throttler guard).
///
/// A window opens at the first hit of a `(policy, subject, route)` triple and lasts
/// `policy.window`; the first `policy.limit` hits in it are allowed, the rest refused,
/// and the count starts over when it ends. Concurrent hits are counted exactly: of
/// N concurrent hits on a fresh window, exactly `limit` are allowed.
///
/// # Errors
/// `PortError::Unavailable` when the backend cannot answer; callers fail open.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Counts one hit by `subject` (a user id or an IP) on `route` (a route template
    /// such as `/api/chats/{id}/messages`, so changing ids cannot dodge a limit).
    async fn hit(
        &self,
        policy: &RateLimitPolicy,
        subject: &str,
        route: &str,
    ) -> PortResult<RateLimitDecision>;
}
