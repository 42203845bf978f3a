//! Repairs that do not wait for the next message: after every pub/sub reconnect and
//! every few seconds, the rooms' cursors are compared with their chats' heads (one
//! batched read) and rooms that fell behind are filled; and memberships that began
//! recently are compared with the sockets' rooms, so a lost `chat.joined` cannot
//! leave a socket out of a chat.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::StreamExt;
use webchat_domain::{ChatId, UserId};

use super::{ConnId, SocketRegistry};
use crate::http::ws::protocol::{ChatJson, ServerFrame};

/// How often the heads are compared with the cursors.
const HEADS_EVERY: Duration = Duration::from_secs(2);
/// How often recent memberships are compared with the sockets' rooms.
const MEMBERSHIPS_EVERY: Duration = Duration::from_secs(5);
/// How far back each membership check looks past the previous one's time, for
/// memberships whose transactions committed late.
const MEMBERSHIP_OVERLAP: chrono::Duration = chrono::Duration::seconds(60);
/// Sockets younger than this load their chat list themselves.
const SETTLING: Duration = Duration::from_secs(2);
/// Heads read per query.
const HEADS_BATCH: usize = 500;

/// Starts the repair loop of `registry` (it stops with the registry).
pub(super) fn spawn(registry: &Arc<SocketRegistry>) {
    let weak = Arc::downgrade(registry);
    let mut reconnects = registry.feed.reconnects();
    let task = tokio::spawn(async move {
        let mut heads = tokio::time::interval(HEADS_EVERY);
        let mut memberships = tokio::time::interval(MEMBERSHIPS_EVERY);
        let mut since = Utc::now() - MEMBERSHIP_OVERLAP;
        loop {
            tokio::select! {
                _ = heads.tick() => with(&weak, |r| async move { r.reconcile_heads().await }).await,
                notice = reconnects.next() => {
                    if notice.is_none() {
                        // A bus that never loses events ends its notices; ticks go on.
                        reconnects = futures::stream::pending().boxed();
                        continue;
                    }
                    crate::metrics::pubsub_resubscribed();
                    tracing::info!("event bus reconnected: checking every room for missed events");
                    with(&weak, |r| async move { r.reconcile_heads().await }).await;
                    with(&weak, |r| async move { r.reconcile_memberships(since).await; }).await;
                }
                _ = memberships.tick() => {
                    let checked = match weak.upgrade() {
                        Some(r) => r.reconcile_memberships(since).await,
                        None => return,
                    };
                    if let Some(as_of) = checked {
                        since = as_of - MEMBERSHIP_OVERLAP;
                    }
                }
            }
            if weak.strong_count() == 0 {
                return;
            }
        }
    });
    registry
        .background
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(task);
}

async fn with<F, Fut>(weak: &Weak<SocketRegistry>, f: F)
where
    F: FnOnce(Arc<SocketRegistry>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    if let Some(registry) = weak.upgrade() {
        f(registry).await;
    }
}

impl SocketRegistry {
    /// Compares every room's cursor with its chat's head; rooms behind (or not
    /// started) get a fill.
    async fn reconcile_heads(&self) {
        let rooms: Vec<ChatId> = self.state().rooms.keys().copied().collect();
        for batch in rooms.chunks(HEADS_BATCH) {
            let heads = match self.feed.heads(batch).await {
                Ok(heads) => heads,
                Err(e) => {
                    tracing::debug!(error = %e, "cannot read chat heads for the repair");
                    return;
                }
            };
            let now = Instant::now();
            let behind: Vec<ChatId> = {
                let mut state = self.state();
                batch
                    .iter()
                    .zip(heads)
                    .filter_map(|(chat, head)| {
                        let room = state.rooms.get_mut(chat)?;
                        room.seq.behind(head).then(|| {
                            room.suspect_since.get_or_insert(now);
                            *chat
                        })
                    })
                    .collect()
            };
            for chat in behind {
                self.schedule_fill(chat);
            }
        }
    }

    /// Puts settled sockets in the chats their users joined since `since` and they
    /// are not in (nor left on purpose), telling them with `chat.joined`. Returns
    /// the repository's time of the check.
    async fn reconcile_memberships(
        &self,
        since: chrono::DateTime<Utc>,
    ) -> Option<chrono::DateTime<Utc>> {
        let users: Vec<UserId> = self.state().users.keys().copied().collect();
        if users.is_empty() {
            return Some(Utc::now());
        }
        let found = match self.feed.memberships_since(&users, since).await {
            Ok(found) => found,
            Err(e) => {
                tracing::debug!(error = %e, "cannot read recent memberships for the repair");
                return None;
            }
        };
        for (user, chat) in found.added {
            let missing: Vec<ConnId> = {
                let state = self.state();
                state
                    .users
                    .get(&user)
                    .into_iter()
                    .flatten()
                    .filter(|conn| {
                        state.conns.get(conn).is_some_and(|c| {
                            c.registered.elapsed() >= SETTLING
                                && !c.chats.contains_key(&chat)
                                && !c.left.contains(&chat)
                        })
                    })
                    .copied()
                    .collect()
            };
            if missing.is_empty() {
                continue;
            }
            let view = match self.feed.chat_view(chat).await {
                Ok(view) => view,
                Err(e) => {
                    tracing::debug!(error = %e, %chat, "cannot load a chat for the repair");
                    continue;
                }
            };
            tracing::info!(%user, %chat, sockets = missing.len(), "repaired a missed chat.joined");
            let frame: tokio_tungstenite::tungstenite::Utf8Bytes = ServerFrame::ChatJoined {
                chat: ChatJson {
                    chat: &view.chat,
                    member_ids: &view.member_ids,
                },
            }
            .render()
            .into();
            let frame = super::Outbound::plain(frame);
            for conn in missing {
                if let Err(e) = self.join(conn, chat).await {
                    tracing::warn!(error = %e, "cannot subscribe a socket to a joined chat");
                }
                self.state().deliver(conn, &frame);
            }
        }
        Some(found.as_of)
    }
}
