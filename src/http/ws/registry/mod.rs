//! The socket registry: this instance's sockets, the chats they are in, and the
//! ordered delivery of every chat's events to them.
//!
//! The registry subscribes to a chat's topic only while at least one local socket is
//! in that chat, and to a user's topic only while that user has a local socket.
//! Each chat with local sockets is a [`room`](delivery) with a delivery cursor: chat
//! events reach the sockets exactly once and in `pts` order, gaps are filled from
//! the change log, and [`reconcile`] repairs what pub/sub lost without waiting for
//! the next message. Every event is rendered once and handed to the sockets it
//! concerns, behind one `Arc`: a raw WebSocket gets it written by the registry as
//! soon as its lock is released ([`StateGuard`], [`super::writer`]), a Socket.IO
//! socket gets it queued for its loop. A socket with too many events waiting is a
//! slow consumer and is told to close rather than let memory grow.
//!
//! Lock order: `subs` (async, held across a subscription) before `state` (sync,
//! never held across an `.await`); nothing takes `subs` while holding `state`.

mod delivery;
mod reconcile;

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Instant;

use chrono::{DateTime, Utc};

use futures::StreamExt;
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Utf8Bytes;
use webchat_domain::event::Topic;
use webchat_domain::{ChatHead, ChatId, Event, UserId};

use super::protocol::{ChatJson, ServerFrame};
use super::writer::{Offered, Writer};
use crate::usecase::feed::Feed;
use crate::usecase::AppResult;
use delivery::Room;

pub type ConnId = u64;

/// How many frames may wait for a slow socket before it is disconnected.
pub const OUTBOUND_BUFFER: usize = 1024;

/// A rendered frame, with when its message was created, for a `message.created`
/// (the delivery latency is measured when the frame is written). Built once per
/// event and queued behind an `Arc` for every socket that gets it: a queue slot is
/// one pointer, and the bytes each kind of socket writes are made once.
#[derive(Debug)]
pub struct Outbound {
    pub frame: Utf8Bytes,
    pub created: Option<DateTime<Utc>>,
    /// The frame as a Socket.IO event's payload, made by the first Socket.IO
    /// socket that sends it and shared by the rest.
    event: OnceLock<crate::http::socketio::Event>,
    /// The frame as WebSocket bytes (header and payload), encoded by the first
    /// raw WebSocket that sends it and written as is to the rest.
    ws: OnceLock<bytes::Bytes>,
}

/// What a socket's queue holds.
pub type Queued = Arc<Outbound>;

impl Outbound {
    pub fn new(frame: Utf8Bytes, created: Option<DateTime<Utc>>) -> Queued {
        Arc::new(Self {
            frame,
            created,
            event: OnceLock::new(),
            ws: OnceLock::new(),
        })
    }

    /// A frame that announces no new message.
    pub fn plain(frame: Utf8Bytes) -> Queued {
        Self::new(frame, None)
    }

    /// The frame as a Socket.IO event (made once per instance).
    pub fn event(&self) -> &crate::http::socketio::Event {
        self.event
            .get_or_init(|| crate::http::socketio::Event::from_frame(&self.frame))
    }

    /// The frame as a WebSocket text frame's bytes (encoded once per instance).
    pub fn ws_frame(&self) -> &[u8] {
        self.ws
            .get_or_init(|| crate::http::ws::writer::text_frame(&self.frame))
    }
}

/// How the registry reaches a socket.
pub enum Outlet {
    /// Events are queued for the socket's loop, which writes them (Socket.IO).
    Queue(mpsc::Sender<Queued>),
    /// Events are written straight to the socket (the raw WebSocket).
    Direct(Arc<Writer>),
}

/// The registry's handle on one socket.
struct Conn {
    user: UserId,
    outlet: Outlet,
    kill: Arc<Notify>,
    /// The chats the socket is in, with its position in each: what came after it
    /// reaches the socket live (unknown while the chat's head could not be read).
    chats: ChatPositions,
    /// Chats the socket left on purpose: membership reconciliation leaves them be.
    left: HashSet<ChatId>,
    registered: Instant,
    /// Set once the socket was found too slow (it is closing; say so once).
    slow: AtomicBool,
}

/// A socket's chats and its position in each, as a list: read only when a socket
/// joins, leaves or a room starts (never per event), and a socket lives in every
/// chat of its user, so its size matters more than its lookups (a list of 50 chats
/// is 2.0 KB where a map of them held 2.6 KB, one chat 40 bytes where a map held
/// 180).
#[derive(Default)]
struct ChatPositions(Vec<(ChatId, Option<ChatHead>)>);

impl ChatPositions {
    fn get(&self, chat: &ChatId) -> Option<&Option<ChatHead>> {
        self.0.iter().find(|(c, _)| c == chat).map(|(_, p)| p)
    }

    fn get_mut(&mut self, chat: &ChatId) -> Option<&mut Option<ChatHead>> {
        self.0.iter_mut().find(|(c, _)| c == chat).map(|(_, p)| p)
    }

    fn contains_key(&self, chat: &ChatId) -> bool {
        self.get(chat).is_some()
    }

    /// Sets the position in `chat`, adding the chat if it is new.
    fn insert(&mut self, chat: ChatId, position: Option<ChatHead>) {
        match self.get_mut(&chat) {
            Some(p) => *p = position,
            None => self.0.push((chat, position)),
        }
    }

    fn remove(&mut self, chat: &ChatId) {
        self.0.retain(|(c, _)| c != chat);
    }

    /// Room for `more` chats, exactly (a new socket's chats arrive all at once).
    fn reserve(&mut self, more: usize) {
        self.0.reserve_exact(more);
    }

    fn keys(&self) -> impl Iterator<Item = &ChatId> {
        self.0.iter().map(|(c, _)| c)
    }

    fn into_keys(self) -> impl Iterator<Item = ChatId> {
        self.0.into_iter().map(|(c, _)| c)
    }
}

#[derive(Default)]
struct State {
    next_id: ConnId,
    conns: HashMap<ConnId, Conn>,
    users: HashMap<UserId, HashSet<ConnId>>,
    rooms: HashMap<ChatId, Room>,
    /// Sockets given events under the lock, written once it is released
    /// ([`StateGuard`]): the lock is never held across a socket write.
    dirty: RefCell<Vec<Arc<Writer>>>,
    /// Events handed to sockets under the lock, counted once it is released.
    delivered: Cell<u64>,
}

impl State {
    fn interested(&self, topic: &Topic) -> bool {
        match topic {
            Topic::Chat(c) => self.rooms.contains_key(c),
            Topic::User(u) => self.users.contains_key(u),
            Topic::Presence => true,
        }
    }

    /// Queues a rendered frame for a socket: shared, not copied.
    fn deliver(&self, conn: ConnId, out: &Queued) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let full = match &c.outlet {
            Outlet::Queue(tx) => match tx.try_send(Arc::clone(out)) {
                Ok(()) => false,
                Err(mpsc::error::TrySendError::Full(_)) => true,
                Err(mpsc::error::TrySendError::Closed(_)) => return,
            },
            Outlet::Direct(writer) => match writer.offer(out) {
                Offered::Queued => {
                    let mut dirty = self.dirty.borrow_mut();
                    if !dirty.last().is_some_and(|w| Arc::ptr_eq(w, writer)) {
                        dirty.push(Arc::clone(writer));
                    }
                    false
                }
                Offered::Full => true,
                Offered::Gone => return,
            },
        };
        if !full {
            self.delivered.set(self.delivered.get() + 1);
        } else if !c.slow.swap(true, Ordering::Relaxed) {
            tracing::warn!(conn, "slow consumer: closing socket");
            c.kill.notify_one();
        }
    }
}

/// The registry's lock; on release, the events given to raw WebSockets under it
/// are written (outside the lock, each socket's queue in order).
struct StateGuard<'a>(Option<MutexGuard<'a, State>>);

impl std::ops::Deref for StateGuard<'_> {
    type Target = State;
    fn deref(&self) -> &State {
        self.0.as_ref().expect("held until dropped")
    }
}

impl std::ops::DerefMut for StateGuard<'_> {
    fn deref_mut(&mut self) -> &mut State {
        self.0.as_mut().expect("held until dropped")
    }
}

impl Drop for StateGuard<'_> {
    fn drop(&mut self) {
        let Some(state) = self.0.take() else {
            return;
        };
        let dirty = std::mem::take(&mut *state.dirty.borrow_mut());
        let delivered = state.delivered.take();
        drop(state);
        crate::metrics::events_delivered(delivered);
        for writer in dirty {
            writer.flush();
        }
    }
}

pub struct SocketRegistry {
    feed: Arc<Feed>,
    /// Sockets, rooms, and which sockets belong to which user.
    state: Mutex<State>,
    /// The live subscription per topic: a task forwarding its events to `dispatch`.
    subs: tokio::sync::Mutex<HashMap<Topic, JoinHandle<()>>>,
    /// The periodic repair loops, stopped with the registry.
    background: Mutex<Vec<JoinHandle<()>>>,
    me: Weak<SocketRegistry>,
}

impl Drop for SocketRegistry {
    fn drop(&mut self) {
        for task in self.background.get_mut().unwrap_or_else(|p| p.into_inner()) {
            task.abort();
        }
    }
}

impl SocketRegistry {
    /// A registry over `feed`, already listening to presence events and running its
    /// repair loops.
    pub async fn start(feed: Arc<Feed>) -> Arc<Self> {
        let registry = Arc::new_cyclic(|me| Self {
            feed,
            state: Mutex::default(),
            subs: tokio::sync::Mutex::default(),
            background: Mutex::default(),
            me: me.clone(),
        });
        if let Err(e) = registry.ensure_subscribed(Topic::Presence).await {
            tracing::warn!(error = %e, "cannot subscribe to presence events");
        }
        reconcile::spawn(&registry);
        registry
    }

    fn state(&self) -> StateGuard<'_> {
        StateGuard(Some(self.state.lock().unwrap_or_else(|p| p.into_inner())))
    }

    /// Sockets currently registered.
    pub fn connections(&self) -> usize {
        self.state().conns.len()
    }

    async fn ensure_subscribed(&self, topic: Topic) -> AppResult<()> {
        let mut subs = self.subs.lock().await;
        // Already subscribed, or the socket that wanted it has gone meanwhile (its
        // release ran before this subscription existed and would never undo it).
        if subs.get(&topic).is_some_and(|h| !h.is_finished()) || !self.state().interested(&topic) {
            return Ok(());
        }
        let mut stream = self.feed.subscribe(&topic).await?;
        let registry = self.me.clone();
        let task = tokio::spawn(async move {
            while let Some(event) = stream.next().await {
                match registry.upgrade() {
                    Some(registry) => registry.dispatch(event),
                    None => break,
                }
            }
        });
        subs.insert(topic, task);
        Ok(())
    }

    /// Drops the subscription to `topic` once no local socket needs it.
    async fn release(&self, topic: Topic) {
        let mut subs = self.subs.lock().await;
        if !self.state().interested(&topic) {
            if let Some(task) = subs.remove(&topic) {
                task.abort();
            }
        }
    }

    /// Registers a socket of `user`; frames for it go to `outlet`, and `kill` is
    /// notified if it cannot keep up.
    pub async fn register(&self, user: UserId, outlet: Outlet, kill: Arc<Notify>) -> ConnId {
        let id = {
            let mut state = self.state();
            state.next_id += 1;
            let id = state.next_id;
            state.conns.insert(
                id,
                Conn {
                    user,
                    outlet,
                    kill,
                    chats: ChatPositions::default(),
                    left: HashSet::new(),
                    registered: Instant::now(),
                    slow: AtomicBool::new(false),
                },
            );
            state.users.entry(user).or_default().insert(id);
            id
        };
        if let Err(e) = self.ensure_subscribed(Topic::User(user)).await {
            tracing::warn!(error = %e, "cannot subscribe to the user's events");
        }
        id
    }

    pub fn is_joined(&self, conn: ConnId, chat: ChatId) -> bool {
        self.state()
            .conns
            .get(&conn)
            .is_some_and(|c| c.chats.contains_key(&chat))
    }

    /// Takes socket `conn` out of `chat` (it asked to leave).
    pub async fn leave(&self, conn: ConnId, chat: ChatId) {
        {
            let mut state = self.state();
            if let Some(c) = state.conns.get_mut(&conn) {
                c.chats.remove(&chat);
                c.left.insert(chat);
            }
            delivery::detach(&mut state, conn, chat);
        }
        self.release(Topic::Chat(chat)).await;
    }

    /// Forgets a closed socket and every subscription only it needed.
    pub async fn unregister(&self, conn: ConnId) {
        let (user, chats) = {
            let mut state = self.state();
            let Some(c) = state.conns.remove(&conn) else {
                return;
            };
            for chat in c.chats.keys() {
                delivery::detach(&mut state, conn, *chat);
            }
            if let Some(set) = state.users.get_mut(&c.user) {
                set.remove(&conn);
                if set.is_empty() {
                    state.users.remove(&c.user);
                }
            }
            (c.user, c.chats)
        };
        for chat in chats.into_keys() {
            self.release(Topic::Chat(chat)).await;
        }
        self.release(Topic::User(user)).await;
    }

    /// Routes one event from the bus to the local sockets it concerns.
    fn dispatch(&self, event: Arc<Event>) {
        match &*event {
            Event::ChatJoined {
                user_id,
                chat,
                member_ids,
            } => {
                let frame = ServerFrame::ChatJoined {
                    chat: ChatJson { chat, member_ids },
                }
                .render();
                self.on_chat_joined(*user_id, chat.id, frame.into());
            }
            Event::Presence { chats, user_id, .. } => {
                let Some(frame) = ServerFrame::from_event(&event)
                    .map(|f| Outbound::plain(Utf8Bytes::from(f.render())))
                else {
                    return;
                };
                let state = self.state();
                // Everyone who shares a chat with the user, once; not the user's own
                // sockets.
                let audience: HashSet<ConnId> = chats
                    .iter()
                    .filter_map(|c| state.rooms.get(c))
                    .flat_map(|room| room.conns.iter())
                    .copied()
                    .filter(|c| state.conns.get(c).is_some_and(|c| c.user != *user_id))
                    .collect();
                for conn in audience {
                    state.deliver(conn, &frame);
                }
            }
            Event::Typing { chat_id, user_id } => {
                let Some(frame) = ServerFrame::from_event(&event)
                    .map(|f| Outbound::plain(Utf8Bytes::from(f.render())))
                else {
                    return;
                };
                let state = self.state();
                for conn in state.rooms.get(chat_id).into_iter().flat_map(|r| &r.conns) {
                    if state.conns.get(conn).is_some_and(|c| c.user != *user_id) {
                        state.deliver(*conn, &frame);
                    }
                }
            }
            _ => self.on_chat_event(event),
        }
    }

    /// The user joined a chat: subscribe each of their local sockets, then tell them.
    fn on_chat_joined(&self, user: UserId, chat: ChatId, frame: Utf8Bytes) {
        let frame = Outbound::plain(frame);
        let conns: Vec<ConnId> = self
            .state()
            .users
            .get(&user)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        if conns.is_empty() {
            return;
        }
        let Some(registry) = self.me.upgrade() else {
            return;
        };
        tokio::spawn(async move {
            for conn in conns {
                if let Err(e) = registry.join(conn, chat).await {
                    tracing::warn!(error = %e, "cannot subscribe a socket to a joined chat");
                }
                registry.state().deliver(conn, &frame);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_positions_set_replace_and_forget_one_entry_per_chat() {
        let (a, b) = (ChatId::new(), ChatId::new());
        let head = |pts| Some(ChatHead { seq: pts, pts });
        let mut chats = ChatPositions::default();
        chats.reserve(2);
        chats.insert(a, None);
        chats.insert(b, head(3));
        chats.insert(a, head(7));
        assert_eq!(chats.get(&a), Some(&head(7)), "a second insert replaces");
        assert_eq!(chats.keys().count(), 2);
        assert_eq!(chats.0.capacity(), 2, "a new socket's chats take no slack");
        if let Some(p) = chats.get_mut(&b) {
            *p = head(9);
        }
        chats.remove(&a);
        assert!(!chats.contains_key(&a));
        assert_eq!(chats.get(&b), Some(&head(9)));
        assert_eq!(chats.into_keys().collect::<Vec<_>>(), vec![b]);
    }
}
