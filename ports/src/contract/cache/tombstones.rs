//! Tombstones: a write that read the repository before a concurrent delete reaches
//! the cache after `delete_cached` and must not bring the message back.

use webchat_domain::ChatId;

use super::{
    cache_message, cache_pinned, cached, delete, edited, history, now, pinned, pinned_at, read,
    recent, update, warm_up, Made,
};

pub(super) async fn no_write_brings_a_deleted_copy_back((cache, time): Made) {
    let t = now(&time);
    let chat = ChatId::new();
    let all = history(chat, 3, t);
    read(&cache, &all).await;
    let gone = all[1].clone();
    delete(&cache, &gone, 10).await;
    assert_eq!(
        cached(&cache, gone.id).await,
        None,
        "get_cached misses a deleted message"
    );
    assert_eq!(
        cached(&cache, all[0].id).await,
        Some(all[0].clone()),
        "delete_cached keeps the chat's other copies"
    );

    read(&cache, &all).await;
    assert_eq!(
        cached(&cache, gone.id).await,
        None,
        "cache_read after delete_cached does not bring the message back"
    );
    cache_message(&cache, &gone).await;
    assert_eq!(
        cached(&cache, gone.id).await,
        None,
        "cache_message after delete_cached does not bring the message back"
    );
    update(&cache, &edited(&gone, 9)).await;
    assert_eq!(
        cached(&cache, gone.id).await,
        None,
        "update_cached after delete_cached does not bring the message back"
    );

    cache.invalidate_chat(chat).await.expect("invalidate_chat");
    read(&cache, &all).await;
    assert_eq!(
        cached(&cache, gone.id).await,
        None,
        "invalidate_chat keeps the tombstone"
    );
    assert_eq!(
        cache.stats().await.expect("stats").total_cached_messages,
        2,
        "a tombstone is not counted as a cached message"
    );
}

pub(super) async fn keeps_a_deleted_message_out_of_the_window((cache, time): Made) {
    let t = now(&time);
    let chat = ChatId::new();
    let all = history(chat, 3, t);
    warm_up(&cache, chat, &all, 3).await;
    let head = all[0].clone();
    delete(&cache, &head, 10).await;

    // Read before the delete, but handed the delete's pts as as_of: only the
    // tombstone can tell the list is stale.
    warm_up(&cache, chat, &all, 10).await;
    assert_eq!(
        recent(&cache, chat, 10).await,
        None,
        "warm_up given a tombstoned message creates no window"
    );
    assert_eq!(
        cached(&cache, head.id).await,
        None,
        "warm_up does not bring the deleted message back"
    );

    let after = all[1..].to_vec();
    warm_up(&cache, chat, &after, 10).await;
    warm_up(&cache, chat, &all, 10).await;
    assert_eq!(
        recent(&cache, chat, 10).await,
        Some(after.clone()),
        "warm_up given a tombstoned message leaves an existing window as it was"
    );

    // The send of seq 3 announced late, after its delete: it would be the head's next.
    cache_message(&cache, &head).await;
    assert_eq!(
        recent(&cache, chat, 10).await,
        Some(after.clone()),
        "cache_message of a deleted message leaves the window as it was"
    );
    update(&cache, &edited(&head, 9)).await;
    assert_eq!(
        recent(&cache, chat, 10).await,
        Some(after),
        "update_cached of a deleted message leaves the window as it was"
    );
}

pub(super) async fn keeps_a_deleted_message_out_of_the_pinned_set((cache, time): Made) {
    let t = now(&time);
    let secs = |n| Some(t + chrono::Duration::seconds(n));
    let chat = ChatId::new();
    let m = history(chat, 3, t);
    let (kept, gone) = (pinned_at(&m[2], secs(1), 4), m[1].clone());
    cache_pinned(&cache, chat, std::slice::from_ref(&kept), 4).await;
    delete(&cache, &gone, 10).await;

    // A pin that reached the repository before the delete and the cache after it.
    let late_pin = pinned_at(&gone, secs(2), 5);
    update(&cache, &late_pin).await;
    assert_eq!(
        pinned(&cache, chat).await,
        Some(vec![kept.clone()]),
        "update_cached after delete_cached does not add the message to the pinned set"
    );

    // A pinned list read before the delete and cached after it, with the delete's pts.
    cache_pinned(&cache, chat, &[late_pin, kept.clone()], 10).await;
    assert_eq!(
        pinned(&cache, chat).await,
        Some(vec![kept]),
        "cache_pinned leaves a deleted message out of the set"
    );
    assert_eq!(
        cached(&cache, gone.id).await,
        None,
        "cache_pinned does not bring the deleted message back"
    );
}
