//! the degradation policy of docs/protocol.md, with failures injected through mocks: the cache
//! and the event bus are bypassed, the rate limiter fails open (see throttle.rs), the
//! session store fails closed, presence falls back to this instance's view.

use std::sync::Arc;

use webchat_domain::{PresenceStatus, SessionId, SocketId, UserId};
use webchat_ports::{
    Clock, MockEventBus, MockMessageCache, MockMessageRepository, MockPresenceStore,
    MockSessionStore, PortError,
};

use super::message::{seqs, Room};
use super::{Fixture, SECRET};
use crate::usecase::auth::ClientInfo;
use crate::usecase::tokens::TokenCodec;
use crate::usecase::AppError;

fn down() -> PortError {
    PortError::Unavailable("connection refused".into())
}

fn cache_down() -> MockMessageCache {
    let mut c = MockMessageCache::new();
    c.expect_cache_message().returning(|_| Err(down()));
    c.expect_get_cached().returning(|_| Err(down()));
    c.expect_update_cached().returning(|_| Err(down()));
    c.expect_delete_cached().returning(|_, _, _| Err(down()));
    c.expect_recent().returning(|_, _| Err(down()));
    c.expect_cache_pinned().returning(|_, _, _| Err(down()));
    c.expect_pinned().returning(|_| Err(down()));
    c.expect_cache_read().returning(|_| Err(down()));
    c.expect_warm_up().returning(|_, _, _| Err(down()));
    c.expect_invalidate_chat().returning(|_| Err(down()));
    c
}

#[tokio::test]
async fn a_cache_that_is_down_is_bypassed_and_answers_stay_right() {
    let room = Room::over(Fixture::with_ports(|mut p| {
        p.cache = Arc::new(cache_down());
        p
    }))
    .await;
    let m = &room.fx.app.messages;
    let sent = room.send_many(4).await;
    assert_eq!(seqs(&sent), vec![1, 2, 3, 4]);

    assert_eq!(m.get(room.bob, sent[0].id).await.unwrap(), sent[0]);
    let history = m.history(room.bob, room.chat, None, None).await.unwrap();
    assert_eq!(history, sent.iter().rev().cloned().collect::<Vec<_>>());
    let page = m
        .history(room.bob, room.chat, Some(3), Some(1))
        .await
        .unwrap();
    assert_eq!(page, vec![sent[1].clone()]);
    let recovered = m
        .recover(room.bob, room.chat, Some(2), None, None)
        .await
        .unwrap();
    assert_eq!(recovered.missed, sent[2..]);

    let edited = m.edit(room.alice, sent[0].id, "changed").await.unwrap();
    assert_eq!(edited.content, "changed");
    assert_eq!(m.get(room.bob, sent[0].id).await.unwrap(), edited);

    let pinned = m.set_pinned(room.bob, sent[1].id, true).await.unwrap();
    assert!(pinned.pinned_at.is_some());
    assert_eq!(m.pinned(room.alice, room.chat).await.unwrap(), vec![pinned]);

    m.delete(room.bob, sent[1].id).await.unwrap();
    let err = m.get(room.bob, sent[1].id).await.unwrap_err();
    assert!(matches!(err, AppError::NotFound(_)), "{err:?}");
    assert!(m.pinned(room.alice, room.chat).await.unwrap().is_empty());
    let history = m.history(room.bob, room.chat, None, None).await.unwrap();
    assert_eq!(seqs(&history), vec![4, 3, 1]);
    assert_eq!(history[2], edited);
}

#[tokio::test]
async fn an_event_bus_that_is_down_does_not_fail_writes() {
    let mut bus = MockEventBus::new();
    bus.expect_publish().returning(|_| Err(down()));
    let room = Room::over(Fixture::with_ports(|mut p| {
        p.bus = Arc::new(bus);
        p
    }))
    .await;
    let m = &room.fx.app.messages;
    let sent = m
        .send(room.alice, room.chat, "hello", Some("k"))
        .await
        .unwrap();
    assert_eq!((sent.seq, sent.content.as_str()), (1, "hello"));
    assert_eq!(
        m.history(room.bob, room.chat, None, None).await.unwrap(),
        vec![sent.clone()]
    );
    m.edit(room.alice, sent.id, "edited").await.unwrap();
    m.set_pinned(room.bob, sent.id, true).await.unwrap();
    m.delete(room.alice, sent.id).await.unwrap();
    let added = room
        .fx
        .app
        .chats
        .add_member(room.alice, room.chat, room.eve)
        .await
        .unwrap();
    assert!(added.member_ids.contains(&room.eve));
}

#[tokio::test]
async fn a_message_repository_that_is_down_is_a_503() {
    let mut repo = MockMessageRepository::new();
    repo.expect_insert().returning(|_| Err(down()));
    let room = Room::over(Fixture::with_ports(|mut p| {
        p.messages = Arc::new(repo);
        p
    }))
    .await;
    let err = room
        .fx
        .app
        .messages
        .send(room.alice, room.chat, "hello", None)
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Unavailable(_)), "{err:?}");
    assert_eq!(err.code(), "unavailable");
    assert!(!err.public_message().contains("connection refused"));
}

fn sessions_down() -> MockSessionStore {
    let mut s = MockSessionStore::new();
    s.expect_create().returning(|_, _| Err(down()));
    s.expect_get().returning(|_| Err(down()));
    s.expect_authorize().returning(|_, _| Err(down()));
    s.expect_blacklist_token().returning(|_, _| Err(down()));
    s.expect_delete().returning(|_| Err(down()));
    s.expect_user_sessions().returning(|_| Err(down()));
    s.expect_delete_all_for_user().returning(|_| Err(down()));
    s.expect_delete_others_for_user()
        .returning(|_, _| Err(down()));
    s
}

fn auth_unavailable<T: std::fmt::Debug>(r: Result<T, AppError>) {
    assert!(matches!(r, Err(AppError::AuthUnavailable(_))), "{r:?}");
}

#[tokio::test]
async fn a_session_store_that_is_down_fails_authentication_closed() {
    let fx = Fixture::with_ports(|mut p| {
        p.sessions = Arc::new(sessions_down());
        p
    });
    let auth = &fx.app.auth;
    let user = auth.register("alice", "correct horse", None).await.unwrap();
    auth_unavailable(
        auth.login("alice", "correct horse", ClientInfo::default())
            .await,
    );

    let now = fx.clock.now();
    let session = SessionId::new();
    let token =
        TokenCodec::new(SECRET).issue(user.id, session, now, now + chrono::Duration::minutes(5));
    auth_unavailable(auth.authenticate(&token).await);
    auth_unavailable(
        auth.refresh(&TokenCodec::new(SECRET).new_refresh_token(session))
            .await,
    );
    // A bad token is still refused as such: no store call is needed to know.
    let err = auth.authenticate("garbage").await;
    assert!(matches!(err, Err(AppError::Unauthorized)), "{err:?}");

    let ctx = crate::usecase::auth::AuthContext {
        user_id: user.id,
        session_id: session,
        token: webchat_domain::TokenFingerprint::of(&token),
        token_expires_at: now + chrono::Duration::minutes(5),
    };
    auth_unavailable(auth.logout(&ctx).await);
    auth_unavailable(auth.logout_all(&ctx).await);
    auth_unavailable(auth.logout_others(&ctx).await);
    auth_unavailable(auth.sessions(&ctx).await);
    auth_unavailable(auth.revoke_session(&ctx, session).await);
}

fn presence_down() -> MockPresenceStore {
    let mut s = MockPresenceStore::new();
    s.expect_set_online().returning(|_, _| Err(down()));
    s.expect_set_offline().returning(|_, _| Err(down()));
    s.expect_set_status().returning(|_, _| Err(down()));
    s.expect_get_presence().returning(|_| Err(down()));
    s.expect_online_page().returning(|_, _| Err(down()));
    s.expect_touch().returning(|_, _| Err(down()));
    s.expect_heartbeat_instance().returning(|_| Err(down()));
    s.expect_cleanup_stale().times(0);
    s
}

#[tokio::test]
async fn a_presence_store_that_is_down_answers_from_the_local_view() {
    let fx = Fixture::with_ports(|mut p| {
        p.presence = Arc::new(presence_down());
        p
    });
    let (alice, bob) = (fx.user("alice").await, fx.user("bob").await);
    fx.chat(alice, &[bob]).await;
    let mut events = fx.subscribe(webchat_domain::Topic::Presence).await;
    let p = &fx.app.presence;
    let instance = p.instance().clone();
    let (one, two) = (
        SocketId::new(&instance, uuid::Uuid::new_v4()),
        SocketId::new(&instance, uuid::Uuid::new_v4()),
    );

    p.connect(alice, &one).await;
    p.connect(alice, &two).await;
    let seen = p.get(alice).await.unwrap();
    assert_eq!((seen.user_id, seen.status), (alice, PresenceStatus::Online));
    assert_eq!(p.get(bob).await.unwrap().status, PresenceStatus::Offline);
    let online: Vec<UserId> = p
        .online(None, None)
        .await
        .unwrap()
        .users
        .iter()
        .map(|u| u.user_id)
        .collect();
    assert_eq!(online, vec![alice]);

    p.set_status(alice, PresenceStatus::Away).await;
    assert_eq!(p.get(alice).await.unwrap().status, PresenceStatus::Away);
    p.touch(alice, &one).await;
    p.disconnect(alice, &one).await;
    assert_eq!(p.get(alice).await.unwrap().status, PresenceStatus::Away);
    p.disconnect(alice, &two).await;
    assert_eq!(p.get(alice).await.unwrap().status, PresenceStatus::Offline);
    assert!(p.online(None, None).await.unwrap().users.is_empty());

    // Without its heartbeat an instance must not judge others stale.
    p.maintain().await;
    // The store never confirmed a change, so nothing was announced.
    fx.assert_quiet(&mut events, &webchat_domain::Topic::Presence)
        .await;
}
