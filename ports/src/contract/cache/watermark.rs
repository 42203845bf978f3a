//! The watermark: every authoritative write raises it; a tentative write read when
//! the chat stood below it (`as_of` < watermark) changes nothing.

use webchat_domain::ChatId;

use super::{
    cache_message, cache_pinned, delete, edited, history, message, now, pinned, pinned_at, read,
    recent, seqs, update, warm_up, warm_up_takes, Made,
};

pub(super) async fn warm_up_read_before_a_write_through_changes_nothing((cache, time): Made) {
    let t = now(&time);
    let chat = ChatId::new();
    let all = history(chat, 3, t);
    warm_up(&cache, chat, &all, 3).await;
    let fourth = message(chat, 4, t);
    cache_message(&cache, &fourth).await;

    // A reader that read the repository at pts 3 and warms up after the send.
    warm_up(&cache, chat, &all, 3).await;
    assert_eq!(
        seqs(&recent(&cache, chat, 10).await.expect("window")),
        vec![4, 3, 2, 1],
        "warm_up with as_of below the watermark leaves the existing window as it was"
    );

    let fresh = ChatId::new();
    let first = message(fresh, 1, t);
    cache_message(&cache, &first).await;
    warm_up(&cache, fresh, &[], 0).await;
    assert_eq!(
        recent(&cache, fresh, 10).await,
        None,
        "warm_up with as_of below the watermark creates no window (cache_message raised it)"
    );
    warm_up(&cache, fresh, std::slice::from_ref(&first), 1).await;
    assert_eq!(
        recent(&cache, fresh, 10).await,
        Some(vec![first.clone()]),
        "warm_up with as_of at the watermark creates the window"
    );
    let later = vec![message(fresh, 2, t), first];
    warm_up(&cache, fresh, &later, 5).await;
    assert_eq!(
        recent(&cache, fresh, 10).await,
        Some(later),
        "warm_up with as_of above the watermark replaces the window"
    );

    let other = ChatId::new();
    assert!(
        warm_up_takes(&cache, other, 0).await,
        "a write-through in one chat leaves other chats' watermarks alone"
    );
}

pub(super) async fn cache_pinned_read_before_a_write_through_changes_nothing((cache, time): Made) {
    let t = now(&time);
    let chat = ChatId::new();
    let m = history(chat, 2, t);
    let pin = pinned_at(&m[0], Some(t), 5);
    update(&cache, &pin).await;

    cache_pinned(&cache, chat, &[], 4).await;
    assert_eq!(
        pinned(&cache, chat).await,
        None,
        "cache_pinned with as_of below the watermark caches no set"
    );
    cache_pinned(&cache, chat, std::slice::from_ref(&pin), 5).await;
    assert_eq!(
        pinned(&cache, chat).await,
        Some(vec![pin.clone()]),
        "cache_pinned with as_of at the watermark caches the set"
    );
    cache_pinned(&cache, chat, &[], 4).await;
    assert_eq!(
        pinned(&cache, chat).await,
        Some(vec![pin.clone()]),
        "cache_pinned with as_of below the watermark leaves the cached set as it was"
    );
    cache_pinned(&cache, chat, &[], 6).await;
    assert_eq!(
        pinned(&cache, chat).await,
        Some(Vec::new()),
        "cache_pinned with as_of above the watermark replaces the set"
    );
}

pub(super) async fn update_cached_raises_the_watermark((cache, time): Made) {
    let t = now(&time);
    let chat = ChatId::new();
    let m = message(chat, 1, t);
    update(&cache, &edited(&m, 7)).await;
    assert!(
        !warm_up_takes(&cache, chat, 6).await,
        "update_cached raises the watermark to the message's version"
    );
    assert!(
        warm_up_takes(&cache, chat, 7).await,
        "update_cached raises the watermark no higher than the message's version"
    );
}

pub(super) async fn delete_cached_raises_the_watermark((cache, time): Made) {
    let t = now(&time);
    let chat = ChatId::new();
    let m = message(chat, 1, t);
    delete(&cache, &m, 9).await;
    cache_pinned(&cache, chat, &[], 8).await;
    assert_eq!(
        pinned(&cache, chat).await,
        None,
        "delete_cached raises the watermark to the delete's version (cache_pinned refused)"
    );
    assert!(
        !warm_up_takes(&cache, chat, 8).await,
        "delete_cached raises the watermark to the delete's version (warm_up refused)"
    );
    assert!(
        warm_up_takes(&cache, chat, 9).await,
        "delete_cached raises the watermark no higher than the delete's version"
    );
}

pub(super) async fn tentative_writes_leave_the_watermark_alone((cache, time): Made) {
    let t = now(&time);
    let chat = ChatId::new();
    let all = history(chat, 3, t);
    warm_up(&cache, chat, &all, 50).await;
    cache_pinned(&cache, chat, &[], 50).await;
    read(&cache, &[edited(&all[0], 60)]).await;
    assert!(
        warm_up_takes(&cache, chat, 3).await,
        "warm_up, cache_pinned and cache_read do not raise the watermark"
    );
}
