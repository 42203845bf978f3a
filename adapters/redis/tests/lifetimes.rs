//! The TTLs the key table of docs/protocol.md gives, as Redis holds them.

mod common;

use std::time::Duration;

use chrono::Utc;
use uuid::Uuid;
use webchat_domain::{
    ChatId, InstanceId, SessionId, SocketId, TokenFingerprint, UserId, UserSession,
};
use webchat_ports::{CacheConfig, MessageCache, PresenceConfig, PresenceStore, SessionStore};
use webchat_redis::{RedisMessageCache, RedisPresenceStore, RedisSessionStore};

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
    let presence_key = format!("{prefix}user:presence:{{{user}}}");
    assert!(around(pttl(&url, &presence_key).await, config.online_ttl));
    assert!(around(
        pttl(&url, &format!("{prefix}user:sockets:{{{user}}}")).await,
        config.online_ttl
    ));
    assert!(around(
        pttl(&url, &format!("{prefix}instance:{{{instance}}}")).await,
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
    store.create(&long, 100).await.unwrap();
    store.create(&short, 100).await.unwrap();
    let session_ttl = pttl(&url, &format!("{prefix}session:{{{}}}", short.id)).await;
    assert!(
        around(session_ttl, Duration::from_secs(30 * 60)),
        "a session lives until expires_at"
    );
    let index_ttl = pttl(&url, &format!("{prefix}user:sessions:{{{user}}}")).await;
    assert!(
        around(index_ttl, Duration::from_secs(120 * 60)),
        "the index lives as long as the longest session"
    );

    let token = TokenFingerprint::of("access-token");
    store
        .blacklist_token(&token, now + chrono::Duration::minutes(15))
        .await
        .unwrap();
    let key = format!("{prefix}token:blacklist:{{{}}}", token.as_str());
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
    let index_ttl = pttl(&url, &format!("{prefix}user:sessions:{{{user}}}")).await;
    assert!(
        around(index_ttl, Duration::from_secs(240 * 60)),
        "extending a session past the index's lifetime extends it"
    );
    common::wipe(&url, &prefix).await;
}

#[tokio::test]
async fn cache_keys_live_the_ttl_and_read_copies_read_ttl() {
    let Some(url) = common::redis_or_skip().await else {
        return;
    };
    let backend = common::backend(&url);
    let prefix = backend.key_prefix().to_owned();
    let config = CacheConfig {
        ttl: Duration::from_secs(3600),
        read_ttl: Duration::from_secs(300),
    };
    let cache = RedisMessageCache::new(backend, config.clone());
    let chat = ChatId::new();
    let all = common::history(chat, 3);
    cache.warm_up(chat, &all[1..], 2).await.unwrap();
    cache.cache_message(&all[0]).await.unwrap();
    cache.cache_read(&all[1..2]).await.unwrap();
    cache
        .update_cached(&common::pinned(&all[2], true, 4))
        .await
        .unwrap();
    cache.cache_pinned(chat, &[], 4).await.unwrap();
    cache.delete_cached(chat, all[0].id, 5).await.unwrap();
    cache.warm_up(chat, &all[1..], 5).await.unwrap();

    for (key, lifetime, what) in [
        (
            format!("message:{{{}}}", all[1].id),
            config.read_ttl,
            "a read copy lives read_ttl",
        ),
        (
            format!("message:{{{}}}", all[2].id),
            config.read_ttl,
            "the copy update_cached writes lives read_ttl",
        ),
        (
            format!("message:{{{}}}", all[0].id),
            config.ttl,
            "a tombstone lives the ttl",
        ),
        (
            format!("chat:recent:{{{chat}}}"),
            config.ttl,
            "a window lives the ttl",
        ),
        (
            format!("chat:pinned:{{{chat}}}"),
            config.ttl,
            "a pinned set lives the ttl",
        ),
        (
            format!("chat:messages:{{{chat}}}"),
            config.ttl,
            "an index lives the ttl",
        ),
        (
            format!("chat:changed:{{{chat}}}"),
            config.ttl,
            "a watermark lives the ttl",
        ),
    ] {
        let left = pttl(&url, &format!("{prefix}{key}")).await;
        assert!(around(left, lifetime), "{what}: {key} has PTTL {left}");
    }
    common::wipe(&url, &prefix).await;
}
