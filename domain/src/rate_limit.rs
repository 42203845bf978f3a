use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::DomainError;

/// A named fixed-window policy: at most `limit` hits per `window` (the seed's
/// ThrottlerModule entries `default` 100/60 s and `strict` 10/60 s).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimitPolicy {
    pub name: String,
    pub limit: u32,
    pub window: Duration,
}

impl RateLimitPolicy {
    pub fn new(name: &str, limit: u32, window: Duration) -> Result<Self, DomainError> {
        if name.is_empty() || name.contains(':') {
            return Err(DomainError::validation(
                "policy",
                "name must be non-empty, no ':'",
            ));
        }
        if limit == 0 || window.is_zero() {
            return Err(DomainError::validation(
                "policy",
                "limit and window must be positive",
            ));
        }
        Ok(Self {
            name: name.to_owned(),
            limit,
            window,
        })
    }

    /// Parses `limit/window-seconds`, as WEBCHAT_THROTTLE_DEFAULT and _STRICT are written.
    pub fn parse_spec(name: &str, spec: &str) -> Result<Self, DomainError> {
        let bad =
            || DomainError::validation("policy", format!("expected LIMIT/SECONDS, got {spec:?}"));
        let (limit, secs) = spec.trim().split_once('/').ok_or_else(bad)?;
        let limit: u32 = limit.trim().parse().map_err(|_| bad())?;
        let secs: u64 = secs.trim().parse().map_err(|_| bad())?;
        Self::new(name, limit, Duration::from_secs(secs))
    }

    pub fn default_policy() -> Self {
        Self::new("default", 100, Duration::from_secs(60)).expect("valid constant policy")
    }

    pub fn strict_policy() -> Self {
        Self::new("strict", 10, Duration::from_secs(60)).expect("valid constant policy")
    }
}

/// The outcome of one hit against a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitDecision {
    pub allowed: bool,
    pub limit: u32,
    /// Hits left in the current window (0 once the limit is reached).
    pub remaining: u32,
    /// Time until the current window ends and the count starts over.
    pub reset_after: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_specs() {
        let p = RateLimitPolicy::parse_spec("strict", "10/60").unwrap();
        assert_eq!((p.limit, p.window), (10, Duration::from_secs(60)));
        assert!(RateLimitPolicy::parse_spec("x", "10").is_err());
        assert!(RateLimitPolicy::parse_spec("x", "0/60").is_err());
        assert!(RateLimitPolicy::parse_spec("x", "5/0").is_err());
        assert!(RateLimitPolicy::parse_spec("x", "a/b").is_err());
    }
}
