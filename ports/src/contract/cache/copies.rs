//! Copies by id: `cache_read` fills what is missing (tentative), `update_cached`
//! writes over older versions and fences a missing copy (authoritative).

use webchat_domain::ChatId;

use super::{cached, edited, history, message, now, pinned, read, recent, update, warm_up, Made};

pub(super) async fn cache_read_fills_missing_copies((cache, time): Made) {
    let t = now(&time);
    let chat = ChatId::new();
    let all = history(chat, 4, t);
    assert_eq!(
        cached(&cache, all[0].id).await,
        None,
        "get_cached misses a message never cached"
    );
    read(&cache, &all).await;
    for m in &all {
        assert_eq!(
            cached(&cache, m.id).await.as_ref(),
            Some(m),
            "cache_read caches every message it is given by id"
        );
    }
    assert_eq!(
        recent(&cache, chat, 10).await,
        None,
        "cache_read creates no window"
    );
    assert_eq!(
        pinned(&cache, chat).await,
        None,
        "cache_read creates no pinned set"
    );
    read(&cache, &[]).await;
}

pub(super) async fn cache_read_never_replaces_a_cached_copy((cache, time): Made) {
    let t = now(&time);
    let chat = ChatId::new();
    let m = message(chat, 1, t);
    read(&cache, std::slice::from_ref(&m)).await;
    read(&cache, &[edited(&m, 5)]).await;
    assert_eq!(
        cached(&cache, m.id).await,
        Some(m.clone()),
        "cache_read only fills a missing copy: a cached copy stays, even an older one"
    );

    let fenced = message(chat, 2, t);
    let newer = edited(&fenced, 7);
    update(&cache, &newer).await;
    read(&cache, std::slice::from_ref(&fenced)).await;
    assert_eq!(
        cached(&cache, fenced.id).await,
        Some(newer),
        "cache_read never puts an older version over the copy update_cached wrote"
    );
}

pub(super) async fn update_cached_replaces_an_older_read_copy((cache, time): Made) {
    let t = now(&time);
    let chat = ChatId::new();
    let m = message(chat, 1, t);
    read(&cache, std::slice::from_ref(&m)).await;
    let newer = edited(&m, 4);
    update(&cache, &newer).await;
    assert_eq!(
        cached(&cache, m.id).await,
        Some(newer),
        "update_cached replaces an older read copy"
    );
}

pub(super) async fn update_cached_over_a_newer_copy_changes_nothing((cache, time): Made) {
    let t = now(&time);
    let chat = ChatId::new();
    let all = history(chat, 3, t);
    warm_up(&cache, chat, &all, 3).await;
    let newest = edited(&all[1], 9);
    update(&cache, &newest).await;
    let window = recent(&cache, chat, 10).await.expect("window");

    update(&cache, &edited(&all[1], 8)).await;
    assert_eq!(
        cached(&cache, newest.id).await,
        Some(newest.clone()),
        "update_cached with an older version leaves a newer copy as it was"
    );
    assert_eq!(
        recent(&cache, chat, 10).await,
        Some(window),
        "update_cached with an older version leaves the window as it was"
    );
}

pub(super) async fn update_cached_fences_a_missing_copy((cache, time): Made) {
    let t = now(&time);
    let chat = ChatId::new();
    // A reader fetched v1 from the repository, then the edit to v2 committed and
    // was written through before the reader's cache_read.
    let v1 = message(chat, 1, t);
    let v2 = edited(&v1, 2);
    update(&cache, &v2).await;
    assert_eq!(
        cached(&cache, v1.id).await,
        Some(v2.clone()),
        "update_cached writes the copy even when none was cached"
    );
    read(&cache, std::slice::from_ref(&v1)).await;
    assert_eq!(
        cached(&cache, v1.id).await,
        Some(v2),
        "a cache_read of the older version after update_cached's fence is refused"
    );
}
