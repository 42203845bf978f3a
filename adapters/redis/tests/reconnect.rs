//! Fault tests against a redis-server of the test's own (never the shared one):
//! a dead Redis fails calls fast, local events keep flowing, and the pub/sub link
//! comes back and resubscribes by itself.

mod common;

use common::OwnRedis;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use webchat_domain::{ChatId, Event, InstanceId, RateLimitPolicy, SessionId, Topic, UserId};
use webchat_ports::{
    CacheConfig, EventBus, EventStream, HealthCheck, MessageCache, PortError, PortResult,
    PresenceConfig, PresenceStore, RateLimiter, SessionStore,
};
use webchat_redis::{
    RedisBackend, RedisConfig, RedisEventBus, RedisHealthCheck, RedisMessageCache,
    RedisPresenceStore, RedisRateLimiter, RedisSessionStore,
};

fn backend(url: &str) -> RedisBackend {
    let config = RedisConfig::from_url(url)
        .unwrap()
        .with_key_prefix("reconnect-test:");
    RedisBackend::start(config, InstanceId::random()).unwrap()
}

async fn until(what: &str, within: Duration, check: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "{what} within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn next(stream: &mut EventStream) -> Event {
    let event = tokio::time::timeout(Duration::from_secs(3), stream.next())
        .await
        .expect("an event within 3 s")
        .expect("stream open");
    std::sync::Arc::unwrap_or_clone(event)
}

fn typing(chat: ChatId) -> Event {
    Event::Typing {
        chat_id: chat,
        user_id: UserId::new(),
    }
}

/// Asserts the call failed with Unavailable, and fast.
async fn fails_fast<T: std::fmt::Debug>(
    what: &str,
    call: impl std::future::Future<Output = PortResult<T>>,
) {
    let started = Instant::now();
    let outcome = call.await;
    let took = started.elapsed();
    assert!(
        matches!(outcome, Err(PortError::Unavailable(_))),
        "{what} with Redis down: {outcome:?}"
    );
    assert!(
        took < Duration::from_millis(500),
        "{what} failed after {took:?}, not fast"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survives_a_redis_restart() {
    let Some(mut server) = OwnRedis::new() else {
        return;
    };
    let url = server.url();
    let (here, there) = (backend(&url), backend(&url));
    let (bus, remote) = (
        RedisEventBus::new(here.clone()),
        RedisEventBus::new(there.clone()),
    );
    let health = RedisHealthCheck::new(here.clone());
    until("pub/sub connects", Duration::from_secs(5), || {
        here.pubsub_alive()
    })
    .await;
    assert_eq!(health.name(), "redis");
    health.check().await.expect("healthy while Redis is up");

    let chat = ChatId::new();
    let mut before = bus.subscribe(&Topic::Chat(chat)).await.unwrap();
    let event = typing(chat);
    remote.publish(&event).await.unwrap();
    assert_eq!(
        next(&mut before).await,
        event,
        "delivery works before the outage"
    );

    server.kill();
    until(
        "the pub/sub link notices the outage",
        Duration::from_secs(5),
        || !here.pubsub_alive(),
    )
    .await;
    assert!(
        health.check().await.is_err(),
        "unhealthy while Redis is down"
    );

    let local = typing(chat);
    fails_fast("publish", bus.publish(&local)).await;
    assert_eq!(
        next(&mut before).await,
        local,
        "local subscribers get local events while Redis is down"
    );
    let second_chat = ChatId::new();
    let mut during = bus
        .subscribe(&Topic::Chat(second_chat))
        .await
        .expect("subscribing while down is local");

    let presence = RedisPresenceStore::new(here.clone(), PresenceConfig::default());
    let sessions = RedisSessionStore::new(here.clone());
    let limiter = RedisRateLimiter::new(here.clone());
    let cache = RedisMessageCache::new(here.clone(), CacheConfig::default());
    let user = UserId::new();
    fails_fast("presence", presence.get_presence(user)).await;
    fails_fast("sessions", sessions.get(SessionId::new())).await;
    fails_fast(
        "authorize",
        sessions.authorize(SessionId::new(), &webchat_domain::TokenFingerprint::of("t")),
    )
    .await;
    fails_fast(
        "rate limiter",
        limiter.hit(&RateLimitPolicy::default_policy(), "ip", "/r"),
    )
    .await;
    fails_fast("cache", cache.recent(chat, 10)).await;
    fails_fast("ping", here.ping()).await;

    server.start().expect("redis-server restarts");
    until("pub/sub reconnects", Duration::from_secs(5), || {
        here.pubsub_alive()
    })
    .await;
    until(
        "the other process reconnects",
        Duration::from_secs(5),
        || there.pubsub_alive(),
    )
    .await;
    health.check().await.expect("healthy again");

    let after = typing(chat);
    remote.publish(&after).await.expect("publish after restart");
    assert_eq!(
        next(&mut before).await,
        after,
        "the old subscription was resubscribed"
    );
    let late = typing(second_chat);
    remote.publish(&late).await.expect("publish after restart");
    assert_eq!(
        next(&mut during).await,
        late,
        "a subscription taken while down is subscribed on reconnect"
    );
    assert!(
        presence.get_presence(user).await.is_ok(),
        "commands work again"
    );

    here.shutdown().await;
    assert!(!here.pubsub_alive(), "shutdown stops the pub/sub link");
    there.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_while_redis_is_down_and_connects_later() {
    let Some(mut server) = OwnRedis::new() else {
        return;
    };
    server.kill();
    let url = server.url();
    let backend = backend(&url);
    let bus: Arc<dyn EventBus> = Arc::new(RedisEventBus::new(backend.clone()));
    let chat = ChatId::new();
    let mut stream = bus
        .subscribe(&Topic::Chat(chat))
        .await
        .expect("subscribe while down");
    fails_fast("ping", backend.ping()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!backend.pubsub_alive());

    server.start().expect("redis-server starts");
    until(
        "pub/sub connects once Redis is up",
        Duration::from_secs(5),
        || backend.pubsub_alive(),
    )
    .await;
    backend
        .ping()
        .await
        .expect("commands work once Redis is up");
    let other = RedisEventBus::new(self::backend(&url));
    let event = typing(chat);
    other.publish(&event).await.unwrap();
    assert_eq!(
        next(&mut stream).await,
        event,
        "the early subscription is live"
    );
    backend.shutdown().await;
}
