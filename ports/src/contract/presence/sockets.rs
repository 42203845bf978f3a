//! Presence without the passing of time: sockets, statuses, listings, clearing.

use chrono::Duration;
use webchat_domain::{PresenceStatus, UserId};

use super::{
    all_online, by_user, count, instance, is_online, offline, online, online_total, socket, status,
    Made,
};

pub(super) async fn knows_nothing_of_unseen_users((store, _time): Made) {
    let user = UserId::new();
    assert_eq!(
        store.get_presence(user).await.expect("get_presence"),
        None,
        "get_presence of a user never seen is None"
    );
    assert!(
        !is_online(&store, user).await,
        "a user never seen is not online"
    );
    assert_eq!(
        store
            .set_status(user, PresenceStatus::Away)
            .await
            .expect("set_status"),
        None,
        "set_status is None for a user without a socket"
    );
    let change = offline(&store, user, &socket(&instance("a"))).await;
    assert!(
        !change.changed,
        "set_offline of an unknown socket changes nothing"
    );
    assert_eq!(
        change.presence.status,
        PresenceStatus::Offline,
        "a user never seen reads as offline"
    );
    assert_eq!(
        count(&store, user).await,
        0,
        "a user never seen has no sockets"
    );
    assert_eq!(
        online_total(&store).await,
        0,
        "a fresh store counts nobody online"
    );
    assert!(
        all_online(&store).await.is_empty(),
        "a fresh store lists nobody online"
    );
}

pub(super) async fn goes_offline_with_the_last_socket((store, time): Made) {
    let user = UserId::new();
    let (a, b) = (instance("a"), instance("b"));
    let (on_a, on_b) = (socket(&a), socket(&b));

    let before = time.clock().now();
    let first = online(&store, user, &on_a).await;
    assert!(
        first.changed,
        "the first socket brings the user online (changed)"
    );
    assert_eq!(first.presence.user_id, user, "the record names its user");
    assert_eq!(
        first.presence.status,
        PresenceStatus::Online,
        "the first socket makes the user online"
    );
    assert_eq!(
        first.presence.socket_id.as_ref(),
        Some(&on_a),
        "the record names the socket that changed it"
    );
    let drift = (first.presence.last_seen - before).abs();
    assert!(
        drift <= Duration::seconds(2),
        "last_seen is the store's now, {drift} away"
    );
    assert_eq!(
        status(&store, user).await,
        Some(PresenceStatus::Online),
        "get_presence reads the online record"
    );
    assert!(
        is_online(&store, user).await,
        "a user with a socket is online"
    );

    assert_eq!(count(&store, user).await, 1, "one socket counts one");
    let second = online(&store, user, &on_b).await;
    assert_eq!(
        count(&store, user).await,
        2,
        "sockets on every instance count"
    );
    assert!(
        !second.changed,
        "a second socket, on another instance, changes nothing visible"
    );
    assert_eq!(
        second.presence.status,
        PresenceStatus::Online,
        "a second socket keeps the user online"
    );
    assert!(
        !online(&store, user, &on_a).await.changed,
        "registering a socket twice changes nothing"
    );

    assert_eq!(
        count(&store, user).await,
        2,
        "registering a socket twice counts it once"
    );

    let one_left = offline(&store, user, &on_a).await;
    assert_eq!(
        count(&store, user).await,
        1,
        "a closed socket stops counting"
    );
    assert!(
        !one_left.changed,
        "closing one of two sockets changes nothing visible"
    );
    assert_eq!(
        one_left.presence.status,
        PresenceStatus::Online,
        "a user with a socket left stays online"
    );
    assert!(
        is_online(&store, user).await,
        "a user with a socket left on another instance is online"
    );
    let stranger = offline(&store, user, &socket(&a)).await;
    assert!(!stranger.changed, "closing an unknown socket is a no-op");
    assert_eq!(
        stranger.presence.status,
        PresenceStatus::Online,
        "closing an unknown socket returns the current record"
    );

    let last = offline(&store, user, &on_b).await;
    assert!(last.changed, "closing the last socket changes the status");
    assert_eq!(
        last.presence.status,
        PresenceStatus::Offline,
        "closing the last socket makes the user offline"
    );
    assert!(
        !is_online(&store, user).await,
        "a user without sockets is not online"
    );
    assert_eq!(
        status(&store, user).await,
        Some(PresenceStatus::Offline),
        "get_presence reads the offline record"
    );
    assert_eq!(count(&store, user).await, 0, "no sockets count none");
    let again = offline(&store, user, &on_b).await;
    assert!(!again.changed, "closing a closed socket changes nothing");
    assert_eq!(
        again.presence.status,
        PresenceStatus::Offline,
        "closing a closed socket keeps the user offline"
    );

    assert!(
        online(&store, user, &socket(&b)).await.changed,
        "a new socket brings an offline user back online"
    );
}

pub(super) async fn switches_between_online_and_away((store, _time): Made) {
    let user = UserId::new();
    let a = instance("a");
    let first = socket(&a);
    online(&store, user, &first).await;

    let away = store
        .set_status(user, PresenceStatus::Away)
        .await
        .expect("set_status");
    let away = away.expect("set_status is Some for a user with a socket");
    assert!(
        away.changed && away.presence.status == PresenceStatus::Away,
        "set_status(away) makes an online user away"
    );
    assert!(
        is_online(&store, user).await,
        "an away user counts as online"
    );
    assert_eq!(
        status(&store, user).await,
        Some(PresenceStatus::Away),
        "get_presence reads away"
    );
    let still = store
        .set_status(user, PresenceStatus::Away)
        .await
        .expect("set_status")
        .expect("some");
    assert!(
        !still.changed && still.presence.status == PresenceStatus::Away,
        "set_status(away) of an away user changes nothing"
    );
    let back = store
        .set_status(user, PresenceStatus::Online)
        .await
        .expect("set_status")
        .expect("some");
    assert!(
        back.changed && back.presence.status == PresenceStatus::Online,
        "set_status(online) brings an away user back"
    );

    store
        .set_status(user, PresenceStatus::Away)
        .await
        .expect("set_status");
    let second = socket(&a);
    let reconnect = online(&store, user, &second).await;
    assert!(
        reconnect.changed,
        "set_online of an away user changes the status"
    );
    assert_eq!(
        reconnect.presence.status,
        PresenceStatus::Online,
        "set_online makes an away user online"
    );

    store
        .set_status(user, PresenceStatus::Away)
        .await
        .expect("set_status");
    offline(&store, user, &first).await;
    let gone = offline(&store, user, &second).await;
    assert!(
        gone.changed && gone.presence.status == PresenceStatus::Offline,
        "an away user goes offline with the last socket"
    );
    assert_eq!(
        store
            .set_status(user, PresenceStatus::Away)
            .await
            .expect("set_status"),
        None,
        "set_status is None once the last socket went (an offline user cannot be away)"
    );
    assert_eq!(
        status(&store, user).await,
        Some(PresenceStatus::Offline),
        "a refused set_status leaves the user offline"
    );
}

pub(super) async fn lists_online_and_away_users((store, _time): Made) {
    let a = instance("a");
    let (here, away, left) = (UserId::new(), UserId::new(), UserId::new());
    online(&store, here, &socket(&a)).await;
    online(&store, away, &socket(&a)).await;
    store
        .set_status(away, PresenceStatus::Away)
        .await
        .expect("set_status");
    let gone = socket(&a);
    online(&store, left, &gone).await;
    offline(&store, left, &gone).await;

    assert_eq!(
        online_total(&store).await,
        2,
        "online_page counts online and away users"
    );
    let mut expected = vec![(here, PresenceStatus::Online), (away, PresenceStatus::Away)];
    expected.sort_by_key(|(u, _)| *u);
    assert_eq!(
        by_user(all_online(&store).await),
        expected,
        "online_page lists every online or away user once, and nobody offline"
    );
}

pub(super) async fn clears_everything((store, _time): Made) {
    let a = instance("a");
    let users = [UserId::new(), UserId::new()];
    for user in users {
        online(&store, user, &socket(&a)).await;
    }
    store
        .heartbeat_instance(&a)
        .await
        .expect("heartbeat_instance");

    let removed = store.clear_all().await.expect("clear_all");
    assert!(
        removed >= 2,
        "clear_all counts what it removed, got {removed}"
    );
    for user in users {
        assert_eq!(
            store.get_presence(user).await.expect("get_presence"),
            None,
            "clear_all removes every record"
        );
        assert!(
            !is_online(&store, user).await,
            "nobody is online after clear_all"
        );
    }
    assert_eq!(
        online_total(&store).await,
        0,
        "clear_all empties the online set"
    );
    assert!(
        all_online(&store).await.is_empty(),
        "clear_all leaves nobody listed"
    );
}

pub(super) async fn pages_online_users_by_id((store, _time): Made) {
    let a = instance("a");
    let mut users: Vec<UserId> = (0..9).map(|_| UserId::new()).collect();
    for user in &users {
        online(&store, *user, &socket(&a)).await;
    }
    let away = users[4];
    store
        .set_status(away, PresenceStatus::Away)
        .await
        .expect("set_status");
    let gone = socket(&a);
    let left = UserId::new();
    online(&store, left, &gone).await;
    offline(&store, left, &gone).await;
    users.sort();

    let first = store.online_page(None, 4).await.expect("online_page");
    assert_eq!(first.total, 9, "total counts every online or away user");
    assert_eq!(
        first.users.iter().map(|p| p.user_id).collect::<Vec<_>>(),
        users[..4],
        "the first page holds the smallest ids, in order"
    );
    let next = store
        .online_page(Some(users[3]), 4)
        .await
        .expect("online_page");
    assert_eq!(
        next.users.iter().map(|p| p.user_id).collect::<Vec<_>>(),
        users[4..8],
        "`after` starts the page right after that id"
    );
    assert_eq!(next.total, 9, "every page carries the same total");
    let last = store
        .online_page(Some(users[7]), 4)
        .await
        .expect("online_page");
    assert_eq!(
        last.users.iter().map(|p| p.user_id).collect::<Vec<_>>(),
        users[8..],
        "the last page is short"
    );
    assert!(
        store
            .online_page(Some(users[8]), 4)
            .await
            .expect("online_page")
            .users
            .is_empty(),
        "after the largest id comes nothing"
    );
    let between = store
        .online_page(Some(left), 100)
        .await
        .expect("online_page");
    assert_eq!(
        between.users.iter().map(|p| p.user_id).collect::<Vec<_>>(),
        users
            .iter()
            .copied()
            .filter(|u| *u > left)
            .collect::<Vec<_>>(),
        "`after` need not be a listed id (here: a user gone offline)"
    );
    assert_eq!(
        all_online(&store)
            .await
            .iter()
            .map(|p| p.user_id)
            .collect::<Vec<_>>(),
        users,
        "walking every page visits each online user once, and nobody offline"
    );
    assert!(
        all_online(&store)
            .await
            .iter()
            .all(|p| (p.status == PresenceStatus::Away) == (p.user_id == away)),
        "pages list each user with their status"
    );
    assert_eq!(online_total(&store).await, 9);
}
