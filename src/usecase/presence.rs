//! Presence: who is online, as the shared PresenceStore knows it, with this
//! instance's own sockets as the fallback view when the store is down.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use webchat_domain::{ChatId, Event, InstanceId, PresenceStatus, SocketId, UserId, UserPresence};
use webchat_ports::{Clock, OnlinePage, PortResult, PresenceChange, PresenceStore};

use super::chat::ChatService;
use super::events::Publisher;
use super::{list_limit, AppResult};

/// What this instance knows of one user from its own sockets.
struct LocalPresence {
    status: PresenceStatus,
    last_seen: DateTime<Utc>,
    /// The user's open sockets on this instance.
    sockets: usize,
}

/// This instance's sockets per user: the degraded answer to presence reads.
#[derive(Default)]
struct LocalView {
    users: HashMap<UserId, LocalPresence>,
}

pub struct PresenceService {
    store: Arc<dyn PresenceStore>,
    chats: Arc<ChatService>,
    clock: Arc<dyn Clock>,
    events: Publisher,
    instance: InstanceId,
    local: Mutex<LocalView>,
}

impl PresenceService {
    pub fn new(
        store: Arc<dyn PresenceStore>,
        chats: Arc<ChatService>,
        clock: Arc<dyn Clock>,
        events: Publisher,
        instance: InstanceId,
    ) -> Self {
        Self {
            store,
            chats,
            clock,
            events,
            instance,
            local: Mutex::default(),
        }
    }

    pub fn instance(&self) -> &InstanceId {
        &self.instance
    }

    fn local(&self) -> std::sync::MutexGuard<'_, LocalView> {
        self.local.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Announces a status change to everyone who shares a chat with the user.
    async fn announce(&self, presence: &UserPresence) {
        self.announce_in(presence, None).await;
    }

    /// Announces to the given chats, or the user's chats when not known yet.
    async fn announce_in(&self, presence: &UserPresence, known: Option<Vec<ChatId>>) {
        let chats = match known {
            Some(chats) => chats,
            None => match self.chats.chat_ids(presence.user_id).await {
                Ok(chats) => chats,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot load chats for a presence event");
                    return;
                }
            },
        };
        if chats.is_empty() {
            return;
        }
        self.events
            .publish(Event::Presence {
                user_id: presence.user_id,
                status: presence.status,
                last_seen: presence.last_seen,
                chats,
            })
            .await;
    }

    /// Announces a store write that changed the user's status (to `chats` when
    /// the caller already knows them).
    async fn apply(&self, result: PortResult<Option<PresenceChange>>, chats: Option<Vec<ChatId>>) {
        match result {
            Ok(Some(change)) if change.changed => self.announce_in(&change.presence, chats).await,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "presence store unavailable"),
        }
    }

    /// A socket opened: the user is online (announced on their first socket).
    pub async fn connect(&self, user: UserId, socket: &SocketId) {
        self.connect_in(user, socket, None).await;
    }

    /// As `connect`, for a caller that has just loaded the user's chats.
    pub async fn connect_with_chats(&self, user: UserId, socket: &SocketId, chats: Vec<ChatId>) {
        self.connect_in(user, socket, Some(chats)).await;
    }

    async fn connect_in(&self, user: UserId, socket: &SocketId, chats: Option<Vec<ChatId>>) {
        let now = self.clock.now();
        self.local()
            .users
            .entry(user)
            .and_modify(|e| {
                e.status = PresenceStatus::Online;
                e.last_seen = now;
                e.sockets += 1
            })
            .or_insert(LocalPresence {
                status: PresenceStatus::Online,
                last_seen: now,
                sockets: 1,
            });
        let result = self.store.set_online(user, socket).await.map(Some);
        self.apply(result, chats).await;
    }

    /// A socket closed: the user goes offline when it was their last, anywhere.
    pub async fn disconnect(&self, user: UserId, socket: &SocketId) {
        {
            let mut local = self.local();
            if let Some(entry) = local.users.get_mut(&user) {
                entry.sockets = entry.sockets.saturating_sub(1);
                if entry.sockets == 0 {
                    local.users.remove(&user);
                }
            }
        }
        let result = self.store.set_offline(user, socket).await.map(Some);
        self.apply(result, None).await;
    }

    /// The client said it is online or away.
    pub async fn set_status(&self, user: UserId, status: PresenceStatus) {
        if let Some(entry) = self.local().users.get_mut(&user) {
            entry.status = status;
        }
        self.apply(self.store.set_status(user, status).await, None)
            .await;
    }

    /// Socket activity keeps the user's presence alive. When the store had taken
    /// the still-connected user offline (cleanup after a lagging heartbeat, or
    /// clear-presence), the touch brings them back and peers hear it as on connect.
    pub async fn touch(&self, user: UserId, socket: &SocketId) {
        match self.store.touch(user, socket).await {
            Ok(change) if change.changed => {
                tracing::info!(%user, "presence restored by socket activity");
                self.announce(&change.presence).await;
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "presence touch failed"),
        }
    }

    /// How many sockets `user` has open on every instance, or `None` when the store
    /// cannot tell.
    /// Declares this instance alive (its sockets stay counted); false when the
    /// store could not be told.
    pub async fn heartbeat(&self) -> bool {
        match self.store.heartbeat_instance(&self.instance).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, "instance heartbeat failed");
                false
            }
        }
    }

    pub async fn socket_count(&self, user: UserId) -> Option<u64> {
        match self.store.socket_count(user).await {
            Ok(n) => Some(n),
            Err(e) => {
                tracing::debug!(error = %e, "presence store cannot count sockets");
                None
            }
        }
    }

    pub async fn get(&self, user: UserId) -> AppResult<UserPresence> {
        let now = self.clock.now();
        match self.store.get_presence(user).await {
            Ok(p) => Ok(p.unwrap_or_else(|| UserPresence::unknown(user, now))),
            Err(e) => {
                tracing::warn!(error = %e, "presence store unavailable: answering locally");
                Ok(self
                    .local_view()
                    .into_iter()
                    .find(|p| p.user_id == user)
                    .unwrap_or_else(|| UserPresence::unknown(user, now)))
            }
        }
    }

    /// One page of everyone online or away, by user id (`limit` 1..=200, default
    /// 100, after the user `after`), with how many are online in all.
    pub async fn online(
        &self,
        after: Option<UserId>,
        limit: Option<usize>,
    ) -> AppResult<OnlinePage> {
        let limit = list_limit(limit)?;
        match self.store.online_page(after, limit).await {
            Ok(page) => Ok(page),
            Err(e) => {
                tracing::warn!(error = %e, "presence store unavailable: answering locally");
                let mut local = self.local_view();
                let total = local.len() as u64;
                local.sort_by_key(|p| p.user_id);
                local.retain(|p| after.is_none_or(|a| p.user_id > a));
                local.truncate(limit);
                Ok(OnlinePage {
                    users: local,
                    total,
                })
            }
        }
    }

    fn local_view(&self) -> Vec<UserPresence> {
        self.local()
            .users
            .iter()
            .map(|(user, local)| UserPresence {
                user_id: *user,
                status: local.status,
                last_seen: local.last_seen,
                socket_id: None,
            })
            .collect()
    }

    /// One round of the periodic job: this instance is alive; stale users go
    /// offline and are announced.
    pub async fn maintain(&self) {
        if !self.heartbeat().await {
            return;
        }
        match self.store.cleanup_stale().await {
            Ok(gone) => {
                for presence in &gone {
                    self.announce(presence).await;
                }
                if !gone.is_empty() {
                    tracing::info!(count = gone.len(), "presence cleanup: users went offline");
                }
            }
            Err(e) => tracing::warn!(error = %e, "presence cleanup failed"),
        }
    }
}
