//! Presence over time: record lifetimes, `touch`, and `cleanup_stale`.

use std::time::Duration;

use webchat_domain::{PresenceStatus, UserId};

use super::{
    all_online, by_user, instance, is_online, offline, online, online_total, socket, status, Made,
};

pub(super) async fn expires_records_and_cleans_up_dead_instances((store, time): Made) {
    let (live, dead) = (instance("live"), instance("dead"));
    for i in [&live, &dead] {
        store
            .heartbeat_instance(i)
            .await
            .expect("heartbeat_instance");
    }
    let [idle, lapsed, active, leaver, crashed, mixed] = [(); 6].map(|_| UserId::new());
    let idle_socket = socket(&live);
    let lapsed_socket = socket(&live);
    let active_socket = socket(&live);
    let leaver_socket = socket(&live);
    let crashed_sockets = [socket(&dead), socket(&dead)];
    let (mixed_live, mixed_dead) = (socket(&live), socket(&dead));
    online(&store, idle, &idle_socket).await;
    online(&store, lapsed, &lapsed_socket).await;
    online(&store, active, &active_socket).await;
    online(&store, leaver, &leaver_socket).await;
    offline(&store, leaver, &leaver_socket).await;
    for s in &crashed_sockets {
        online(&store, crashed, s).await;
    }
    online(&store, mixed, &mixed_live).await;
    online(&store, mixed, &mixed_dead).await;

    // t = 1.2 s: only `live` keeps heart-beating; activity on some sockets.
    time.advance(Duration::from_millis(1200)).await;
    store
        .heartbeat_instance(&live)
        .await
        .expect("heartbeat_instance");
    for (user, s) in [
        (active, &active_socket),
        (crashed, &crashed_sockets[0]),
        (mixed, &mixed_live),
    ] {
        let refreshed = store.touch(user, s).await.expect("touch");
        assert!(
            !refreshed.changed,
            "touch of an online user is an ordinary refresh, not a change"
        );
        assert_eq!(
            (refreshed.presence.user_id, refreshed.presence.status),
            (user, PresenceStatus::Online),
            "touch returns the record as it stands"
        );
    }
    assert!(
        is_online(&store, idle).await,
        "an online record lives until online_ttl"
    );

    // t = 2.6 s: past online_ttl for `idle`, past instance_ttl for `dead`.
    time.advance(Duration::from_millis(1400)).await;
    assert!(
        !is_online(&store, idle).await,
        "an online record expires online_ttl after the last activity"
    );
    assert_eq!(
        store.get_presence(idle).await.expect("get_presence"),
        None,
        "get_presence is None once the record expired"
    );
    assert!(
        !all_online(&store).await.iter().any(|p| p.user_id == idle),
        "online_page leaves out a user whose record expired, before any cleanup"
    );
    assert!(
        is_online(&store, active).await,
        "touch keeps an idle but connected user online past online_ttl"
    );
    assert_eq!(
        status(&store, leaver).await,
        Some(PresenceStatus::Offline),
        "an offline record lives until offline_ttl"
    );
    let back = store.touch(lapsed, &lapsed_socket).await.expect("touch");
    assert!(
        back.changed,
        "touch after the record expired brings the user back online: changed"
    );
    assert_eq!(
        (back.presence.user_id, back.presence.status),
        (lapsed, PresenceStatus::Online),
        "touch after the record expired returns the new online record"
    );
    assert!(
        is_online(&store, lapsed).await,
        "touch after the record expired writes the user online"
    );

    let cleaned = store.cleanup_stale().await.expect("cleanup_stale");
    assert!(
        cleaned.iter().all(|p| p.status == PresenceStatus::Offline),
        "cleanup_stale reports the users it took offline as offline: {cleaned:?}"
    );
    let mut expected = vec![
        (idle, PresenceStatus::Offline),
        (crashed, PresenceStatus::Offline),
    ];
    expected.sort_by_key(|(u, _)| *u);
    assert_eq!(
        by_user(cleaned),
        expected,
        "cleanup_stale returns, once each, the users whose record expired or whose sockets were all on a dead instance (not one a touch brought back)"
    );
    assert!(
        !is_online(&store, crashed).await,
        "a user whose sockets were all on a dead instance is offline after cleanup"
    );
    assert!(
        is_online(&store, mixed).await,
        "a user with a socket on a live instance stays online after cleanup"
    );
    assert!(
        is_online(&store, active).await,
        "cleanup leaves live users online"
    );
    assert_eq!(
        online_total(&store).await,
        3,
        "online_page after cleanup counts only live users"
    );
    let mut still_online = vec![
        (active, PresenceStatus::Online),
        (lapsed, PresenceStatus::Online),
        (mixed, PresenceStatus::Online),
    ];
    still_online.sort_by_key(|(u, _)| *u);
    assert_eq!(
        by_user(all_online(&store).await),
        still_online,
        "online_page after cleanup lists only live users"
    );
    assert!(
        store
            .cleanup_stale()
            .await
            .expect("cleanup_stale")
            .is_empty(),
        "a second cleanup finds nothing stale"
    );
    let active_left = offline(&store, active, &active_socket).await;
    assert!(
        active_left.changed,
        "touch kept the socket registered past online_ttl"
    );

    let last = offline(&store, mixed, &mixed_live).await;
    assert!(
        last.changed && last.presence.status == PresenceStatus::Offline,
        "cleanup forgot the socket on the dead instance, so the live one was the last"
    );

    assert!(
        store
            .touch(idle, &idle_socket)
            .await
            .expect("touch")
            .changed,
        "touch after the cleanup took the user offline is a change"
    );
    assert!(
        is_online(&store, idle).await,
        "touch re-registers a socket whose record expired"
    );
    assert!(
        offline(&store, idle, &idle_socket).await.changed,
        "the re-registered socket is the user's last"
    );

    // t = 4.6 s: past offline_ttl for `leaver`.
    time.advance(Duration::from_millis(2000)).await;
    assert_eq!(
        store.get_presence(leaver).await.expect("get_presence"),
        None,
        "an offline record expires after offline_ttl"
    );
}
