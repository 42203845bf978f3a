//! The recent window: how it is created, extended, kept in step and dropped.

use webchat_domain::ChatId;

use super::{
    as_of, cache_message, cached, delete, edited, history, message, now, recent, seqs, update,
    warm_up, Made,
};
use crate::RECENT_WINDOW;

pub(super) async fn warm_up_creates_the_window_capped((cache, time): Made) {
    let t = now(&time);
    let chat = ChatId::new();
    assert_eq!(
        recent(&cache, chat, 10).await,
        None,
        "recent is None for a chat without a window"
    );
    let all = history(chat, 60, t);
    warm_up(&cache, chat, &all, as_of(&all)).await;
    let window = recent(&cache, chat, 100)
        .await
        .expect("warm_up creates the window");
    assert_eq!(
        window,
        all[..RECENT_WINDOW].to_vec(),
        "warm_up keeps only the newest RECENT_WINDOW messages, newest first"
    );
    assert_eq!(
        seqs(&recent(&cache, chat, 10).await.expect("window")),
        (51..=60).rev().collect::<Vec<_>>(),
        "recent cuts the window to limit, newest first"
    );

    let short = ChatId::new();
    let three = history(short, 3, t);
    warm_up(&cache, short, &three, 3).await;
    assert_eq!(
        recent(&cache, short, RECENT_WINDOW).await,
        Some(three),
        "a short history is cached whole"
    );
    let replacement = vec![message(short, 5, t), message(short, 4, t)];
    warm_up(&cache, short, &replacement, 5).await;
    assert_eq!(
        recent(&cache, short, RECENT_WINDOW).await,
        Some(replacement),
        "warm_up replaces an existing window"
    );

    let empty = ChatId::new();
    warm_up(&cache, empty, &[], 0).await;
    assert_eq!(
        recent(&cache, empty, 10).await,
        Some(Vec::new()),
        "an empty history is cached as an empty window"
    );
}

pub(super) async fn cache_message_extends_the_window_with_the_next_message((cache, time): Made) {
    let t = now(&time);
    let chat = ChatId::new();
    let all = history(chat, 60, t);
    warm_up(&cache, chat, &all, 60).await;
    let next = message(chat, 61, t);
    cache_message(&cache, &next).await;
    let window = recent(&cache, chat, 100).await.expect("window");
    assert_eq!(
        window.first(),
        Some(&next),
        "the message right after the head becomes the window's head"
    );
    assert_eq!(
        window.len(),
        RECENT_WINDOW,
        "the window stays capped at RECENT_WINDOW"
    );
    assert_eq!(
        window.last().map(|m| m.seq),
        Some(12),
        "the oldest message falls out of a full window"
    );

    let short = ChatId::new();
    warm_up(&cache, short, &history(short, 2, t), 2).await;
    cache_message(&cache, &message(short, 3, t)).await;
    assert_eq!(
        seqs(&recent(&cache, short, 10).await.expect("window")),
        vec![3, 2, 1],
        "a short window grows with the next message"
    );

    let empty = ChatId::new();
    warm_up(&cache, empty, &[], 0).await;
    let one = message(empty, 1, t);
    cache_message(&cache, &one).await;
    assert_eq!(
        recent(&cache, empty, 10).await,
        Some(vec![one]),
        "seq 1 enters an empty window (its head counts as seq 0)"
    );
}

pub(super) async fn cache_message_never_creates_a_window_nor_a_copy((cache, time): Made) {
    let t = now(&time);
    let chat = ChatId::new();
    let first = message(chat, 1, t);
    cache_message(&cache, &first).await;
    assert_eq!(
        recent(&cache, chat, 10).await,
        None,
        "cache_message never creates a window"
    );
    assert_eq!(
        cached(&cache, first.id).await,
        None,
        "cache_message caches no copy by id"
    );
    assert_eq!(
        cache.stats().await.expect("stats").total_cached_messages,
        0,
        "cache_message leaves nothing stats counts"
    );
}

pub(super) async fn cache_message_keeps_the_window_on_a_re_cache((cache, time): Made) {
    let t = now(&time);
    let chat = ChatId::new();
    let all = history(chat, 5, t);
    warm_up(&cache, chat, &all, 5).await;
    for m in [&all[0], &all[2], &all[4]] {
        cache_message(&cache, m).await;
    }
    assert_eq!(
        recent(&cache, chat, 10).await,
        Some(all.clone()),
        "re-caching the head, a middle or the oldest message of the window leaves it as it was"
    );
    let mut same_seq = message(chat, 3, t);
    same_seq.content = "another id with a seq the window holds".to_owned();
    cache_message(&cache, &same_seq).await;
    assert_eq!(
        recent(&cache, chat, 10).await,
        Some(all),
        "a message with a seq the window already holds leaves it as it was"
    );
}

pub(super) async fn cache_message_drops_the_window_on_an_older_message_it_lacks(
    (cache, time): Made,
) {
    let t = now(&time);
    // Send A stored seq 3, send B stored seq 4 and cached it first: the window lacks 3.
    let chat = ChatId::new();
    let all = history(chat, 4, t);
    let holey = vec![all[0].clone(), all[2].clone(), all[3].clone()];
    warm_up(&cache, chat, &holey, 4).await;
    cache_message(&cache, &all[1]).await;
    assert_eq!(
        recent(&cache, chat, 10).await,
        None,
        "an older message the window lacks drops the window"
    );

    let full = ChatId::new();
    let long = history(full, 60, t);
    warm_up(&cache, full, &long, 60).await;
    cache_message(&cache, &long[55]).await;
    assert_eq!(
        recent(&cache, full, 10).await,
        None,
        "a message older than a full window's oldest drops the window too"
    );
}

pub(super) async fn cache_message_drops_the_window_on_a_forward_gap((cache, time): Made) {
    let t = now(&time);
    let chat = ChatId::new();
    warm_up(&cache, chat, &history(chat, 2, t), 2).await;
    cache_message(&cache, &message(chat, 4, t)).await;
    assert_eq!(
        recent(&cache, chat, 10).await,
        None,
        "a message past a missed seq drops the window rather than leave a hole"
    );

    let empty = ChatId::new();
    warm_up(&cache, empty, &[], 0).await;
    cache_message(&cache, &message(empty, 2, t)).await;
    assert_eq!(
        recent(&cache, empty, 10).await,
        None,
        "a message other than seq 1 drops an empty window"
    );
}

pub(super) async fn update_cached_replaces_a_window_entry_only_over_an_older_version(
    (cache, time): Made,
) {
    let t = now(&time);
    let chat = ChatId::new();
    let all = history(chat, 60, t);
    warm_up(&cache, chat, &all, 60).await;

    let newer = edited(&all[2], 100);
    update(&cache, &newer).await;
    let window = recent(&cache, chat, 100).await.expect("window");
    assert_eq!(
        window[2], newer,
        "update_cached replaces an older entry of the window"
    );
    assert_eq!(
        window.len(),
        RECENT_WINDOW,
        "update_cached keeps the window's size"
    );

    update(&cache, &edited(&all[2], 90)).await;
    assert_eq!(
        recent(&cache, chat, 100).await,
        Some(window.clone()),
        "update_cached with an older version than the window's entry leaves the window as it was"
    );

    update(&cache, &edited(&all[59], 101)).await;
    assert_eq!(
        recent(&cache, chat, 100).await,
        Some(window),
        "editing a message outside the window leaves the window as it was"
    );

    let elsewhere = ChatId::new();
    update(&cache, &edited(&message(elsewhere, 1, t), 2)).await;
    assert_eq!(
        recent(&cache, elsewhere, 10).await,
        None,
        "update_cached never creates a window"
    );
}

pub(super) async fn delete_cached_drops_the_window((cache, time): Made) {
    let t = now(&time);
    let (chat, other) = (ChatId::new(), ChatId::new());
    let all = history(chat, 5, t);
    warm_up(&cache, chat, &all, 5).await;
    warm_up(&cache, other, &history(other, 3, t), 3).await;

    delete(&cache, &all[1], 6).await;
    assert_eq!(
        recent(&cache, chat, 10).await,
        None,
        "delete_cached drops the chat's window"
    );
    assert!(
        recent(&cache, other, 10).await.is_some(),
        "delete_cached keeps other chats' windows"
    );
}
