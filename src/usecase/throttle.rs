//! The named throttling policies, shared by REST routes and WebSocket sends.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use webchat_domain::{RateLimitDecision, RateLimitPolicy, TokenFingerprint, Username};
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
/// Login attempts count per client address (in the request gate) and per account
/// (in the use case), both under this template.
pub const LOGIN_ROUTE: &str = "/api/auth/login";

/// The throttle subject of a login's account: `account:{name}` with the name
/// lowercased (names are unique without regard to ASCII case, so no spelling gets a
/// budget of its own). A name that cannot exist is keyed by its SHA-256, so its key
/// stays short; it is counted like any other, so a 429 tells nothing about whether
/// an account exists.
pub fn account_subject(username: &str) -> String {
    match Username::parse(username) {
        Ok(name) => format!("account:{}", name.as_str().to_ascii_lowercase()),
        Err(_) => format!(
            "account:~{}",
            &TokenFingerprint::of(username).as_str()[..32]
        ),
    }
}

/// The throttle subject of a client address: `ip:{address}`. An IPv4 address (also
/// one written IPv4-mapped, `::ffff:a.b.c.d`) counts as itself; an IPv6 address as
/// its /64 network (`ip:2001:db8:1:2::/64`), since one client commonly holds a
/// whole /64. Anything else (`unknown`) is kept as given.
pub fn address_subject(ip: &str) -> String {
    match ip.parse::<IpAddr>().map(|ip| ip.to_canonical()) {
        Ok(IpAddr::V4(v4)) => format!("ip:{v4}"),
        Ok(IpAddr::V6(v6)) => {
            let network = u128::from(v6) & !((1u128 << 64) - 1);
            format!("ip:{}/64", std::net::Ipv6Addr::from(network))
        }
        Err(_) => format!("ip:{ip}"),
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_group_ipv6_by_64_and_unmap_ipv4() {
        assert_eq!(address_subject("203.0.113.7"), "ip:203.0.113.7");
        assert_eq!(address_subject("::ffff:203.0.113.7"), "ip:203.0.113.7");
        assert_eq!(
            address_subject("2001:db8:1:2:aaaa:bbbb:cccc:dddd"),
            "ip:2001:db8:1:2::/64"
        );
        assert_eq!(address_subject("2001:db8:1:2::1"), "ip:2001:db8:1:2::/64");
        assert_ne!(
            address_subject("2001:db8:1:3::1"),
            address_subject("2001:db8:1:2::1")
        );
        assert_eq!(address_subject("::1"), "ip:::/64");
        assert_eq!(address_subject("unknown"), "ip:unknown");
    }

    #[test]
    fn accounts_are_keyed_by_lowercased_name() {
        assert_eq!(account_subject("Alice"), "account:alice");
        assert_eq!(account_subject("ALICE"), account_subject("alice"));
        let odd = account_subject(&"x y".repeat(1000));
        assert!(odd.starts_with("account:~") && odd.len() < 50, "{odd}");
        assert_ne!(odd, account_subject("x y"));
    }
}
