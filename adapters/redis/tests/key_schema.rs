//! Runs a scenario through every adapter, then checks each key Redis holds against
//! the key table of docs/protocol.md: its name, its TYPE, and a TTL wherever the table has one.

mod common;

use chrono::Utc;
use std::collections::BTreeSet;
use uuid::Uuid;
use webchat_domain::{
    ChatId, InstanceId, Message, MessageId, RateLimitPolicy, SessionId, SocketId, TokenFingerprint,
    UserId, UserSession,
};
use webchat_ports::{
    CacheConfig, MessageCache, PresenceConfig, PresenceStore, RateLimiter, SessionStore,
};
use webchat_redis::{RedisMessageCache, RedisPresenceStore, RedisRateLimiter, RedisSessionStore};

/// (name after the prefix starts with, TYPE, has a TTL)
const TABLE: &[(&str, &str, bool)] = &[
    ("user:presence:{", "string", true),
    ("users:online:by_id:{", "zset", false),
    ("users:online:{", "set", false),
    ("user:sockets:{", "set", true),
    ("instance:{", "string", true),
    ("instances", "zset", false),
    ("session:{", "string", true),
    ("user:sessions:{", "zset", true),
    ("token:blacklist:{", "string", true),
    ("throttle:", "string", true),
    ("message:{", "string", true),
    ("chat:messages:{", "zset", true),
    ("chat:recent:{", "list", true),
    ("chat:pinned:{", "hash", true),
    ("chat:changed:{", "string", true),
];

/// Keys carry the id they are about as a hash tag: `{chatId}`, `{userId}`, ...
fn hash_tag(name: &str) -> Option<&str> {
    let open = name.find('{')?;
    let close = open + name[open..].find('}')?;
    Some(&name[open + 1..close])
}

fn message(chat: ChatId, seq: i64) -> Message {
    Message {
        id: MessageId::new(),
        chat_id: chat,
        sender_id: UserId::new(),
        content: format!("hello {seq}"),
        seq,
        client_msg_id: None,
        created_at: Utc::now(),
        edited_at: None,
        pinned_at: None,
        version: 0,
    }
}

async fn scenario(backend: &webchat_redis::RedisBackend) -> Vec<UserId> {
    let presence = RedisPresenceStore::new(backend.clone(), PresenceConfig::default());
    let instance = InstanceId::random();
    presence.heartbeat_instance(&instance).await.unwrap();
    let (alice, bob) = (UserId::new(), UserId::new());
    presence
        .set_online(alice, &SocketId::new(&instance, Uuid::new_v4()))
        .await
        .unwrap();
    let bobs = SocketId::new(&instance, Uuid::new_v4());
    presence.set_online(bob, &bobs).await.unwrap();
    presence.set_offline(bob, &bobs).await.unwrap();

    let sessions = RedisSessionStore::new(backend.clone());
    let now = Utc::now();
    let session = UserSession {
        id: SessionId::new(),
        user_id: alice,
        created_at: now,
        expires_at: now + chrono::Duration::hours(1),
        ip: None,
        user_agent: None,
        refresh_token_hash: TokenFingerprint::of("refresh").as_str().to_owned(),
    };
    sessions.create(&session, 100).await.unwrap();
    sessions
        .blacklist_token(
            &TokenFingerprint::of("access"),
            now + chrono::Duration::minutes(15),
        )
        .await
        .unwrap();

    let limiter = RedisRateLimiter::new(backend.clone());
    limiter
        .hit(
            &RateLimitPolicy::strict_policy(),
            "203.0.113.7",
            "/api/auth/login",
        )
        .await
        .unwrap();
    // The login throttles: per account, and per IPv6 /64.
    for subject in ["account:alice", "ip:2001:db8:1:2::/64"] {
        limiter
            .hit(
                &RateLimitPolicy::strict_policy(),
                subject,
                "/api/auth/login",
            )
            .await
            .unwrap();
    }

    let cache = RedisMessageCache::new(backend.clone(), CacheConfig::default());
    let (first, mut second) = (message(CHAT, 1), message(CHAT, 2));
    cache
        .delete_cached(CHAT, MessageId::new(), 0)
        .await
        .unwrap();
    cache
        .warm_up(CHAT, std::slice::from_ref(&first), 1)
        .await
        .unwrap();
    cache.cache_message(&second).await.unwrap();
    cache.cache_pinned(CHAT, &[], 2).await.unwrap();
    second.pinned_at = Some(Utc::now());
    second.version = 3;
    cache.update_cached(&second).await.unwrap();
    cache
        .cache_read(std::slice::from_ref(&first))
        .await
        .unwrap();
    vec![alice, bob]
}

/// The chat the scenario's cache keys belong to.
const CHAT: ChatId = ChatId::from_uuid(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001));

#[tokio::test]
async fn every_key_matches_the_contract_table() {
    let Some(url) = common::redis_or_skip().await else {
        return;
    };
    let backend = common::backend(&url);
    let prefix = backend.key_prefix().to_owned();
    scenario(&backend).await;

    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut seen = BTreeSet::new();
    let keys = common::keys_under(&url, &prefix).await;
    for key in &keys {
        let name = key.strip_prefix(&prefix).unwrap();
        let (row, kind, has_ttl) = TABLE
            .iter()
            .find(|(start, _, _)| name.starts_with(start))
            .unwrap_or_else(|| panic!("{key} is not in the key table"));
        let actual: String = redis::cmd("TYPE")
            .arg(key)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(
            &actual, kind,
            "{key} has TYPE {actual}, the table says {kind}"
        );
        let ttl: i64 = redis::cmd("PTTL")
            .arg(key)
            .query_async(&mut conn)
            .await
            .unwrap();
        if *has_ttl {
            assert!(ttl > 0, "{key} must have a TTL, has PTTL {ttl}");
        }
        if row.starts_with("chat:") {
            assert_eq!(
                hash_tag(name),
                Some(CHAT.to_string().as_str()),
                "{key}: a chat's keys carry the chat id as their hash tag"
            );
        } else if row.starts_with("message:") {
            let id = hash_tag(name).unwrap_or_else(|| panic!("{key} has no hash tag"));
            assert!(
                id.parse::<MessageId>().is_ok(),
                "{key}: a message key carries the message id as its hash tag"
            );
        } else if row.starts_with("user:") {
            let id = hash_tag(name).unwrap_or_else(|| panic!("{key} has no hash tag"));
            assert!(
                id.parse::<UserId>().is_ok(),
                "{key}: a user's key carries the user id as its hash tag"
            );
        } else if *row == "users:online:{" || *row == "users:online:by_id:{" {
            // A single server keeps one online set (one per slot is Cluster
            // mode's, checked in tests/cluster.rs).
            let tag = hash_tag(name).unwrap_or_else(|| panic!("{key} has no hash tag"));
            assert_eq!(tag, "all", "{key}: one online set on a single server");
        } else if *row == "throttle:" {
            assert!(
                matches!(
                    hash_tag(name),
                    Some("203.0.113.7" | "account:alice" | "ip:2001:db8:1:2::/64")
                ),
                "{key}: tagged by its subject"
            );
        }
        seen.insert(*row);
    }
    let missing: Vec<&str> = TABLE
        .iter()
        .map(|(row, _, _)| *row)
        .filter(|row| !seen.contains(row))
        .collect();
    assert!(
        missing.is_empty(),
        "the scenario wrote no key of {missing:?}; keys: {keys:?}"
    );

    // The seed's redis-cli checks read plain JSON.
    let presence: String = redis::cmd("GET")
        .arg(keys.iter().find(|k| k.contains(":user:presence:")).unwrap())
        .query_async(&mut conn)
        .await
        .unwrap();
    let value: serde_json::Value = serde_json::from_str(&presence).unwrap();
    assert!(value["status"].is_string(), "presence JSON: {presence}");
    common::wipe(&url, &prefix).await;
}
