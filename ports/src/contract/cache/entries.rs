//! Entries by id, the pinned set, invalidation, stats, clearing and expiry.

use std::time::Duration;

use chrono::{DateTime, Utc};
use webchat_domain::{ChatId, Message, MessageId};

use super::{cached, history, message, now, recent, Made};
use crate::CacheStats;

fn pinned_at(mut m: Message, at: DateTime<Utc>) -> Message {
    m.pinned_at = Some(at);
    m
}

fn ids(messages: &[Message]) -> Vec<MessageId> {
    messages.iter().map(|m| m.id).collect()
}

pub(super) async fn caches_messages_by_id((cache, time): Made) {
    let t = now(&time);
    let chat = ChatId::new();
    let m = message(chat, 1, t);
    assert_eq!(
        cached(&cache, m.id).await,
        None,
        "get_cached misses a message never cached"
    );
    cache.cache_message(&m).await.expect("cache_message");
    assert_eq!(
        cached(&cache, m.id).await,
        Some(m),
        "get_cached returns the cached message"
    );

    let many = history(chat, 4, t);
    cache.cache_many(&many).await.expect("cache_many");
    for m in &many {
        assert_eq!(
            cached(&cache, m.id).await.as_ref(),
            Some(m),
            "cache_many caches every message by id"
        );
    }
    assert_eq!(
        recent(&cache, chat, 10).await,
        None,
        "cache_many creates no window"
    );
    assert_eq!(
        cache.pinned(chat).await.expect("pinned"),
        None,
        "pinned is None until cache_pinned"
    );
}

pub(super) async fn keeps_pins_newest_pin_first((cache, time): Made) {
    let t = now(&time);
    let secs = |n| t + chrono::Duration::seconds(n);
    let chat = ChatId::new();
    let m = history(chat, 5, t);
    let (p1, p2, p3) = (
        pinned_at(m[4].clone(), secs(1)),
        pinned_at(m[3].clone(), secs(3)),
        pinned_at(m[2].clone(), secs(2)),
    );
    cache
        .cache_pinned(chat, &[p1.clone(), p2.clone(), p3.clone()])
        .await
        .expect("cache_pinned");
    let pinned = |chat| cache.pinned(chat);

    assert_eq!(
        pinned(chat).await.expect("pinned"),
        Some(vec![p2.clone(), p3.clone(), p1.clone()]),
        "pinned lists the cached pins newest pin first"
    );
    let p4 = pinned_at(m[1].clone(), secs(4));
    cache.update_cached(&p4).await.expect("update_cached");
    assert_eq!(
        pinned(chat).await.expect("pinned").map(|p| ids(&p)),
        Some(vec![p4.id, p2.id, p3.id, p1.id]),
        "update_cached of a newly pinned message adds it to the pinned set"
    );
    let mut unpinned = p2.clone();
    unpinned.pinned_at = None;
    cache.update_cached(&unpinned).await.expect("update_cached");
    assert_eq!(
        pinned(chat).await.expect("pinned").map(|p| ids(&p)),
        Some(vec![p4.id, p3.id, p1.id]),
        "update_cached of an unpinned message takes it out of the pinned set"
    );
    let mut edited = p3.clone();
    edited.content = "edited pin".to_owned();
    cache.update_cached(&edited).await.expect("update_cached");
    assert_eq!(
        pinned(chat)
            .await
            .expect("pinned")
            .and_then(|p| p.into_iter().find(|m| m.id == p3.id)),
        Some(edited),
        "update_cached of a pinned message replaces it in the pinned set"
    );

    cache
        .cache_pinned(chat, std::slice::from_ref(&p1))
        .await
        .expect("cache_pinned");
    assert_eq!(
        pinned(chat).await.expect("pinned"),
        Some(vec![p1.clone()]),
        "cache_pinned replaces the pinned set"
    );
    cache
        .delete_cached(chat, p1.id)
        .await
        .expect("delete_cached");
    let left = pinned(chat).await.expect("pinned").unwrap_or_default();
    assert!(
        !left.iter().any(|m| m.id == p1.id),
        "delete_cached takes the message out of the pinned set"
    );

    let elsewhere = ChatId::new();
    cache
        .update_cached(&pinned_at(message(elsewhere, 1, t), t))
        .await
        .expect("update_cached");
    assert_eq!(
        pinned(elsewhere).await.expect("pinned"),
        None,
        "update_cached never creates a pinned set"
    );
}

pub(super) async fn invalidates_one_chat((cache, time): Made) {
    let t = now(&time);
    let (gone, kept) = (ChatId::new(), ChatId::new());
    let mut fill = Vec::new();
    for chat in [gone, kept] {
        let all = history(chat, 3, t);
        for m in &all {
            cache.cache_message(m).await.expect("cache_message");
        }
        cache.warm_up(chat, &all).await.expect("warm_up");
        cache
            .cache_pinned(chat, &[pinned_at(all[0].clone(), t)])
            .await
            .expect("cache_pinned");
        fill.push(all);
    }

    cache.invalidate_chat(gone).await.expect("invalidate_chat");
    for m in &fill[0] {
        assert_eq!(
            cached(&cache, m.id).await,
            None,
            "invalidate_chat forgets the chat's messages"
        );
    }
    assert_eq!(
        recent(&cache, gone, 10).await,
        None,
        "invalidate_chat drops the window"
    );
    assert_eq!(
        cache.pinned(gone).await.expect("pinned"),
        None,
        "invalidate_chat drops the pinned set"
    );
    for m in &fill[1] {
        assert_eq!(
            cached(&cache, m.id).await.as_ref(),
            Some(m),
            "invalidate_chat keeps other chats' messages"
        );
    }
    assert_eq!(
        recent(&cache, kept, 10).await.map(|w| w.len()),
        Some(3),
        "invalidate_chat keeps other windows"
    );
    assert!(
        cache.pinned(kept).await.expect("pinned").is_some(),
        "invalidate_chat keeps other pinned sets"
    );
}

pub(super) async fn counts_and_clears((cache, time): Made) {
    let t = now(&time);
    let (a, b) = (ChatId::new(), ChatId::new());
    let (in_a, in_b) = (history(a, 3, t), history(b, 2, t));
    for m in in_a.iter().chain(&in_b) {
        cache.cache_message(m).await.expect("cache_message");
    }
    let stats = cache.stats().await.expect("stats");
    assert_eq!(
        stats,
        CacheStats {
            total_cached_messages: 5,
            total_chats: 2
        },
        "stats counts cached messages and their chats"
    );
    cache
        .delete_cached(a, in_a[0].id)
        .await
        .expect("delete_cached");
    let stats = cache.stats().await.expect("stats");
    assert_eq!(
        stats.total_cached_messages, 4,
        "stats no longer counts a deleted message"
    );

    cache.warm_up(a, &in_a).await.expect("warm_up");
    cache
        .cache_pinned(b, &[pinned_at(in_b[0].clone(), t)])
        .await
        .expect("cache_pinned");
    let removed = cache.clear_all().await.expect("clear_all");
    assert!(
        removed >= 4,
        "clear_all counts what it removed, got {removed}"
    );
    assert_eq!(
        cache.stats().await.expect("stats"),
        CacheStats::default(),
        "nothing is cached after clear_all"
    );
    assert_eq!(
        cached(&cache, in_b[0].id).await,
        None,
        "clear_all forgets every message"
    );
    assert_eq!(
        recent(&cache, a, 10).await,
        None,
        "clear_all drops every window"
    );
    assert_eq!(
        cache.pinned(b).await.expect("pinned"),
        None,
        "clear_all drops every pinned set"
    );
    cache.cache_many(&in_a[..1]).await.expect("cache_many");
    assert_eq!(
        cached(&cache, in_a[0].id).await,
        Some(in_a[0].clone()),
        "clear_all removes tombstones too"
    );
}

pub(super) async fn expires_entries((cache, time): Made) {
    let t = now(&time);
    let (stale, busy, elsewhere) = (ChatId::new(), ChatId::new(), ChatId::new());
    let dead = message(elsewhere, 1, t);
    cache
        .delete_cached(elsewhere, dead.id)
        .await
        .expect("delete_cached");
    let lone = message(stale, 10, t);
    cache.cache_message(&lone).await.expect("cache_message");
    cache
        .warm_up(stale, &history(stale, 3, t))
        .await
        .expect("warm_up");
    cache
        .cache_pinned(stale, &[pinned_at(lone.clone(), t)])
        .await
        .expect("cache_pinned");
    cache
        .warm_up(busy, &history(busy, 3, t))
        .await
        .expect("warm_up");

    time.advance(Duration::from_millis(1200)).await;
    assert_eq!(
        cached(&cache, lone.id).await,
        Some(lone.clone()),
        "a cached message lives until the ttl"
    );
    assert!(
        recent(&cache, stale, 10).await.is_some(),
        "a window lives until the ttl"
    );
    assert!(
        cache.pinned(stale).await.expect("pinned").is_some(),
        "a pinned set lives until the ttl"
    );
    cache
        .cache_many(std::slice::from_ref(&dead))
        .await
        .expect("cache_many");
    assert_eq!(
        cached(&cache, dead.id).await,
        None,
        "a tombstone lives until the ttl"
    );
    let newer = message(busy, 4, now(&time));
    cache.cache_message(&newer).await.expect("cache_message");

    time.advance(Duration::from_millis(1400)).await;
    assert_eq!(
        cached(&cache, lone.id).await,
        None,
        "a cached message expires after the ttl"
    );
    assert_eq!(
        recent(&cache, stale, 10).await,
        None,
        "a window expires after the ttl"
    );
    assert_eq!(
        cache.pinned(stale).await.expect("pinned"),
        None,
        "a pinned set expires after the ttl"
    );
    assert_eq!(
        recent(&cache, busy, 10)
            .await
            .and_then(|w| w.first().cloned()),
        Some(newer.clone()),
        "a write through the window renews its ttl"
    );
    assert_eq!(
        cache.stats().await.expect("stats"),
        CacheStats {
            total_cached_messages: 1,
            total_chats: 1
        },
        "stats counts only live entries"
    );
    cache
        .cache_many(std::slice::from_ref(&dead))
        .await
        .expect("cache_many");
    assert_eq!(
        cached(&cache, dead.id).await,
        Some(dead),
        "a tombstone expires after the ttl"
    );
}
