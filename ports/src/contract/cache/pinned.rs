//! The pinned set: replaced by `cache_pinned`, kept in step by `update_cached` (each
//! membership change only over an older version), emptied of deleted messages.

use webchat_domain::ChatId;

use super::{cache_pinned, delete, edited, history, ids, now, pinned, pinned_at, update, Made};

pub(super) async fn lists_pins_newest_pin_first((cache, time): Made) {
    let t = now(&time);
    let secs = |n| Some(t + chrono::Duration::seconds(n));
    let chat = ChatId::new();
    assert_eq!(
        pinned(&cache, chat).await,
        None,
        "pinned is None until a set is cached"
    );
    let m = history(chat, 5, t);
    let (p1, p2, p3, p4) = (
        pinned_at(&m[4], secs(1), 11),
        pinned_at(&m[3], secs(3), 12),
        pinned_at(&m[2], secs(2), 13),
        pinned_at(&m[1], secs(3), 14),
    );
    let not_pinned = m[0].clone();
    cache_pinned(
        &cache,
        chat,
        &[p1.clone(), p2.clone(), not_pinned, p3.clone(), p4.clone()],
        14,
    )
    .await;
    assert_eq!(
        pinned(&cache, chat).await,
        Some(vec![p4, p2, p3, p1]),
        "pinned lists newest pin first, then higher seq first, leaving out unpinned messages"
    );

    let empty = ChatId::new();
    cache_pinned(&cache, empty, &[], 0).await;
    assert_eq!(
        pinned(&cache, empty).await,
        Some(Vec::new()),
        "nothing pinned is cached as an empty set"
    );
}

pub(super) async fn the_pinned_set_follows_update_cached((cache, time): Made) {
    let t = now(&time);
    let secs = |n| Some(t + chrono::Duration::seconds(n));
    let chat = ChatId::new();
    let m = history(chat, 5, t);
    let (p1, p2) = (pinned_at(&m[4], secs(1), 11), pinned_at(&m[3], secs(2), 12));
    cache_pinned(&cache, chat, &[p1.clone(), p2.clone()], 12).await;

    let p3 = pinned_at(&m[2], secs(3), 20);
    update(&cache, &p3).await;
    assert_eq!(
        pinned(&cache, chat).await.map(|p| ids(&p)),
        Some(vec![p3.id, p2.id, p1.id]),
        "update_cached of a newly pinned message adds it to the pinned set"
    );
    update(&cache, &pinned_at(&p2, None, 21)).await;
    assert_eq!(
        pinned(&cache, chat).await.map(|p| ids(&p)),
        Some(vec![p3.id, p1.id]),
        "update_cached of an unpinned message takes it out of the pinned set"
    );
    let p1_edited = edited(&p1, 22);
    update(&cache, &p1_edited).await;
    assert_eq!(
        pinned(&cache, chat).await,
        Some(vec![p3.clone(), p1_edited.clone()]),
        "update_cached of a pinned message replaces it in the pinned set"
    );
    update(&cache, &pinned_at(&p3, None, 23)).await;
    update(&cache, &pinned_at(&p1_edited, None, 24)).await;
    assert_eq!(
        pinned(&cache, chat).await,
        Some(Vec::new()),
        "unpinning every member leaves an empty set cached"
    );

    let elsewhere = ChatId::new();
    let other = history(elsewhere, 1, t);
    update(&cache, &pinned_at(&other[0], secs(1), 2)).await;
    assert_eq!(
        pinned(&cache, elsewhere).await,
        None,
        "update_cached never creates a pinned set"
    );
}

pub(super) async fn stale_pin_changes_stay_out((cache, time): Made) {
    let t = now(&time);
    let secs = |n| Some(t + chrono::Duration::seconds(n));
    let chat = ChatId::new();
    let m = history(chat, 4, t);
    let p1 = pinned_at(&m[3], secs(1), 11);
    cache_pinned(&cache, chat, std::slice::from_ref(&p1), 11).await;

    // An older version of a member: an unpin that committed before its latest edit.
    let p1_edited = edited(&p1, 13);
    update(&cache, &p1_edited).await;
    update(&cache, &pinned_at(&p1, None, 12)).await;
    assert_eq!(
        pinned(&cache, chat).await,
        Some(vec![p1_edited.clone()]),
        "update_cached with an older version than a member's leaves the set as it was"
    );

    // A pin and its unpin written through in the wrong order.
    let pin = pinned_at(&m[2], secs(2), 14);
    update(&cache, &pinned_at(&pin, None, 15)).await;
    update(&cache, &pin).await;
    assert_eq!(
        pinned(&cache, chat).await,
        Some(vec![p1_edited.clone()]),
        "a pin older than the unpin written through before it stays out of the set"
    );

    // A pin the set already reflects: the set was read after it (and after an unpin).
    let read_later = ChatId::new();
    let n = history(read_later, 2, t);
    let late = pinned_at(&n[0], secs(3), 5);
    cache_pinned(&cache, read_later, &[], 9).await;
    update(&cache, &late).await;
    assert_eq!(
        pinned(&cache, read_later).await,
        Some(Vec::new()),
        "a pin with a version the set was read after stays out of the set"
    );
}

pub(super) async fn delete_cached_takes_the_message_out((cache, time): Made) {
    let t = now(&time);
    let secs = |n| Some(t + chrono::Duration::seconds(n));
    let chat = ChatId::new();
    let m = history(chat, 3, t);
    let (p1, p2) = (pinned_at(&m[2], secs(1), 4), pinned_at(&m[1], secs(2), 5));
    cache_pinned(&cache, chat, &[p1.clone(), p2.clone()], 5).await;
    delete(&cache, &p2, 6).await;
    assert_eq!(
        pinned(&cache, chat).await,
        Some(vec![p1]),
        "delete_cached takes the message out of the pinned set"
    );
}
