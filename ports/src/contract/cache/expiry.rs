//! Lifetimes (store made with ttl 2 s, read_ttl 1 s): copies by id live `read_ttl`;
//! windows, pinned sets, indexes and tombstones live `ttl`; a write-through renews
//! its window's ttl.

use std::time::Duration;

use webchat_domain::ChatId;

use super::{
    cache_message, cache_pinned, cached, delete, edited, history, message, now, pinned, pinned_at,
    read, recent, update, warm_up, Made,
};
use crate::CacheStats;

pub(super) async fn entries_live_their_lifetimes((cache, time): Made) {
    let t = now(&time);
    let (reads, stale, busy, elsewhere) =
        (ChatId::new(), ChatId::new(), ChatId::new(), ChatId::new());
    let copy = message(reads, 1, t);
    read(&cache, std::slice::from_ref(&copy)).await;
    let fence = edited(&message(reads, 2, t), 5);
    update(&cache, &fence).await;
    let in_stale = history(stale, 3, t);
    warm_up(&cache, stale, &in_stale, 3).await;
    cache_pinned(&cache, stale, &[pinned_at(&in_stale[0], Some(t), 3)], 3).await;
    let in_busy = history(busy, 3, t);
    warm_up(&cache, busy, &in_busy, 3).await;
    let dead = message(elsewhere, 1, t);
    delete(&cache, &dead, 2).await;

    time.advance(Duration::from_millis(500)).await;
    assert_eq!(
        cached(&cache, copy.id).await,
        Some(copy.clone()),
        "a read copy lives until read_ttl"
    );
    assert_eq!(
        cached(&cache, fence.id).await,
        Some(fence.clone()),
        "the copy update_cached wrote lives until read_ttl"
    );

    time.advance(Duration::from_millis(700)).await;
    assert_eq!(
        cached(&cache, copy.id).await,
        None,
        "a read copy expires after read_ttl"
    );
    assert_eq!(
        cached(&cache, fence.id).await,
        None,
        "the copy update_cached wrote expires after read_ttl"
    );
    assert!(
        recent(&cache, stale, 10).await.is_some(),
        "a window lives until the ttl"
    );
    assert!(
        pinned(&cache, stale).await.is_some(),
        "a pinned set lives until the ttl"
    );
    read(&cache, std::slice::from_ref(&dead)).await;
    assert_eq!(
        cached(&cache, dead.id).await,
        None,
        "a tombstone lives until the ttl"
    );
    let next = message(busy, 4, now(&time));
    cache_message(&cache, &next).await;

    time.advance(Duration::from_millis(1000)).await;
    assert_eq!(
        recent(&cache, stale, 10).await,
        None,
        "a window expires after the ttl"
    );
    assert_eq!(
        pinned(&cache, stale).await,
        None,
        "a pinned set expires after the ttl"
    );
    assert_eq!(
        recent(&cache, busy, 10)
            .await
            .and_then(|w| w.first().cloned()),
        Some(next),
        "a write-through into the window renews its ttl"
    );
    assert_eq!(
        cache.stats().await.expect("stats"),
        CacheStats::default(),
        "indexes expire after the ttl"
    );
    read(&cache, std::slice::from_ref(&dead)).await;
    assert_eq!(
        cached(&cache, dead.id).await,
        Some(dead),
        "a tombstone expires after the ttl"
    );
}
