//! Whole chats and the whole cache: the index bound, `invalidate_chat`, `stats` and
//! `clear_all`.

use webchat_domain::ChatId;

use super::{
    cache_message, cache_pinned, cached, delete, edited, history, message, now, pinned, pinned_at,
    read, recent, update, warm_up, warm_up_takes, Made,
};
use crate::{CacheStats, INDEX_LIMIT};

pub(super) async fn the_index_keeps_the_newest_seqs((cache, time): Made) {
    let t = now(&time);
    let chat = ChatId::new();
    let over = 100;
    let all = history(chat, (INDEX_LIMIT + over) as i64, t);
    read(&cache, &all).await;
    assert_eq!(
        cache.stats().await.expect("stats"),
        CacheStats {
            total_cached_messages: (INDEX_LIMIT + over) as u64,
            total_chats: 1
        },
        "cache_read caches every copy, also past INDEX_LIMIT"
    );
    let window = history(chat, 3, t);
    warm_up(&cache, chat, &window, 3).await;
    cache_pinned(&cache, chat, &[pinned_at(&all[0], Some(t), 2000)], 2000).await;

    cache.invalidate_chat(chat).await.expect("invalidate_chat");
    let (newest, oldest) = all.split_at(INDEX_LIMIT);
    for m in newest {
        assert_eq!(
            cached(&cache, m.id).await,
            None,
            "invalidate_chat forgets every copy the index holds (the newest INDEX_LIMIT seqs)"
        );
    }
    for m in oldest {
        assert_eq!(
            cached(&cache, m.id).await.as_ref(),
            Some(m),
            "the index holds only the newest INDEX_LIMIT seqs: older copies are left to expire"
        );
    }
    assert_eq!(
        recent(&cache, chat, 10).await,
        None,
        "invalidate_chat of a chat with more than INDEX_LIMIT copies drops its window"
    );
    assert_eq!(
        pinned(&cache, chat).await,
        None,
        "invalidate_chat of a chat with more than INDEX_LIMIT copies drops its pinned set"
    );
}

pub(super) async fn invalidate_chat_forgets_one_chat((cache, time): Made) {
    let t = now(&time);
    let (gone, kept) = (ChatId::new(), ChatId::new());
    let mut fills = Vec::new();
    for chat in [gone, kept] {
        let all = history(chat, 4, t);
        warm_up(&cache, chat, &all[1..], 3).await;
        cache_message(&cache, &all[0]).await;
        read(&cache, &all).await;
        cache_pinned(&cache, chat, &[pinned_at(&all[1], Some(t), 4)], 4).await;
        delete(&cache, &all[3], 6).await;
        warm_up(&cache, chat, &all[..3], 6).await;
        fills.push(all);
    }

    cache.invalidate_chat(gone).await.expect("invalidate_chat");
    for m in &fills[0][..3] {
        assert_eq!(
            cached(&cache, m.id).await,
            None,
            "invalidate_chat forgets the chat's copies"
        );
    }
    assert_eq!(
        recent(&cache, gone, 10).await,
        None,
        "invalidate_chat drops the window"
    );
    assert_eq!(
        pinned(&cache, gone).await,
        None,
        "invalidate_chat drops the pinned set"
    );
    read(&cache, &fills[0][3..]).await;
    assert_eq!(
        cached(&cache, fills[0][3].id).await,
        None,
        "invalidate_chat keeps the chat's tombstones"
    );
    for m in &fills[1][..3] {
        assert_eq!(
            cached(&cache, m.id).await.as_ref(),
            Some(m),
            "invalidate_chat keeps other chats' copies"
        );
    }
    assert_eq!(
        recent(&cache, kept, 10).await.map(|w| w.len()),
        Some(3),
        "invalidate_chat keeps other chats' windows"
    );
    assert!(
        pinned(&cache, kept).await.is_some(),
        "invalidate_chat keeps other chats' pinned sets"
    );
    assert_eq!(
        cache.stats().await.expect("stats"),
        CacheStats {
            total_cached_messages: 3,
            total_chats: 1
        },
        "stats no longer count an invalidated chat"
    );
    assert!(
        !warm_up_takes(&cache, gone, 5).await,
        "invalidate_chat keeps the chat's watermark"
    );
}

pub(super) async fn stats_count_read_copies_and_their_chats((cache, time): Made) {
    let t = now(&time);
    assert_eq!(
        cache.stats().await.expect("stats"),
        CacheStats::default(),
        "a fresh cache counts nothing"
    );
    let (a, b, c, d) = (ChatId::new(), ChatId::new(), ChatId::new(), ChatId::new());
    let in_a = history(a, 3, t);
    read(&cache, &in_a).await;
    read(&cache, &history(b, 2, t)).await;
    let in_c = history(c, 2, t);
    warm_up(&cache, c, &in_c, 2).await;
    cache_message(&cache, &message(c, 3, t)).await;
    cache_pinned(&cache, c, &[pinned_at(&in_c[0], Some(t), 2)], 3).await;
    assert_eq!(
        cache.stats().await.expect("stats"),
        CacheStats {
            total_cached_messages: 5,
            total_chats: 2
        },
        "stats count read copies and their chats, not windows, pinned sets or write-throughs"
    );

    delete(&cache, &in_a[0], 4).await;
    assert_eq!(
        cache.stats().await.expect("stats").total_cached_messages,
        4,
        "stats no longer count a deleted message"
    );

    update(&cache, &edited(&message(d, 1, t), 2)).await;
    assert_eq!(
        cache.stats().await.expect("stats"),
        CacheStats {
            total_cached_messages: 5,
            total_chats: 3
        },
        "the copy update_cached writes is a copy by id like any other"
    );
}

pub(super) async fn clear_all_removes_everything((cache, time): Made) {
    let t = now(&time);
    let (a, b) = (ChatId::new(), ChatId::new());
    let (in_a, in_b) = (history(a, 3, t), history(b, 2, t));
    read(&cache, &in_a).await;
    read(&cache, &in_b).await;
    warm_up(&cache, a, &in_a, 3).await;
    cache_pinned(&cache, b, &[pinned_at(&in_b[0], Some(t), 2)], 2).await;
    delete(&cache, &in_a[2], 7).await;

    let removed = cache.clear_all().await.expect("clear_all");
    assert!(
        removed >= 4,
        "clear_all counts what it removed, got {removed}"
    );
    assert_eq!(
        cache.stats().await.expect("stats"),
        CacheStats::default(),
        "nothing is counted after clear_all"
    );
    assert_eq!(
        cached(&cache, in_b[0].id).await,
        None,
        "clear_all forgets every copy"
    );
    assert_eq!(
        recent(&cache, a, 10).await,
        None,
        "clear_all drops every window"
    );
    assert_eq!(
        pinned(&cache, b).await,
        None,
        "clear_all drops every pinned set"
    );
    read(&cache, &in_a[2..]).await;
    assert_eq!(
        cached(&cache, in_a[2].id).await,
        Some(in_a[2].clone()),
        "clear_all removes tombstones too"
    );
    assert!(
        warm_up_takes(&cache, a, 0).await,
        "clear_all removes watermarks too"
    );
}
