use webchat_domain::{SessionId, TokenFingerprint, UserId};

use super::{create, lasting, now, secs, session, Made, NO_CAP};
use crate::PortError;

pub(super) async fn stores_reads_and_deletes_sessions((store, time): Made) {
    let s = lasting(&time, UserId::new());
    create(&store, &s).await;

    assert_eq!(
        store.get(s.id).await.expect("get"),
        Some(s.clone()),
        "get returns the stored session"
    );
    assert_eq!(
        store.get(SessionId::new()).await.expect("get"),
        None,
        "get of an unknown session is None"
    );

    let err = store.create(&s, NO_CAP).await;
    assert!(
        matches!(err, Err(PortError::Conflict(_))),
        "create with an existing id is a Conflict, got {err:?}"
    );

    let mut changed = s.clone();
    changed.expires_at = now(&time) + secs(120);
    changed.refresh_token_hash = TokenFingerprint::of("rotated").as_str().to_owned();
    assert!(
        store
            .rotate(&changed, &s.refresh_token_hash)
            .await
            .expect("rotate of a live session"),
        "rotate with the current refresh hash replaces the session"
    );
    assert_eq!(
        store.get(s.id).await.expect("get"),
        Some(changed.clone()),
        "rotate replaces the session's data, expiry included"
    );
    assert_eq!(
        store.user_sessions(s.user_id).await.expect("user_sessions"),
        vec![changed.clone()],
        "user_sessions shows the rotated session once"
    );

    assert!(
        store.delete(s.id).await.expect("delete"),
        "delete of a stored session is true"
    );
    assert_eq!(
        store.get(s.id).await.expect("get"),
        None,
        "a deleted session is gone"
    );
    assert!(
        !store.delete(s.id).await.expect("delete"),
        "delete of a deleted session is false"
    );
    assert!(
        store
            .user_sessions(s.user_id)
            .await
            .expect("user_sessions")
            .is_empty(),
        "delete removes the session from its user's index"
    );
}

pub(super) async fn lists_and_revokes_a_users_sessions((store, time): Made) {
    let (user, other_user) = (UserId::new(), UserId::new());
    let t = now(&time);
    let oldest = session(user, t - secs(3), t + secs(60));
    let middle = session(user, t - secs(2), t + secs(50));
    let newest = session(user, t - secs(1), t + secs(40));
    let theirs = session(other_user, t - secs(4), t + secs(60));
    for s in [&middle, &theirs, &newest, &oldest] {
        create(&store, s).await;
    }

    assert_eq!(
        store.user_sessions(user).await.expect("user_sessions"),
        vec![oldest.clone(), middle.clone(), newest.clone()],
        "user_sessions lists the user's sessions, oldest first"
    );
    assert!(
        store
            .user_sessions(UserId::new())
            .await
            .expect("user_sessions")
            .is_empty(),
        "user_sessions of a user without sessions is empty"
    );

    let gone = store.delete_others_for_user(user, middle.id).await;
    assert_eq!(
        gone.expect("delete_others_for_user"),
        2,
        "delete_others_for_user counts what went"
    );
    assert_eq!(
        store.user_sessions(user).await.expect("user_sessions"),
        vec![middle.clone()],
        "delete_others_for_user keeps only the given session"
    );
    assert_eq!(
        store.get(oldest.id).await.expect("get"),
        None,
        "delete_others_for_user removes the others"
    );

    let extra = lasting(&time, user);
    create(&store, &extra).await;
    let gone = store.delete_all_for_user(user).await;
    assert_eq!(
        gone.expect("delete_all_for_user"),
        2,
        "delete_all_for_user counts the live sessions"
    );
    assert!(
        store
            .user_sessions(user)
            .await
            .expect("user_sessions")
            .is_empty(),
        "delete_all_for_user leaves the user no session"
    );
    assert_eq!(
        store.get(middle.id).await.expect("get"),
        None,
        "delete_all_for_user removes every session"
    );
    assert_eq!(
        store
            .delete_all_for_user(user)
            .await
            .expect("delete_all_for_user"),
        0,
        "nothing left to delete"
    );
    assert_eq!(
        store
            .user_sessions(other_user)
            .await
            .expect("user_sessions"),
        vec![theirs.clone()],
        "revoking one user's sessions leaves other users' alone"
    );
    assert_eq!(
        store.get(theirs.id).await.expect("get"),
        Some(theirs.clone()),
        "other users' sessions stay live"
    );
}
