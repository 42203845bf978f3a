use std::collections::HashSet;

use futures::future::join_all;
use webchat_domain::{SessionId, UserId, UserSession};

use super::{create, lasting, now, secs, session, Made};
use crate::PortError;

fn ids(sessions: &[UserSession]) -> HashSet<SessionId> {
    sessions.iter().map(|s| s.id).collect()
}

pub(super) async fn ends_the_sessions_that_expire_first_past_the_cap((store, time): Made) {
    let (user, other_user) = (UserId::new(), UserId::new());
    let t = now(&time);
    let a = session(user, t - secs(3), t + secs(10));
    let b = session(user, t - secs(2), t + secs(20));
    let c = session(user, t - secs(1), t + secs(30));
    let theirs = session(other_user, t - secs(4), t + secs(5));
    for s in [&a, &b, &c, &theirs] {
        create(&store, s).await;
    }

    let d = session(user, t, t + secs(40));
    assert_eq!(
        store.create(&d, 3).await.expect("create"),
        1,
        "a create past the cap ends as many sessions as it exceeds it by"
    );
    assert_eq!(
        store.get(a.id).await.expect("get"),
        None,
        "the session that expires first is ended"
    );
    assert_eq!(
        ids(&store.user_sessions(user).await.expect("user_sessions")),
        ids(&[b.clone(), c.clone(), d.clone()]),
        "the user keeps the cap's number of sessions, the new one among them"
    );

    let e = session(user, t, t + secs(5));
    assert_eq!(
        store.create(&e, 3).await.expect("create"),
        1,
        "the cap holds for the next create"
    );
    assert_eq!(
        ids(&store.user_sessions(user).await.expect("user_sessions")),
        ids(&[c.clone(), d.clone(), e.clone()]),
        "the new session is kept even when it expires first; the oldest other one goes"
    );

    let f = lasting(&time, user);
    assert_eq!(
        store.create(&f, 1).await.expect("create"),
        3,
        "a cap of one ends every other session"
    );
    let g = lasting(&time, user);
    assert_eq!(
        store.create(&g, 0).await.expect("create"),
        1,
        "a cap of zero counts as one"
    );
    assert_eq!(
        store.user_sessions(user).await.expect("user_sessions"),
        vec![g.clone()],
        "only the newest session is left"
    );

    let err = store.create(&g, 1).await;
    assert!(
        matches!(err, Err(PortError::Conflict(_))),
        "create with an existing id is a Conflict, got {err:?}"
    );
    assert_eq!(
        store.get(g.id).await.expect("get"),
        Some(g.clone()),
        "a refused create ends nothing"
    );
    assert_eq!(
        store.get(theirs.id).await.expect("get"),
        Some(theirs.clone()),
        "the cap counts one user's sessions; other users' stay"
    );
}

/// Logins racing on several instances: the cap holds at every step.
pub(super) async fn concurrent_logins_never_exceed_the_cap((store, time): Made) {
    const CAP: usize = 3;
    const LOGINS: i64 = 6;
    let user = UserId::new();
    let t = now(&time);
    let old: Vec<UserSession> = (0..3)
        .map(|i| session(user, t - secs(10 - i), t + secs(10 + i)))
        .collect();
    for s in &old {
        create(&store, s).await;
    }
    let new: Vec<UserSession> = (0..LOGINS)
        .map(|i| session(user, t, t + secs(100 + i)))
        .collect();

    let ended: u64 = join_all(new.iter().map(|s| store.create(s, CAP)))
        .await
        .into_iter()
        .map(|r| r.expect("create"))
        .sum();
    let left = store.user_sessions(user).await.expect("user_sessions");
    assert_eq!(
        left.len(),
        CAP,
        "after concurrent creates the user has exactly the cap's number of sessions"
    );
    assert_eq!(
        ended,
        old.len() as u64 + LOGINS as u64 - CAP as u64,
        "every session over the cap is counted as ended once"
    );
    assert!(
        ids(&left).is_subset(&ids(&new)),
        "the sessions that expire first (the old ones) went first"
    );
}
