//! The TTLs the key table of docs/protocol.md gives, as Redis holds them.

mod common;

use std::time::Duration;

use chrono::Utc;
use uuid::Uuid;
use webchat_domain::{InstanceId, SessionId, SocketId, TokenFingerprint, UserId, UserSession};
use webchat_ports::{PresenceConfig, PresenceStore, SessionStore};
use webchat_redis::{RedisPresenceStore, RedisSessionStore};

async fn pttl(url: &str, key: &str) -> i64 {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("PTTL")
        .arg(key)
        .query_async(&mut conn)
        .await
        .unwrap()
}

fn around(actual: i64, expected: Duration) -> bool {
    let expected = expected.as_millis() as i64;
    actual <= expected && actual > expected - 5_000
}

#[tokio::test]
async fn presence_keys_live_online_ttl_then_offline_ttl() {
    let Some(url) = common::redis_or_skip().await else {
        return;
    };
    let backend = common::backend(&url);
    let prefix = backend.key_prefix().to_owned();
    let config = PresenceConfig {
        online_ttl: Duration::from_secs(300),
        offline_ttl: Duration::from_secs(86_400),
        instance_ttl: Duration::from_secs(90),
    };
    let store = RedisPresenceStore::new(backend, config.clone());
    let instance = InstanceId::random();
    let (user, socket) = (UserId::new(), SocketId::new(&instance, Uuid::new_v4()));
    store.heartbeat_instance(&instance).await.unwrap();
    store.set_online(user, &socket).await.unwrap();
    let presence_key = format!("{prefix}user:presence:{user}");
    assert!(around(pttl(&url, &presence_key).await, config.online_ttl));
    assert!(around(
        pttl(&url, &format!("{prefix}user:sockets:{user}")).await,
        config.online_ttl
    ));
    assert!(around(
        pttl(&url, &format!("{prefix}instance:{instance}")).await,
        config.instance_ttl
    ));
    store.set_offline(user, &socket).await.unwrap();
    assert!(
        around(pttl(&url, &presence_key).await, config.offline_ttl),
        "offline records live offline_ttl"
    );
    common::wipe(&url, &prefix).await;
}

#[tokio::test]
async fn session_keys_live_until_expiry_and_the_index_outlives_them() {
    let Some(url) = common::redis_or_skip().await else {
        return;
    };
    let backend = common::backend(&url);
    let prefix = backend.key_prefix().to_owned();
    let store = RedisSessionStore::new(backend);
    let user = UserId::new();
    let now = Utc::now();
    let make = |minutes| UserSession {
        id: SessionId::new(),
        user_id: user,
        created_at: now,
        expires_at: now + chrono::Duration::minutes(minutes),
        ip: None,
        user_agent: None,
        refresh_token_hash: TokenFingerprint::of("r").as_str().to_owned(),
    };
    let (long, short) = (make(120), make(30));
    store.create(&long).await.unwrap();
    store.create(&short).await.unwrap();
    let session_ttl = pttl(&url, &format!("{prefix}session:{}", short.id)).await;
    assert!(
        around(session_ttl, Duration::from_secs(30 * 60)),
        "a session lives until expires_at"
    );
    let index_ttl = pttl(&url, &format!("{prefix}user:sessions:{user}")).await;
    assert!(
        around(index_ttl, Duration::from_secs(120 * 60)),
        "the index lives as long as the longest session"
    );

    let token = TokenFingerprint::of("access-token");
    store
        .blacklist_token(&token, now + chrono::Duration::minutes(15))
        .await
        .unwrap();
    let key = format!("{prefix}token:blacklist:{}", token.as_str());
    assert!(
        around(pttl(&url, &key).await, Duration::from_secs(15 * 60)),
        "the blacklist entry lives the token's remaining lifetime"
    );
    assert!(
        !key.contains("access-token"),
        "the bearer token itself never becomes a key"
    );

    let later = now + chrono::Duration::minutes(240);
    let mut extended = short.clone();
    extended.expires_at = later;
    assert!(store
        .rotate(&extended, &short.refresh_token_hash)
        .await
        .unwrap());
    let index_ttl = pttl(&url, &format!("{prefix}user:sessions:{user}")).await;
    assert!(
        around(index_ttl, Duration::from_secs(240 * 60)),
        "extending a session past the index's lifetime extends it"
    );
    common::wipe(&url, &prefix).await;
}
