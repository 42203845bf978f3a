//! Throttling: the named policies over the memory limiter, refusals carrying their
//! reset time, and failing open when the limiter is down.

use std::sync::Arc;
use std::time::Duration;

use webchat_domain::{RateLimitDecision, RateLimitPolicy};
use webchat_ports::{MockRateLimiter, PortError};

use super::{advance, Fixture};
use crate::usecase::throttle::{PolicyName, Throttle, SEND_ROUTE};
use crate::usecase::AppError;

#[tokio::test]
async fn the_strict_policy_refuses_the_eleventh_hit_until_the_window_ends() {
    let fx = Fixture::new();
    let t = &fx.app.throttle;
    for i in 1..=10u32 {
        let d = t
            .hit(PolicyName::Strict, "1.2.3.4", "/api/auth/login")
            .await
            .unwrap()
            .expect("the memory limiter answers");
        assert_eq!((d.limit, d.remaining), (10, 10 - i));
    }
    let err = t
        .hit(PolicyName::Strict, "1.2.3.4", "/api/auth/login")
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::TooManyRequests(_)), "{err:?}");
    assert_eq!(err.code(), "too_many_requests");
    let retry = err.retry_after().expect("a refusal says when to retry");
    assert!(retry > Duration::ZERO && retry <= Duration::from_secs(60));

    // Other subjects, routes and policies count separately.
    t.hit(PolicyName::Strict, "5.6.7.8", "/api/auth/login")
        .await
        .unwrap();
    t.hit(PolicyName::Strict, "1.2.3.4", "/api/auth/register")
        .await
        .unwrap();
    t.hit(PolicyName::Default, "1.2.3.4", "/api/auth/login")
        .await
        .unwrap();

    advance(&fx.clock, 60);
    let d = t
        .hit(PolicyName::Strict, "1.2.3.4", "/api/auth/login")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.remaining, 9, "a new window");
}

#[tokio::test]
async fn the_default_policy_allows_a_hundred() {
    let fx = Fixture::new();
    for _ in 0..100 {
        fx.app
            .throttle
            .hit(PolicyName::Default, "user-1", SEND_ROUTE)
            .await
            .unwrap();
    }
    let err = fx
        .app
        .throttle
        .hit(PolicyName::Default, "user-1", SEND_ROUTE)
        .await;
    assert!(matches!(err, Err(AppError::TooManyRequests(_))), "{err:?}");
}

fn throttle(limiter: MockRateLimiter) -> Throttle {
    Throttle::new(
        Arc::new(limiter),
        RateLimitPolicy::default_policy(),
        RateLimitPolicy::strict_policy(),
    )
}

#[tokio::test]
async fn a_limiter_that_is_down_lets_requests_through() {
    let mut limiter = MockRateLimiter::new();
    limiter
        .expect_hit()
        .times(2)
        .returning(|_, _, _| Err(PortError::Unavailable("connection refused".into())));
    let t = throttle(limiter);
    assert_eq!(
        t.hit(PolicyName::Default, "u", SEND_ROUTE).await.unwrap(),
        None
    );
    assert_eq!(t.hit(PolicyName::Strict, "u", "/x").await.unwrap(), None);
    assert_eq!(t.failed_open(), 2, "fail-open is counted");
}

#[tokio::test]
async fn a_refusal_carries_the_limiters_reset_time() {
    let refused = RateLimitDecision {
        allowed: false,
        limit: 10,
        remaining: 0,
        reset_after: Duration::from_secs(17),
    };
    let mut limiter = MockRateLimiter::new();
    let answer = refused.clone();
    limiter
        .expect_hit()
        .withf(|policy, subject, route| {
            policy.name == "strict" && subject == "1.2.3.4" && route == "/api/auth/login"
        })
        .times(1)
        .returning(move |_, _, _| Ok(answer.clone()));
    let err = throttle(limiter)
        .hit(PolicyName::Strict, "1.2.3.4", "/api/auth/login")
        .await
        .unwrap_err();
    match &err {
        AppError::TooManyRequests(d) => assert_eq!(d, &refused),
        other => panic!("expected too_many_requests, got {other:?}"),
    }
    assert_eq!(err.retry_after(), Some(Duration::from_secs(17)));
}

#[tokio::test]
async fn an_allowed_hit_returns_the_decision_of_the_named_policy() {
    let allowed = RateLimitDecision {
        allowed: true,
        limit: 100,
        remaining: 41,
        reset_after: Duration::from_secs(30),
    };
    let mut limiter = MockRateLimiter::new();
    let answer = allowed.clone();
    limiter
        .expect_hit()
        .withf(|policy, _, route| policy.name == "default" && route == SEND_ROUTE)
        .times(1)
        .returning(move |_, _, _| Ok(answer.clone()));
    let decision = throttle(limiter)
        .hit(PolicyName::Default, "user-1", SEND_ROUTE)
        .await
        .unwrap();
    assert_eq!(decision, Some(allowed));
}
