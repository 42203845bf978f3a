use futures::future::join_all;
use webchat_domain::{TokenFingerprint, UserId, UserSession};

use super::rotation::rotated;
use super::{create, lasting, Made};
use crate::contract::fixtures::tag;
use crate::Rotation;

/// A refresh token replayed after it was rotated away: the thief refreshed first (or
/// the owner did, and the thief replays the old token). Either way the session ends.
pub(super) async fn a_reused_refresh_hash_ends_the_session((store, time): Made) {
    let user = UserId::new();
    let s = lasting(&time, user);
    let sibling = lasting(&time, user);
    let theirs = lasting(&time, UserId::new());
    for x in [&s, &sibling, &theirs] {
        create(&store, x).await;
    }

    let first = rotated(&s, 60);
    assert_eq!(
        store
            .rotate_or_end(&first, &s.refresh_token_hash)
            .await
            .expect("rotate_or_end"),
        Rotation::Rotated,
        "rotate_or_end with the current refresh hash rotates"
    );
    assert_eq!(
        store.get(s.id).await.expect("get"),
        Some(first.clone()),
        "a rotation replaces the session's data"
    );

    let replay = rotated(&first, 10);
    assert_eq!(
        store
            .rotate_or_end(&replay, &s.refresh_token_hash)
            .await
            .expect("rotate_or_end"),
        Rotation::Ended,
        "rotate_or_end with a refresh hash already rotated away ends the session"
    );
    assert_eq!(
        store.get(s.id).await.expect("get"),
        None,
        "the session a reused refresh hash named is gone"
    );
    let token = TokenFingerprint::of(&tag());
    assert_eq!(
        store.authorize(s.id, &token).await.expect("authorize"),
        None,
        "no access token of an ended session is authorized"
    );
    assert_eq!(
        store
            .rotate_or_end(&rotated(&first, 10), &first.refresh_token_hash)
            .await
            .expect("rotate_or_end"),
        Rotation::Absent,
        "the refresh hash the first rotation handed out no longer works either"
    );
    assert_eq!(
        store.user_sessions(user).await.expect("user_sessions"),
        vec![sibling.clone()],
        "ending a session removes it from the index and leaves the user's others"
    );

    let mut stranger = rotated(&theirs, 10);
    stranger.user_id = UserId::new();
    assert_eq!(
        store
            .rotate_or_end(&stranger, TokenFingerprint::of(&tag()).as_str())
            .await
            .expect("rotate_or_end"),
        Rotation::Absent,
        "rotate_or_end naming another user changes nothing"
    );
    assert_eq!(
        store.get(theirs.id).await.expect("get"),
        Some(theirs.clone()),
        "a session is not ended by a call naming another user"
    );

    let unknown = lasting(&time, user);
    assert_eq!(
        store
            .rotate_or_end(&unknown, &unknown.refresh_token_hash)
            .await
            .expect("rotate_or_end"),
        Rotation::Absent,
        "rotate_or_end of an unknown session is Absent"
    );
    assert_eq!(
        store.get(unknown.id).await.expect("get"),
        None,
        "rotate_or_end does not create a session"
    );
}

/// A thief and the owner refreshing with one token at once: one wins the rotation,
/// the next call sees the token used and ends the session, the rest find nothing.
pub(super) async fn a_race_with_one_refresh_hash_ends_the_session((store, time): Made) {
    const RACERS: usize = 8;
    let s = lasting(&time, UserId::new());
    create(&store, &s).await;
    let candidates: Vec<UserSession> = (0..RACERS).map(|_| rotated(&s, 30)).collect();

    let outcomes: Vec<Rotation> = join_all(
        candidates
            .iter()
            .map(|next| store.rotate_or_end(next, &s.refresh_token_hash)),
    )
    .await
    .into_iter()
    .map(|r| r.expect("rotate_or_end"))
    .collect();
    let count = |kind: Rotation| outcomes.iter().filter(|o| **o == kind).count();
    assert_eq!(
        (count(Rotation::Rotated), count(Rotation::Ended)),
        (1, 1),
        "of {RACERS} concurrent calls with one refresh hash one rotates, one ends the \
         session, the rest find it gone: {outcomes:?}"
    );
    assert_eq!(
        store.get(s.id).await.expect("get"),
        None,
        "the race leaves no session"
    );
    assert!(
        store
            .user_sessions(s.user_id)
            .await
            .expect("user_sessions")
            .is_empty(),
        "the race leaves no index entry"
    );
}
