//! Presence: online on the first socket, offline after the last, announced to the
//! user's chats; the periodic job takes stale users offline.

use std::collections::HashSet;

use webchat_domain::{
    ChatId, Event, InstanceId, PresenceStatus, SocketId, Topic, UserId, UserPresence,
};
use webchat_ports::Clock;

use super::{advance, next, Fixture};

fn socket(fx: &Fixture) -> SocketId {
    SocketId::new(fx.app.presence.instance(), uuid::Uuid::new_v4())
}

/// The presence event's user, status and chats.
fn presence_of(event: Event) -> (UserId, PresenceStatus, HashSet<ChatId>) {
    match event {
        Event::Presence {
            user_id,
            status,
            chats,
            ..
        } => (user_id, status, chats.into_iter().collect()),
        other => panic!("expected a presence event, got {other:?}"),
    }
}

#[tokio::test]
async fn online_on_the_first_socket_offline_after_the_last() {
    let fx = Fixture::new();
    let (alice, bob) = (fx.user("alice").await, fx.user("bob").await);
    let chats = HashSet::from([fx.chat(alice, &[bob]).await, fx.chat(bob, &[alice]).await]);
    fx.chat(bob, &[]).await; // not alice's
    let mut events = fx.subscribe(Topic::Presence).await;
    let p = &fx.app.presence;
    let (phone, laptop) = (socket(&fx), socket(&fx));

    p.connect(alice, &phone).await;
    assert_eq!(
        presence_of(next(&mut events).await),
        (alice, PresenceStatus::Online, chats.clone())
    );
    p.connect(alice, &laptop).await;
    fx.assert_quiet(&mut events, &Topic::Presence).await;
    assert_eq!(p.get(alice).await.unwrap().status, PresenceStatus::Online);

    p.disconnect(alice, &phone).await;
    fx.assert_quiet(&mut events, &Topic::Presence).await;
    assert_eq!(p.get(alice).await.unwrap().status, PresenceStatus::Online);

    advance(&fx.clock, 7);
    p.disconnect(alice, &laptop).await;
    match next(&mut events).await {
        Event::Presence {
            user_id,
            status,
            last_seen,
            chats: announced,
        } => {
            assert_eq!((user_id, status), (alice, PresenceStatus::Offline));
            assert_eq!(last_seen, fx.clock.now());
            assert_eq!(announced.into_iter().collect::<HashSet<_>>(), chats);
        }
        other => panic!("expected a presence event, got {other:?}"),
    }
    assert_eq!(p.get(alice).await.unwrap().status, PresenceStatus::Offline);

    // A socket that was never registered changes nothing.
    p.disconnect(alice, &socket(&fx)).await;
    fx.assert_quiet(&mut events, &Topic::Presence).await;
}

#[tokio::test]
async fn a_user_without_chats_has_no_audience() {
    let fx = Fixture::new();
    let loner = fx.user("loner").await;
    let mut events = fx.subscribe(Topic::Presence).await;
    let s = socket(&fx);
    fx.app.presence.connect(loner, &s).await;
    fx.app
        .presence
        .set_status(loner, PresenceStatus::Away)
        .await;
    fx.app.presence.disconnect(loner, &s).await;
    fx.assert_quiet(&mut events, &Topic::Presence).await;
}

#[tokio::test]
async fn away_and_back_are_announced_once_each() {
    let fx = Fixture::new();
    let (alice, bob) = (fx.user("alice").await, fx.user("bob").await);
    let chat = fx.chat(alice, &[bob]).await;
    let p = &fx.app.presence;
    let s = socket(&fx);
    p.connect(alice, &s).await;
    let mut events = fx.subscribe(Topic::Presence).await;

    p.set_status(alice, PresenceStatus::Away).await;
    assert_eq!(
        presence_of(next(&mut events).await),
        (alice, PresenceStatus::Away, HashSet::from([chat]))
    );
    assert_eq!(p.get(alice).await.unwrap().status, PresenceStatus::Away);
    let online: Vec<UserPresence> = p.online(None, None).await.unwrap().users;
    assert_eq!(online.len(), 1, "away counts as online");
    assert_eq!(online[0].status, PresenceStatus::Away);

    p.set_status(alice, PresenceStatus::Away).await;
    fx.assert_quiet(&mut events, &Topic::Presence).await;
    p.set_status(alice, PresenceStatus::Online).await;
    assert_eq!(
        presence_of(next(&mut events).await).1,
        PresenceStatus::Online
    );

    // Without a socket a user cannot be away.
    p.set_status(bob, PresenceStatus::Away).await;
    fx.assert_quiet(&mut events, &Topic::Presence).await;
    assert_eq!(p.get(bob).await.unwrap().status, PresenceStatus::Offline);
}

#[tokio::test]
async fn unknown_users_are_offline() {
    let fx = Fixture::new();
    let nobody = UserId::new();
    let presence = fx.app.presence.get(nobody).await.unwrap();
    assert_eq!(
        presence,
        UserPresence::unknown(nobody, fx.clock.now()),
        "offline, seen now"
    );
    assert!(fx
        .app
        .presence
        .online(None, None)
        .await
        .unwrap()
        .users
        .is_empty());
}

#[tokio::test]
async fn maintain_takes_expired_users_offline_and_announces_them() {
    let fx = Fixture::new();
    let (alice, bob) = (fx.user("alice").await, fx.user("bob").await);
    let chat = fx.chat(alice, &[bob]).await;
    let p = &fx.app.presence;
    let (a, b) = (socket(&fx), socket(&fx));
    p.connect(alice, &a).await;
    p.connect(bob, &b).await;
    let mut events = fx.subscribe(Topic::Presence).await;

    // Nothing is stale yet.
    p.maintain().await;
    fx.assert_quiet(&mut events, &Topic::Presence).await;

    // Bob stays active; alice's record runs past its 300 s lifetime.
    advance(&fx.clock, 200);
    p.touch(bob, &b).await;
    advance(&fx.clock, 101);
    p.maintain().await;
    assert_eq!(
        presence_of(next(&mut events).await),
        (alice, PresenceStatus::Offline, HashSet::from([chat]))
    );
    fx.assert_quiet(&mut events, &Topic::Presence).await;
    assert_eq!(p.get(alice).await.unwrap().status, PresenceStatus::Offline);
    assert_eq!(p.get(bob).await.unwrap().status, PresenceStatus::Online);
    let online: Vec<UserId> = p
        .online(None, None)
        .await
        .unwrap()
        .users
        .iter()
        .map(|u| u.user_id)
        .collect();
    assert_eq!(online, vec![bob]);

    // Announced once: the next round finds nothing new.
    p.maintain().await;
    fx.assert_quiet(&mut events, &Topic::Presence).await;
}

#[tokio::test]
async fn maintain_takes_users_of_dead_instances_offline() {
    let fx = Fixture::new();
    let (alice, bob) = (fx.user("alice").await, fx.user("bob").await);
    fx.chat(alice, &[bob]).await;
    let p = &fx.app.presence;
    // A socket owned by another instance that never heart-beats.
    let dead = InstanceId::parse("dead-instance").unwrap();
    p.connect(alice, &SocketId::new(&dead, uuid::Uuid::new_v4()))
        .await;
    p.connect(bob, &socket(&fx)).await;
    let mut events = fx.subscribe(Topic::Presence).await;

    p.maintain().await;
    let (user, status, _) = presence_of(next(&mut events).await);
    assert_eq!((user, status), (alice, PresenceStatus::Offline));
    fx.assert_quiet(&mut events, &Topic::Presence).await;
    assert_eq!(p.get(bob).await.unwrap().status, PresenceStatus::Online);
}

#[tokio::test]
async fn activity_after_the_cleanup_took_a_connected_user_offline_announces_them_online() {
    let fx = Fixture::new();
    let (alice, bob) = (fx.user("alice").await, fx.user("bob").await);
    let chat = fx.chat(alice, &[bob]).await;
    let p = &fx.app.presence;
    let a = socket(&fx);
    p.connect(alice, &a).await;
    let mut events = fx.subscribe(Topic::Presence).await;

    // An ordinary refresh is not news.
    p.touch(alice, &a).await;
    fx.assert_quiet(&mut events, &Topic::Presence).await;

    // Alice's socket stays open but her record outlives online_ttl (say the store
    // was unreachable for a while), so the cleanup announces her offline.
    advance(&fx.clock, 301);
    p.maintain().await;
    assert_eq!(
        presence_of(next(&mut events).await),
        (alice, PresenceStatus::Offline, HashSet::from([chat]))
    );

    // Her socket's next heartbeat brings her back, and peers hear it.
    advance(&fx.clock, 5);
    p.touch(alice, &a).await;
    match next(&mut events).await {
        Event::Presence {
            user_id,
            status,
            last_seen,
            chats,
        } => {
            assert_eq!((user_id, status), (alice, PresenceStatus::Online));
            assert_eq!(last_seen, fx.clock.now());
            assert_eq!(chats, vec![chat]);
        }
        other => panic!("expected a presence event, got {other:?}"),
    }
    fx.assert_quiet(&mut events, &Topic::Presence).await;
    assert_eq!(p.get(alice).await.unwrap().status, PresenceStatus::Online);

    // Back online, her activity is ordinary again; the cleanup leaves her be.
    p.touch(alice, &a).await;
    p.maintain().await;
    fx.assert_quiet(&mut events, &Topic::Presence).await;
}

#[tokio::test]
async fn activity_after_clear_presence_announces_the_user_online() {
    let mut store = None;
    let fx = Fixture::with_ports(|ports| {
        store = Some(ports.presence.clone());
        ports
    });
    let store = store.expect("the presence port");
    let (alice, bob) = (fx.user("alice").await, fx.user("bob").await);
    let chat = fx.chat(alice, &[bob]).await;
    let p = &fx.app.presence;
    let a = socket(&fx);
    p.connect(alice, &a).await;
    let mut events = fx.subscribe(Topic::Presence).await;

    store.clear_all().await.unwrap();
    p.touch(alice, &a).await;
    assert_eq!(
        presence_of(next(&mut events).await),
        (alice, PresenceStatus::Online, HashSet::from([chat]))
    );
    fx.assert_quiet(&mut events, &Topic::Presence).await;
    let online: Vec<UserId> = p
        .online(None, None)
        .await
        .unwrap()
        .users
        .iter()
        .map(|u| u.user_id)
        .collect();
    assert_eq!(online, vec![alice]);
}
