//! Races found by review, pinned down with gated stores: a refresh token used twice
//! concurrently, and the local presence view after a reconnect from away.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use webchat_domain::{
    PresenceStatus, SessionId, SocketId, TokenFingerprint, UserId, UserPresence, UserSession,
};
use webchat_ports::{
    MockPresenceStore, PortError, PortResult, PresenceChange, Rotation, SessionStore,
};

use super::auth::registered;
use super::Fixture;

/// A session store whose next `get` pauses, after answering, until released.
struct GatedSessions {
    inner: Arc<dyn SessionStore>,
    armed: Mutex<bool>,
    reached: Notify,
    release: Notify,
}

#[async_trait]
impl SessionStore for GatedSessions {
    async fn create(&self, s: &UserSession, max_per_user: usize) -> PortResult<u64> {
        self.inner.create(s, max_per_user).await
    }
    async fn get(&self, id: SessionId) -> PortResult<Option<UserSession>> {
        let r = self.inner.get(id).await;
        let stop = std::mem::take(&mut *self.armed.lock().unwrap());
        if stop {
            self.reached.notify_one();
            self.release.notified().await;
        }
        r
    }
    async fn delete(&self, id: SessionId) -> PortResult<bool> {
        self.inner.delete(id).await
    }
    async fn user_sessions(&self, user: UserId) -> PortResult<Vec<UserSession>> {
        self.inner.user_sessions(user).await
    }
    async fn delete_all_for_user(&self, user: UserId) -> PortResult<u64> {
        self.inner.delete_all_for_user(user).await
    }
    async fn delete_others_for_user(&self, user: UserId, keep: SessionId) -> PortResult<u64> {
        self.inner.delete_others_for_user(user, keep).await
    }
    async fn blacklist_token(&self, t: &TokenFingerprint, at: DateTime<Utc>) -> PortResult<()> {
        self.inner.blacklist_token(t, at).await
    }
    async fn authorize(
        &self,
        id: SessionId,
        t: &TokenFingerprint,
    ) -> PortResult<Option<UserSession>> {
        self.inner.authorize(id, t).await
    }
    async fn rotate(&self, next: &UserSession, expected: &str) -> PortResult<bool> {
        self.inner.rotate(next, expected).await
    }
    async fn rotate_or_end(&self, next: &UserSession, presented: &str) -> PortResult<Rotation> {
        self.inner.rotate_or_end(next, presented).await
    }
    async fn clear_all(&self) -> PortResult<u64> {
        self.inner.clear_all().await
    }
}

#[tokio::test]
async fn a_refresh_token_used_twice_at_once_is_honoured_once() {
    let mut gate = None;
    let fx = Fixture::with_ports(|mut p| {
        let g = Arc::new(GatedSessions {
            inner: p.sessions.clone(),
            armed: Mutex::new(false),
            reached: Notify::new(),
            release: Notify::new(),
        });
        gate = Some(g.clone());
        p.sessions = g;
        p
    });
    let gate = gate.unwrap();
    let pair = registered(&fx, "alice").await;

    *gate.armed.lock().unwrap() = true;
    let first = tokio::spawn({
        let (auth, token) = (fx.app.auth.clone(), pair.refresh_token.clone());
        async move { auth.refresh(&token).await }
    });
    gate.reached.notified().await; // the first refresh has checked the token
    let second = fx.app.auth.refresh(&pair.refresh_token).await;
    gate.release.notify_one();
    let first = first.await.unwrap();
    assert!(
        first.is_err() || second.is_err(),
        "one refresh token yielded two token pairs"
    );
}

fn up(user: UserId, status: PresenceStatus, changed: bool) -> PresenceChange {
    PresenceChange {
        presence: UserPresence {
            user_id: user,
            status,
            last_seen: Utc::now(),
            socket_id: None,
        },
        changed,
    }
}

#[tokio::test]
async fn a_new_socket_brings_the_local_view_back_online_from_away() {
    let mut store = MockPresenceStore::new();
    store
        .expect_set_online()
        .returning(|user, _| Ok(up(user, PresenceStatus::Online, true)));
    store
        .expect_set_status()
        .returning(|user, status| Ok(Some(up(user, status, true))));
    // The store then goes down: reads fall back to the local view.
    store
        .expect_get_presence()
        .returning(|_| Err(PortError::Unavailable("down".into())));
    let fx = Fixture::with_ports(|mut p| {
        p.presence = Arc::new(store);
        p
    });
    let alice = fx.user("alice").await;
    let p = &fx.app.presence;
    let socket = || SocketId::new(p.instance(), uuid::Uuid::new_v4());

    p.connect(alice, &socket()).await;
    p.set_status(alice, PresenceStatus::Away).await;
    // A new socket makes the user online again (PresenceStore::set_online).
    p.connect(alice, &socket()).await;
    assert_eq!(p.get(alice).await.unwrap().status, PresenceStatus::Online);
}
