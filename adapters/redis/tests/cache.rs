//! RedisMessageCache behaviour that the Redis layout makes easy to get wrong: the
//! recent window's invariants, the pinned set's markers, stats and clearing.

mod common;

use std::time::Duration;

use chrono::{TimeZone, Utc};
use webchat_domain::{ChatId, Message, MessageId, UserId};
use webchat_ports::{CacheConfig, MessageCache, RECENT_WINDOW};
use webchat_redis::RedisMessageCache;

fn message(chat: ChatId, seq: i64) -> Message {
    Message {
        id: MessageId::new(),
        chat_id: chat,
        sender_id: UserId::new(),
        content: format!("message {seq}"),
        seq,
        client_msg_id: None,
        created_at: Utc.timestamp_opt(1_700_000_000 + seq, 0).unwrap(),
        edited_at: None,
        pinned_at: None,
        version: 0,
    }
}

fn history(chat: ChatId, n: i64) -> Vec<Message> {
    (1..=n).map(|seq| message(chat, seq)).collect()
}

fn newest_first(messages: &[Message]) -> Vec<Message> {
    messages.iter().rev().cloned().collect()
}

fn seqs(messages: &[Message]) -> Vec<i64> {
    messages.iter().map(|m| m.seq).collect()
}

#[tokio::test]
async fn window_exists_only_whole() {
    let Some(url) = common::redis_or_skip().await else {
        return;
    };
    let isolation = common::Isolation::new(&url);
    let cache = RedisMessageCache::new(isolation.backend(), CacheConfig::default());
    let chat = ChatId::new();
    let all = history(chat, 60);

    cache.cache_message(&all[0]).await.unwrap();
    assert_eq!(
        cache.recent(chat, 10).await.unwrap(),
        None,
        "cache_message never creates a window"
    );

    cache
        .warm_up(chat, &newest_first(&all[..59]))
        .await
        .unwrap();
    let window = cache.recent(chat, 100).await.unwrap().unwrap();
    assert_eq!(
        window.len(),
        RECENT_WINDOW,
        "warm_up keeps only the newest 50"
    );
    assert_eq!(window[0].seq, 59);

    cache.cache_message(&all[59]).await.unwrap();
    let window = cache.recent(chat, 3).await.unwrap().unwrap();
    assert_eq!(
        seqs(&window),
        vec![60, 59, 58],
        "the next message extends the window"
    );
    assert_eq!(
        cache.recent(chat, 100).await.unwrap().unwrap().len(),
        RECENT_WINDOW,
        "the window stays at 50"
    );

    cache.cache_message(&all[40]).await.unwrap();
    assert_eq!(
        cache.recent(chat, 100).await.unwrap().unwrap().len(),
        RECENT_WINDOW,
        "a message the window already holds leaves it as it was"
    );
    cache.cache_message(&all[5]).await.unwrap();
    assert_eq!(
        cache.recent(chat, 1).await.unwrap(),
        None,
        "an older message the window lacks drops it"
    );
    assert_eq!(
        cache.get_cached(all[5].id).await.unwrap(),
        Some(all[5].clone()),
        "but is cached by id"
    );

    cache
        .warm_up(chat, &newest_first(&all[..60]))
        .await
        .unwrap();
    let gap = message(chat, 62);
    cache.cache_message(&gap).await.unwrap();
    assert_eq!(
        cache.recent(chat, 5).await.unwrap(),
        None,
        "a message past a missed seq drops the window rather than leave a hole"
    );

    cache.warm_up(chat, &[]).await.unwrap();
    assert_eq!(
        cache.recent(chat, 5).await.unwrap(),
        Some(vec![]),
        "an empty chat's window is cached as empty"
    );
    assert_eq!(cache.recent(chat, 0).await.unwrap(), Some(vec![]));
    let first = message(chat, 1);
    cache.cache_message(&first).await.unwrap();
    assert_eq!(
        cache.recent(chat, 5).await.unwrap(),
        Some(vec![first.clone()]),
        "the first message enters an empty window"
    );

    let mut edited = first.clone();
    edited.content = "edited".into();
    edited.edited_at = Some(Utc::now());
    cache.update_cached(&edited).await.unwrap();
    assert_eq!(
        cache.recent(chat, 5).await.unwrap(),
        Some(vec![edited.clone()]),
        "update replaces the window's copy"
    );
    assert_eq!(cache.get_cached(first.id).await.unwrap(), Some(edited));

    cache.delete_cached(chat, first.id).await.unwrap();
    assert_eq!(
        cache.recent(chat, 5).await.unwrap(),
        None,
        "a delete drops the window"
    );
    assert_eq!(cache.get_cached(first.id).await.unwrap(), None);
    isolation.wipe().await;
}

#[tokio::test]
async fn pinned_set_tracks_pins_and_refuses_partial_answers() {
    let Some(url) = common::redis_or_skip().await else {
        return;
    };
    let isolation = common::Isolation::new(&url);
    let backend = isolation.backend();
    let prefix = backend.key_prefix().to_owned();
    let cache = RedisMessageCache::new(backend, CacheConfig::default());
    let chat = ChatId::new();
    assert_eq!(cache.pinned(chat).await.unwrap(), None, "no set cached yet");
    cache.cache_pinned(chat, &[]).await.unwrap();
    assert_eq!(
        cache.pinned(chat).await.unwrap(),
        Some(vec![]),
        "nothing pinned is cached as empty"
    );

    let mut a = message(chat, 1);
    let mut b = message(chat, 2);
    a.pinned_at = Some(Utc.timestamp_opt(1_700_000_100, 0).unwrap());
    b.pinned_at = Some(Utc.timestamp_opt(1_700_000_200, 0).unwrap());
    cache
        .cache_pinned(chat, &[a.clone(), b.clone()])
        .await
        .unwrap();
    assert_eq!(
        cache.pinned(chat).await.unwrap(),
        Some(vec![b.clone(), a.clone()]),
        "newest pin first"
    );

    let mut c = message(chat, 3);
    c.pinned_at = Some(Utc.timestamp_opt(1_700_000_300, 0).unwrap());
    cache.update_cached(&c).await.unwrap();
    b.pinned_at = None;
    cache.update_cached(&b).await.unwrap();
    assert_eq!(
        cache.pinned(chat).await.unwrap(),
        Some(vec![c.clone(), a.clone()]),
        "pins and unpins keep the set in step"
    );
    a.pinned_at = None;
    cache.update_cached(&a).await.unwrap();
    c.pinned_at = None;
    cache.update_cached(&c).await.unwrap();
    assert_eq!(
        cache.pinned(chat).await.unwrap(),
        Some(vec![]),
        "unpinning the last keeps an empty set cached"
    );

    let mut d = message(chat, 4);
    d.pinned_at = Some(Utc::now());
    cache
        .cache_pinned(chat, std::slice::from_ref(&d))
        .await
        .unwrap();
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("DEL")
        .arg(format!("{prefix}message:{}", d.id))
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        cache.pinned(chat).await.unwrap(),
        None,
        "a pinned message missing from the cache makes the caller refill"
    );
    isolation.wipe().await;
}

#[tokio::test]
async fn stats_invalidate_and_clear_walk_the_prefix_only() {
    let Some(url) = common::redis_or_skip().await else {
        return;
    };
    let isolation = common::Isolation::new(&url);
    let cache = RedisMessageCache::new(
        isolation.backend(),
        CacheConfig {
            ttl: Duration::from_secs(60),
        },
    );
    let neighbour = RedisMessageCache::new(isolation.backend(), CacheConfig::default());
    let (one, two) = (ChatId::new(), ChatId::new());
    let first = history(one, 3);
    cache.cache_many(&first).await.unwrap();
    cache
        .warm_up(two, &newest_first(&history(two, 2)))
        .await
        .unwrap();
    neighbour
        .cache_many(&history(ChatId::new(), 4))
        .await
        .unwrap();

    let stats = cache.stats().await.unwrap();
    assert_eq!((stats.total_cached_messages, stats.total_chats), (5, 2));

    cache.invalidate_chat(one).await.unwrap();
    assert_eq!(
        cache.get_cached(first[0].id).await.unwrap(),
        None,
        "invalidate forgets the chat's messages"
    );
    assert_eq!(cache.stats().await.unwrap().total_chats, 1);

    let removed = cache.clear_all().await.unwrap();
    assert_eq!(removed, 4, "two messages, their index and the window");
    assert_eq!(cache.stats().await.unwrap().total_cached_messages, 0);
    assert_eq!(
        neighbour.stats().await.unwrap().total_cached_messages,
        4,
        "other prefixes are untouched"
    );
    isolation.wipe().await;
}

#[tokio::test]
async fn a_delete_leaves_a_string_tombstone_that_lives_the_cache_ttl() {
    let Some(url) = common::redis_or_skip().await else {
        return;
    };
    let isolation = common::Isolation::new(&url);
    let backend = isolation.backend();
    let prefix = backend.key_prefix().to_owned();
    let ttl = Duration::from_secs(60);
    let cache = RedisMessageCache::new(backend, CacheConfig { ttl });
    let chat = ChatId::new();
    let all = history(chat, 3);
    cache.cache_many(&all).await.unwrap();
    cache.delete_cached(chat, all[0].id).await.unwrap();

    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let key = format!("{prefix}message:{}", all[0].id);
    let kind: String = redis::cmd("TYPE")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(kind, "string", "the tombstone keeps the key table's type");
    let pttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        pttl > 0 && pttl <= ttl.as_millis() as i64,
        "the tombstone lives the cache ttl, has PTTL {pttl}"
    );
    assert_eq!(
        cache.stats().await.unwrap().total_cached_messages,
        2,
        "stats skips the tombstone"
    );

    cache.invalidate_chat(chat).await.unwrap();
    let exists: bool = redis::cmd("EXISTS")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(exists, "invalidate_chat keeps the tombstone");
    assert_eq!(
        cache.stats().await.unwrap().total_cached_messages,
        0,
        "invalidate_chat forgets the chat's messages"
    );
    assert_eq!(
        cache.clear_all().await.unwrap(),
        1,
        "clear_all removes the tombstone"
    );
    isolation.wipe().await;
}
