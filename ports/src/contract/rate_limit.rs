use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use webchat_domain::{RateLimitDecision, RateLimitPolicy};

use super::fixtures::tag;
use super::TimeControl;
use crate::RateLimiter;

type Made = (Arc<dyn RateLimiter>, Arc<dyn TimeControl>);

const ROUTE: &str = "/api/chats/{id}/messages";
const WINDOW: Duration = Duration::from_secs(2);

/// How many hits race on one fresh window in the concurrency case.
const CONCURRENT_HITS: usize = 25;

/// RateLimiter: exact fixed-window counts (also under concurrent hits), one window
/// per (policy, subject, route), and a fresh count once the window ends. Advances
/// time by about 2.6 s in all.
pub async fn rate_limiter_contract<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Made>,
{
    allows_the_limit_then_refuses(make().await).await;
    counts_each_policy_subject_and_route_apart(make().await).await;
    counts_concurrent_hits_exactly(make().await).await;
    starts_over_when_the_window_ends(make().await).await;
}

fn policy(limit: u32, window: Duration) -> RateLimitPolicy {
    RateLimitPolicy::new(&format!("contract{}", tag()), limit, window)
        .expect("fixture policy is valid")
}

async fn hit(
    limiter: &Arc<dyn RateLimiter>,
    p: &RateLimitPolicy,
    subject: &str,
    route: &str,
) -> RateLimitDecision {
    limiter.hit(p, subject, route).await.expect("hit")
}

async fn allows_the_limit_then_refuses((limiter, _time): Made) {
    let p = policy(3, WINDOW);
    let subject = format!("user-{}", tag());
    for expected_remaining in [2, 1, 0] {
        let d = hit(&limiter, &p, &subject, ROUTE).await;
        assert!(d.allowed, "hits up to the limit are allowed");
        assert_eq!(d.limit, 3, "a decision reports the policy's limit");
        assert_eq!(
            d.remaining, expected_remaining,
            "remaining counts down with each hit"
        );
        assert!(
            !d.reset_after.is_zero() && d.reset_after <= WINDOW,
            "reset_after lies within the window, got {:?}",
            d.reset_after
        );
    }
    for _ in 0..2 {
        let d = hit(&limiter, &p, &subject, ROUTE).await;
        assert!(!d.allowed, "hits past the limit are refused");
        assert_eq!(
            d.remaining, 0,
            "remaining stays 0 once the limit is reached"
        );
        assert!(
            d.reset_after <= WINDOW,
            "reset_after of a refused hit lies within the window, got {:?}",
            d.reset_after
        );
    }
}

async fn counts_each_policy_subject_and_route_apart((limiter, _time): Made) {
    let p = policy(1, WINDOW);
    let subject = format!("user-{}", tag());
    assert!(
        hit(&limiter, &p, &subject, ROUTE).await.allowed,
        "the first hit is allowed"
    );
    assert!(
        !hit(&limiter, &p, &subject, ROUTE).await.allowed,
        "the second hit on a limit of 1 is refused"
    );

    let other_subject = "203.0.113.7";
    let d = hit(&limiter, &p, other_subject, ROUTE).await;
    assert!(
        d.allowed && d.remaining == 0,
        "another subject has its own window"
    );
    let d = hit(&limiter, &p, &subject, "/api/auth/login").await;
    assert!(
        d.allowed && d.remaining == 0,
        "another route has its own window"
    );
    let other_policy = policy(1, WINDOW);
    let d = hit(&limiter, &other_policy, &subject, ROUTE).await;
    assert!(
        d.allowed && d.remaining == 0,
        "another policy has its own window"
    );
    assert!(
        !hit(&limiter, &p, &subject, ROUTE).await.allowed,
        "other windows leave the exhausted one refused"
    );
}

async fn counts_concurrent_hits_exactly((limiter, _time): Made) {
    let p = policy(10, Duration::from_secs(60));
    let subject = format!("user-{}", tag());
    let hits = (0..CONCURRENT_HITS).map(|_| limiter.hit(&p, &subject, ROUTE));
    let decisions: Vec<RateLimitDecision> = join_all(hits)
        .await
        .into_iter()
        .map(|d| d.expect("concurrent hit"))
        .collect();

    let allowed: Vec<&RateLimitDecision> = decisions.iter().filter(|d| d.allowed).collect();
    assert_eq!(
        allowed.len(),
        10,
        "of {CONCURRENT_HITS} concurrent hits on a fresh window exactly the limit are allowed"
    );
    let remaining: BTreeSet<u32> = allowed.iter().map(|d| d.remaining).collect();
    assert_eq!(
        remaining,
        (0..10).collect(),
        "each allowed concurrent hit sees its own count"
    );
    assert!(
        decisions
            .iter()
            .filter(|d| !d.allowed)
            .all(|d| d.remaining == 0),
        "refused concurrent hits report nothing remaining"
    );
    assert!(
        !hit(&limiter, &p, &subject, ROUTE).await.allowed,
        "the window stays exhausted after the race"
    );
}

async fn starts_over_when_the_window_ends((limiter, time): Made) {
    let p = policy(2, WINDOW);
    let subject = format!("user-{}", tag());
    assert!(
        hit(&limiter, &p, &subject, ROUTE).await.allowed,
        "the first hit is allowed"
    );
    assert!(
        hit(&limiter, &p, &subject, ROUTE).await.allowed,
        "the second hit is allowed"
    );
    assert!(
        !hit(&limiter, &p, &subject, ROUTE).await.allowed,
        "the third hit on a limit of 2 is refused"
    );

    time.advance(Duration::from_millis(1200)).await;
    let d = hit(&limiter, &p, &subject, ROUTE).await;
    assert!(!d.allowed, "the window still counts before it ends");
    assert!(
        d.reset_after <= Duration::from_secs(1),
        "reset_after counts down to the end of the window opened by the first hit, got {:?}",
        d.reset_after
    );

    time.advance(Duration::from_millis(1400)).await;
    let d = hit(&limiter, &p, &subject, ROUTE).await;
    assert!(
        d.allowed,
        "a new window opens once the old one ended (refused hits do not extend it)"
    );
    assert_eq!(d.remaining, 1, "the new window counts from zero");
    assert!(
        hit(&limiter, &p, &subject, ROUTE).await.allowed,
        "the new window allows the limit again"
    );
}
