use futures::future::join_all;
use webchat_domain::{TokenFingerprint, UserId, UserSession};

use super::{create, lasting, now, secs, Made};
use crate::contract::fixtures::tag;

/// `s` with a fresh refresh-token hash, other client details and `extra` more seconds.
pub(super) fn rotated(s: &UserSession, extra: i64) -> UserSession {
    UserSession {
        expires_at: s.expires_at + secs(extra),
        ip: Some("198.51.100.23".to_owned()),
        user_agent: Some(format!("contract-suite/{}", tag())),
        refresh_token_hash: TokenFingerprint::of(&tag()).as_str().to_owned(),
        ..s.clone()
    }
}

pub(super) async fn rotates_only_with_the_current_refresh_hash((store, time): Made) {
    let s = lasting(&time, UserId::new());
    create(&store, &s).await;

    let next = rotated(&s, 120);
    assert!(
        store
            .rotate(&next, &s.refresh_token_hash)
            .await
            .expect("rotate"),
        "rotate with the stored refresh hash is true"
    );
    assert_eq!(
        store.get(s.id).await.expect("get"),
        Some(next.clone()),
        "rotate replaces the session's data and expiry"
    );
    assert_eq!(
        store.user_sessions(s.user_id).await.expect("user_sessions"),
        vec![next.clone()],
        "user_sessions shows the rotated session once"
    );

    let replay = rotated(&next, 10);
    assert!(
        !store
            .rotate(&replay, &s.refresh_token_hash)
            .await
            .expect("rotate"),
        "rotate with a refresh hash already rotated away is false"
    );
    let wrong = TokenFingerprint::of(&tag());
    assert!(
        !store.rotate(&replay, wrong.as_str()).await.expect("rotate"),
        "rotate with a refresh hash never stored is false"
    );
    let mut stranger = rotated(&next, 10);
    stranger.user_id = UserId::new();
    assert!(
        !store
            .rotate(&stranger, &next.refresh_token_hash)
            .await
            .expect("rotate"),
        "rotate naming another user is false"
    );
    assert_eq!(
        store.get(s.id).await.expect("get"),
        Some(next.clone()),
        "a refused rotate changes nothing"
    );
    assert!(
        store
            .user_sessions(stranger.user_id)
            .await
            .expect("user_sessions")
            .is_empty(),
        "a refused rotate indexes nothing under another user"
    );

    let unknown = lasting(&time, s.user_id);
    assert!(
        !store
            .rotate(&unknown, &unknown.refresh_token_hash)
            .await
            .expect("rotate"),
        "rotate of an unknown session is false"
    );
    assert_eq!(
        store.get(unknown.id).await.expect("get"),
        None,
        "rotate does not create a session"
    );

    store.delete(s.id).await.expect("delete");
    assert!(
        !store
            .rotate(&replay, &next.refresh_token_hash)
            .await
            .expect("rotate"),
        "rotate of a deleted session is false"
    );
    assert_eq!(
        store.get(s.id).await.expect("get"),
        None,
        "rotate does not revive a deleted session"
    );
    assert!(
        store
            .user_sessions(s.user_id)
            .await
            .expect("user_sessions")
            .is_empty(),
        "rotate does not re-index a deleted session"
    );
}

/// The race a stolen refresh token runs against the legitimate one.
pub(super) async fn concurrent_rotations_admit_one((store, time): Made) {
    const RACERS: usize = 8;
    let s = lasting(&time, UserId::new());
    create(&store, &s).await;
    let t = now(&time);
    let candidates: Vec<UserSession> = (0..RACERS)
        .map(|i| UserSession {
            expires_at: t + secs(90 + i64::try_from(i).unwrap_or(0)),
            ..rotated(&s, 0)
        })
        .collect();

    let outcomes = join_all(
        candidates
            .iter()
            .map(|next| store.rotate(next, &s.refresh_token_hash)),
    )
    .await;
    let winners: Vec<&UserSession> = candidates
        .iter()
        .zip(outcomes)
        .filter_map(|(next, won)| won.expect("rotate").then_some(next))
        .collect();
    assert_eq!(
        winners.len(),
        1,
        "of {RACERS} concurrent rotates with one refresh hash exactly one is true"
    );
    assert_eq!(
        store.get(s.id).await.expect("get"),
        Some(winners[0].clone()),
        "the session holds the winning rotation"
    );
    assert!(
        !store
            .rotate(&rotated(&s, 0), &s.refresh_token_hash)
            .await
            .expect("rotate"),
        "the refresh hash the race consumed is refused afterwards"
    );
    assert_eq!(
        store.user_sessions(s.user_id).await.expect("user_sessions"),
        vec![winners[0].clone()],
        "the race leaves the session indexed once"
    );
}
