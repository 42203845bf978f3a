//! The recent window: how it is created, extended, kept in step and dropped.

use webchat_domain::ChatId;

use super::{cached, history, message, now, recent, seqs, Made};
use crate::RECENT_WINDOW;

pub(super) async fn warms_up_and_caps_the_window((cache, time): Made) {
    let t = now(&time);
    let chat = ChatId::new();
    let all = history(chat, 60, t);
    cache.warm_up(chat, &all).await.expect("warm_up");

    let window = recent(&cache, chat, 100)
        .await
        .expect("warm_up creates the window");
    assert_eq!(
        window.len(),
        RECENT_WINDOW,
        "the window keeps only the newest RECENT_WINDOW messages"
    );
    assert_eq!(
        window,
        all[..RECENT_WINDOW].to_vec(),
        "the window holds the newest messages, newest first"
    );
    assert_eq!(
        seqs(&recent(&cache, chat, 10).await.expect("window")),
        (51..=60).rev().collect::<Vec<_>>(),
        "recent cuts the window to limit, newest first"
    );
    assert_eq!(
        recent(&cache, ChatId::new(), 10).await,
        None,
        "recent is None for a chat without a window"
    );

    let short = ChatId::new();
    cache
        .warm_up(short, &history(short, 3, t))
        .await
        .expect("warm_up");
    assert_eq!(
        seqs(&recent(&cache, short, RECENT_WINDOW).await.expect("window")),
        vec![3, 2, 1],
        "a short history is cached whole"
    );
    let replacement = vec![message(short, 5, t), message(short, 4, t)];
    cache.warm_up(short, &replacement).await.expect("warm_up");
    assert_eq!(
        recent(&cache, short, RECENT_WINDOW).await,
        Some(replacement),
        "warm_up replaces an existing window"
    );
}

pub(super) async fn extends_the_window_with_the_next_message((cache, time): Made) {
    let t = now(&time);
    let chat = ChatId::new();
    let first = message(chat, 1, t);
    cache.cache_message(&first).await.expect("cache_message");
    assert_eq!(
        recent(&cache, chat, 10).await,
        None,
        "cache_message never creates a window"
    );
    assert_eq!(
        cached(&cache, first.id).await,
        Some(first.clone()),
        "cache_message caches by id"
    );

    let all = history(chat, 60, t);
    cache.warm_up(chat, &all).await.expect("warm_up");
    let next = message(chat, 61, t);
    cache.cache_message(&next).await.expect("cache_message");
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
    cache
        .warm_up(short, &history(short, 2, t))
        .await
        .expect("warm_up");
    cache
        .cache_message(&message(short, 3, t))
        .await
        .expect("cache_message");
    assert_eq!(
        seqs(&recent(&cache, short, 10).await.expect("window")),
        vec![3, 2, 1],
        "a short window grows with the next message"
    );

    let empty = ChatId::new();
    cache.warm_up(empty, &[]).await.expect("warm_up");
    assert_eq!(
        recent(&cache, empty, 10).await,
        Some(Vec::new()),
        "an empty history is cached as an empty window"
    );
    let one = message(empty, 1, t);
    cache.cache_message(&one).await.expect("cache_message");
    assert_eq!(
        recent(&cache, empty, 10).await,
        Some(vec![one]),
        "seq 1 enters an empty window"
    );
}

pub(super) async fn keeps_the_window_on_a_re_cache((cache, time): Made) {
    let t = now(&time);
    let chat = ChatId::new();
    let all = history(chat, 5, t);
    cache.warm_up(chat, &all).await.expect("warm_up");

    cache.cache_message(&all[0]).await.expect("cache_message");
    cache.cache_message(&all[2]).await.expect("cache_message");
    cache.cache_message(&all[4]).await.expect("cache_message");
    assert_eq!(
        recent(&cache, chat, 10).await,
        Some(all.clone()),
        "re-caching the head, a middle or the oldest message of the window leaves it as it was"
    );
    assert_eq!(
        cached(&cache, all[2].id).await,
        Some(all[2].clone()),
        "a re-cached message is cached by id"
    );
}

pub(super) async fn drops_the_window_on_an_out_of_order_older_message((cache, time): Made) {
    let t = now(&time);
    // Send A stored seq 3, send B stored seq 4 and cached it first: the window lacks 3.
    let chat = ChatId::new();
    let all = history(chat, 4, t);
    let holey = vec![all[0].clone(), all[2].clone(), all[3].clone()];
    cache.warm_up(chat, &holey).await.expect("warm_up");
    cache.cache_message(&all[1]).await.expect("cache_message");
    assert_eq!(
        recent(&cache, chat, 10).await,
        None,
        "an older message the window lacks drops the window"
    );
    assert_eq!(
        cached(&cache, all[1].id).await,
        Some(all[1].clone()),
        "the late message is still cached by id"
    );

    let full = ChatId::new();
    let long = history(full, 60, t);
    cache.warm_up(full, &long).await.expect("warm_up");
    cache.cache_message(&long[55]).await.expect("cache_message");
    assert_eq!(
        recent(&cache, full, 10).await,
        None,
        "a message older than a full window's oldest drops the window too"
    );
}

pub(super) async fn drops_the_window_on_a_forward_gap((cache, time): Made) {
    let t = now(&time);
    let chat = ChatId::new();
    cache
        .warm_up(chat, &history(chat, 2, t))
        .await
        .expect("warm_up");
    let past_a_gap = message(chat, 4, t);
    cache
        .cache_message(&past_a_gap)
        .await
        .expect("cache_message");
    assert_eq!(
        recent(&cache, chat, 10).await,
        None,
        "a message past a missed seq drops the window rather than leave a hole"
    );
    assert_eq!(
        cached(&cache, past_a_gap.id).await,
        Some(past_a_gap),
        "the message past the gap is still cached by id"
    );

    let empty = ChatId::new();
    cache.warm_up(empty, &[]).await.expect("warm_up");
    cache
        .cache_message(&message(empty, 2, t))
        .await
        .expect("cache_message");
    assert_eq!(
        recent(&cache, empty, 10).await,
        None,
        "a message other than seq 1 drops an empty window"
    );
}

pub(super) async fn keeps_edits_in_step((cache, time): Made) {
    let t = now(&time);
    let chat = ChatId::new();
    let all = history(chat, 60, t);
    cache.cache_many(&all).await.expect("cache_many");
    cache.warm_up(chat, &all).await.expect("warm_up");

    let mut edited = all[2].clone();
    edited.content = "edited in the window".to_owned();
    edited.edited_at = Some(t);
    cache.update_cached(&edited).await.expect("update_cached");
    let window = recent(&cache, chat, 100).await.expect("window");
    assert_eq!(
        window[2], edited,
        "update_cached replaces the message in the window"
    );
    assert_eq!(
        window.len(),
        RECENT_WINDOW,
        "update_cached keeps the window's size"
    );
    assert_eq!(
        cached(&cache, edited.id).await,
        Some(edited),
        "update_cached replaces the cached entry"
    );

    let mut outside = all[59].clone();
    outside.content = "edited outside the window".to_owned();
    cache.update_cached(&outside).await.expect("update_cached");
    assert_eq!(
        cached(&cache, outside.id).await,
        Some(outside.clone()),
        "update_cached replaces an entry outside the window"
    );
    assert_eq!(
        recent(&cache, chat, 100).await,
        Some(window),
        "editing a message outside the window leaves the window as it was"
    );

    let elsewhere = ChatId::new();
    let lone = message(elsewhere, 1, t);
    cache.update_cached(&lone).await.expect("update_cached");
    assert_eq!(
        recent(&cache, elsewhere, 10).await,
        None,
        "update_cached never creates a window"
    );
}

pub(super) async fn drops_the_window_on_delete((cache, time): Made) {
    let t = now(&time);
    let (chat, other) = (ChatId::new(), ChatId::new());
    let all = history(chat, 5, t);
    for m in &all {
        cache.cache_message(m).await.expect("cache_message");
    }
    cache.warm_up(chat, &all).await.expect("warm_up");
    cache
        .warm_up(other, &history(other, 3, t))
        .await
        .expect("warm_up");

    cache
        .delete_cached(chat, all[1].id)
        .await
        .expect("delete_cached");
    assert_eq!(
        cached(&cache, all[1].id).await,
        None,
        "delete_cached forgets the message"
    );
    assert_eq!(
        recent(&cache, chat, 10).await,
        None,
        "delete_cached drops the chat's window"
    );
    assert_eq!(
        cached(&cache, all[0].id).await,
        Some(all[0].clone()),
        "delete_cached keeps other messages"
    );
    assert!(
        recent(&cache, other, 10).await.is_some(),
        "delete_cached keeps other chats' windows"
    );
}
