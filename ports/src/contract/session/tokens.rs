use std::time::Duration;

use webchat_domain::{SessionId, TokenFingerprint, UserId};

use super::{create, lasting, now, secs, session, Made};
use crate::contract::fixtures::tag;

pub(super) async fn blacklists_tokens_and_authorizes((store, time): Made) {
    let s = lasting(&time, UserId::new());
    create(&store, &s).await;
    let (token, other_token) = (TokenFingerprint::of(&tag()), TokenFingerprint::of(&tag()));

    assert_eq!(
        store.authorize(s.id, &token).await.expect("authorize"),
        Some(s.clone()),
        "authorize returns the live session for a token not blacklisted"
    );
    store
        .blacklist_token(&token, now(&time) + secs(60))
        .await
        .expect("blacklist_token");
    assert_eq!(
        store.authorize(s.id, &token).await.expect("authorize"),
        None,
        "authorize is None for a blacklisted token"
    );
    assert_eq!(
        store
            .authorize(s.id, &other_token)
            .await
            .expect("authorize"),
        Some(s.clone()),
        "authorize still accepts the session with another token"
    );

    let stale = TokenFingerprint::of(&tag());
    store
        .blacklist_token(&stale, now(&time) - secs(1))
        .await
        .expect("blacklist_token");
    assert_eq!(
        store.authorize(s.id, &stale).await.expect("authorize"),
        Some(s.clone()),
        "blacklisting an already expired token stores nothing"
    );

    assert_eq!(
        store
            .authorize(SessionId::new(), &other_token)
            .await
            .expect("authorize"),
        None,
        "authorize is None for an unknown session"
    );
    store.delete(s.id).await.expect("delete");
    assert_eq!(
        store
            .authorize(s.id, &other_token)
            .await
            .expect("authorize"),
        None,
        "authorize is None for a deleted session"
    );
}

pub(super) async fn clears_everything((store, time): Made) {
    let (a, b) = (lasting(&time, UserId::new()), lasting(&time, UserId::new()));
    create(&store, &a).await;
    create(&store, &b).await;
    let token = TokenFingerprint::of(&tag());
    store
        .blacklist_token(&token, now(&time) + secs(60))
        .await
        .expect("blacklist_token");

    let removed = store.clear_all().await.expect("clear_all");
    assert!(
        removed >= 3,
        "clear_all counts the sessions and blacklist entries it removed, got {removed}"
    );
    for s in [&a, &b] {
        assert_eq!(
            store.get(s.id).await.expect("get"),
            None,
            "clear_all removes every session"
        );
        assert!(
            store
                .user_sessions(s.user_id)
                .await
                .expect("user_sessions")
                .is_empty(),
            "clear_all removes every user index"
        );
    }
    let after = lasting(&time, UserId::new());
    create(&store, &after).await;
    assert_eq!(
        store.authorize(after.id, &token).await.expect("authorize"),
        Some(after),
        "clear_all empties the blacklist"
    );
}

pub(super) async fn expires_sessions_and_blacklist_entries((store, time): Made) {
    let user = UserId::new();
    let t = now(&time);
    let short = session(user, t - secs(2), t + secs(2));
    let long = session(user, t - secs(1), t + secs(60));
    let extended = session(user, t, t + secs(2));
    for s in [&short, &long, &extended] {
        create(&store, s).await;
    }
    let mut kept = extended.clone();
    kept.expires_at = t + secs(60);
    assert!(
        store
            .rotate(&kept, &extended.refresh_token_hash)
            .await
            .expect("rotate"),
        "rotate of a live session is true"
    );
    let (brief, lasting_token) = (TokenFingerprint::of(&tag()), TokenFingerprint::of(&tag()));
    store
        .blacklist_token(&brief, t + secs(2))
        .await
        .expect("blacklist_token");
    store
        .blacklist_token(&lasting_token, t + secs(60))
        .await
        .expect("blacklist_token");
    assert_eq!(
        store.get(short.id).await.expect("get"),
        Some(short.clone()),
        "a session lives before its expires_at"
    );

    time.advance(Duration::from_millis(2600)).await;

    assert_eq!(
        store.get(short.id).await.expect("get"),
        None,
        "get is None past expires_at"
    );
    let clean = TokenFingerprint::of(&tag());
    assert_eq!(
        store.authorize(short.id, &clean).await.expect("authorize"),
        None,
        "authorize is None past expires_at"
    );
    let mut successor = short.clone();
    successor.expires_at = t + secs(90);
    successor.refresh_token_hash = TokenFingerprint::of(&tag()).as_str().to_owned();
    assert!(
        !store
            .rotate(&successor, &short.refresh_token_hash)
            .await
            .expect("rotate"),
        "rotate of an expired session is false"
    );
    assert_eq!(
        store.get(short.id).await.expect("get"),
        None,
        "rotate does not revive an expired session"
    );

    assert_eq!(
        store.user_sessions(user).await.expect("user_sessions"),
        vec![long.clone(), kept.clone()],
        "user_sessions drops expired sessions and keeps extended ones"
    );
    let late = session(user, now(&time), now(&time) + secs(60));
    assert_eq!(
        store.create(&late, 3).await.expect("create"),
        0,
        "expired sessions do not count against the cap"
    );
    assert_eq!(
        store
            .authorize(extended.id, &clean)
            .await
            .expect("authorize"),
        Some(kept),
        "a session extended by rotate outlives its first expires_at"
    );

    assert_eq!(
        store.authorize(long.id, &brief).await.expect("authorize"),
        Some(long.clone()),
        "a blacklist entry ends at the token's expiry"
    );
    assert_eq!(
        store
            .authorize(long.id, &lasting_token)
            .await
            .expect("authorize"),
        None,
        "a blacklist entry lasts until the token's expiry"
    );
    assert_eq!(
        store
            .delete_all_for_user(user)
            .await
            .expect("delete_all_for_user"),
        3,
        "delete_all_for_user counts only live sessions"
    );
}
