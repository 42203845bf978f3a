//! `touch` reports when activity brought a user back online, so the caller can
//! announce it: after the cleanup or `clear_all` took a still-connected user offline.

use webchat_domain::{PresenceStatus, UserId};

use super::{all_online, instance, is_online, online, socket, status, Made};

pub(super) async fn refreshes_without_changing_the_status((store, _): Made) {
    let live = instance("touchy");
    let user = UserId::new();
    let s = socket(&live);
    online(&store, user, &s).await;
    store
        .set_status(user, PresenceStatus::Away)
        .await
        .expect("set_status")
        .expect("a connected user can be away");

    let refreshed = store.touch(user, &s).await.expect("touch");
    assert!(
        !refreshed.changed,
        "touch of an away user is an ordinary refresh"
    );
    assert_eq!(
        (refreshed.presence.user_id, refreshed.presence.status),
        (user, PresenceStatus::Away),
        "touch keeps away as away and returns the record"
    );
    assert_eq!(status(&store, user).await, Some(PresenceStatus::Away));

    // Another socket of an online user: registered, still no change.
    let other = socket(&live);
    assert!(!store.touch(user, &other).await.expect("touch").changed);
    assert!(
        !store
            .set_offline(user, &s)
            .await
            .expect("set_offline")
            .changed,
        "the socket registered by touch keeps the user online"
    );
}

pub(super) async fn brings_back_a_user_the_cleanup_took_offline((store, _): Made) {
    // An instance whose heartbeat lapsed: the cleanup takes its users offline.
    let lagging = instance("lagging");
    let user = UserId::new();
    let s = socket(&lagging);
    online(&store, user, &s).await;
    let cleaned = store.cleanup_stale().await.expect("cleanup_stale");
    assert_eq!(
        cleaned.iter().map(|p| p.user_id).collect::<Vec<_>>(),
        vec![user],
        "the cleanup took the user of a silent instance offline"
    );
    assert_eq!(status(&store, user).await, Some(PresenceStatus::Offline));

    // The instance recovers and the socket shows activity.
    store
        .heartbeat_instance(&lagging)
        .await
        .expect("heartbeat_instance");
    let back = store.touch(user, &s).await.expect("touch");
    assert!(
        back.changed,
        "touch of a user whose record is offline is a change"
    );
    assert_eq!(
        (back.presence.user_id, back.presence.status),
        (user, PresenceStatus::Online),
        "touch returns the new online record"
    );
    assert!(is_online(&store, user).await);
    assert!(
        store
            .cleanup_stale()
            .await
            .expect("cleanup_stale")
            .is_empty(),
        "the re-registered socket of a live instance survives the cleanup"
    );
    assert!(
        !store.touch(user, &s).await.expect("touch").changed,
        "once back online, touch is an ordinary refresh again"
    );
}

pub(super) async fn brings_back_a_user_after_clear_all((store, _): Made) {
    let live = instance("cleared");
    store
        .heartbeat_instance(&live)
        .await
        .expect("heartbeat_instance");
    let user = UserId::new();
    let s = socket(&live);
    online(&store, user, &s).await;
    store.clear_all().await.expect("clear_all");
    assert!(!is_online(&store, user).await);

    let back = store.touch(user, &s).await.expect("touch");
    assert!(back.changed, "touch after clear_all is a change");
    assert_eq!(
        (back.presence.user_id, back.presence.status),
        (user, PresenceStatus::Online),
        "touch after clear_all returns the new online record"
    );
    assert!(is_online(&store, user).await);
    assert_eq!(
        all_online(&store)
            .await
            .iter()
            .map(|p| p.user_id)
            .collect::<Vec<_>>(),
        vec![user],
        "touch after clear_all lists the user online again"
    );
    assert!(
        store
            .set_offline(user, &s)
            .await
            .expect("set_offline")
            .changed,
        "touch after clear_all re-registered the socket"
    );
}
