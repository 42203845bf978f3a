//! Tombstones: a write that read the repository before a concurrent delete reaches
//! the cache after `delete_cached` and must not bring the message back.

use chrono::{DateTime, Utc};
use webchat_domain::{ChatId, Message};

use super::{cached, history, now, recent, seqs, Made};

fn pinned_at(mut m: Message, at: DateTime<Utc>) -> Message {
    m.pinned_at = Some(at);
    m
}

pub(super) async fn forgets_a_deleted_message_for_good((cache, time): Made) {
    let t = now(&time);
    let chat = ChatId::new();
    let all = history(chat, 3, t);
    cache.cache_many(&all).await.expect("cache_many");
    let gone = all[1].clone();
    cache
        .delete_cached(chat, gone.id)
        .await
        .expect("delete_cached");
    assert_eq!(
        cached(&cache, gone.id).await,
        None,
        "get_cached misses a deleted message"
    );

    cache.cache_many(&all).await.expect("cache_many");
    assert_eq!(
        cached(&cache, gone.id).await,
        None,
        "cache_many after delete_cached does not bring the message back"
    );
    assert_eq!(
        cached(&cache, all[0].id).await,
        Some(all[0].clone()),
        "cache_many still caches the messages that were not deleted"
    );

    cache.cache_message(&gone).await.expect("cache_message");
    assert_eq!(
        cached(&cache, gone.id).await,
        None,
        "cache_message after delete_cached does not bring the message back"
    );

    let mut edited = gone.clone();
    edited.content = "edited after the delete".to_owned();
    cache.update_cached(&edited).await.expect("update_cached");
    assert_eq!(
        cached(&cache, gone.id).await,
        None,
        "update_cached after delete_cached does not bring the message back"
    );

    cache.invalidate_chat(chat).await.expect("invalidate_chat");
    cache.cache_many(&all).await.expect("cache_many");
    assert_eq!(
        cached(&cache, gone.id).await,
        None,
        "invalidate_chat keeps the tombstone"
    );
    let stats = cache.stats().await.expect("stats");
    assert_eq!(
        stats.total_cached_messages, 2,
        "a tombstone is not counted as a cached message"
    );
}

pub(super) async fn keeps_a_deleted_message_out_of_the_window((cache, time): Made) {
    let t = now(&time);
    let chat = ChatId::new();
    let all = history(chat, 3, t);
    cache.warm_up(chat, &all).await.expect("warm_up");
    let head = all[0].clone();
    cache
        .delete_cached(chat, head.id)
        .await
        .expect("delete_cached");

    cache.warm_up(chat, &all).await.expect("warm_up");
    assert_eq!(
        recent(&cache, chat, 10).await,
        None,
        "warm_up with a list read before the delete creates no window"
    );
    assert_eq!(
        cached(&cache, head.id).await,
        None,
        "warm_up does not bring the deleted message back"
    );

    let after = all[1..].to_vec();
    cache.warm_up(chat, &after).await.expect("warm_up");
    cache.warm_up(chat, &all).await.expect("warm_up");
    assert_eq!(
        recent(&cache, chat, 10).await,
        Some(after.clone()),
        "a stale warm_up leaves an existing window as it was"
    );

    cache.cache_message(&head).await.expect("cache_message");
    assert_eq!(
        seqs(&recent(&cache, chat, 10).await.expect("window")),
        vec![2, 1],
        "cache_message of a deleted message leaves the window as it was"
    );
    let mut edited = head.clone();
    edited.content = "edited after the delete".to_owned();
    cache.update_cached(&edited).await.expect("update_cached");
    assert_eq!(
        recent(&cache, chat, 10).await,
        Some(after),
        "update_cached of a deleted message leaves the window as it was"
    );
}

pub(super) async fn keeps_a_deleted_message_out_of_the_pinned_set((cache, time): Made) {
    let t = now(&time);
    let secs = |n| t + chrono::Duration::seconds(n);
    let chat = ChatId::new();
    let m = history(chat, 3, t);
    let (kept, gone) = (pinned_at(m[2].clone(), secs(1)), m[1].clone());
    cache
        .cache_pinned(chat, std::slice::from_ref(&kept))
        .await
        .expect("cache_pinned");
    cache
        .delete_cached(chat, gone.id)
        .await
        .expect("delete_cached");

    // A pin that reached the repository before the delete and the cache after it.
    let late_pin = pinned_at(gone.clone(), secs(2));
    cache.update_cached(&late_pin).await.expect("update_cached");
    assert_eq!(
        cache.pinned(chat).await.expect("pinned"),
        Some(vec![kept.clone()]),
        "update_cached after delete_cached does not add the message to the pinned set"
    );
    assert_eq!(
        cached(&cache, gone.id).await,
        None,
        "update_cached after delete_cached does not bring the message back"
    );

    // A pinned list read before the delete and cached after it.
    cache
        .cache_pinned(chat, &[late_pin, kept.clone()])
        .await
        .expect("cache_pinned");
    assert_eq!(
        cache.pinned(chat).await.expect("pinned"),
        Some(vec![kept]),
        "cache_pinned leaves a deleted message out of the set"
    );
    assert_eq!(
        cached(&cache, gone.id).await,
        None,
        "cache_pinned does not bring the deleted message back"
    );
}
