//! Rooms: the chats this instance's sockets are in, each with its delivery cursor
//! (a [`Sequencer`]). Chat events go through the cursor, so every socket in the room
//! gets each change once and in `pts` order; a gap that does not close within
//! [`GAP_WAIT`] (or that a repair found) is filled from the chat's change log.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_tungstenite::tungstenite::Utf8Bytes;
use webchat_domain::event::Topic;
use webchat_domain::{ChatHead, ChatId, Event};

use super::{ConnId, Outbound, SocketRegistry, State};
use crate::http::ws::protocol::ServerFrame;
use crate::usecase::sequencer::Sequencer;
use crate::usecase::AppResult;

/// How long a later event waits for an earlier one before the log fills the gap.
pub(super) const GAP_WAIT: Duration = Duration::from_millis(100);
/// How long a fill waits before retrying a log that could not be read.
const FILL_RETRY: Duration = Duration::from_millis(500);

/// One chat with local sockets.
pub(super) struct Room {
    pub(super) conns: HashSet<ConnId>,
    pub(super) seq: Sequencer,
    /// Since when a repair suspects this room missed something (its head was past
    /// the cursor): the fill looks once in-flight events had time to arrive.
    pub(super) suspect_since: Option<Instant>,
    /// A fill task is scheduled or running for this room.
    filling: bool,
}

impl Room {
    fn new() -> Self {
        Self {
            conns: HashSet::new(),
            seq: Sequencer::new(),
            suspect_since: None,
            filling: false,
        }
    }

    /// When the room's fill should run, if it needs one.
    fn fill_due(&self) -> Option<Instant> {
        if self.seq.cursor().is_none() || self.seq.overflowed() {
            return Some(Instant::now());
        }
        let since = match (self.seq.waiting_since(), self.suspect_since) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b)?,
        };
        Some(since + GAP_WAIT)
    }
}

/// Takes `conn` out of `chat`'s room, dropping the room with its last socket.
pub(super) fn detach(state: &mut State, conn: ConnId, chat: ChatId) {
    if let Some(room) = state.rooms.get_mut(&chat) {
        room.conns.remove(&conn);
        if room.conns.is_empty() {
            state.rooms.remove(&chat);
        }
    }
}

/// Hands events, in order, to every socket of a room, each rendered once.
fn deliver_all(state: &State, chat: ChatId, events: &[Arc<Event>]) {
    let Some(room) = state.rooms.get(&chat) else {
        return;
    };
    for event in events {
        let Some(frame) = ServerFrame::from_event(event).map(|f| Utf8Bytes::from(f.render()))
        else {
            continue;
        };
        let created = match &**event {
            Event::MessageCreated { message, .. } => Some(message.created_at),
            _ => None,
        };
        let out = Outbound::new(frame, created);
        for conn in &room.conns {
            state.deliver(*conn, &out);
        }
    }
}

impl SocketRegistry {
    /// Puts socket `conn` in `chat` (membership is the caller's check) and returns
    /// its position there: every change after it reaches the socket live. `None`
    /// when the chat's head cannot be read yet (a repair starts the room later).
    pub async fn join(&self, conn: ConnId, chat: ChatId) -> AppResult<Option<ChatHead>> {
        {
            let mut state = self.state();
            let Some(c) = state.conns.get_mut(&conn) else {
                return Ok(None);
            };
            c.left.remove(&chat);
            if let Some(position) = c.chats.get(&chat) {
                if position.is_some() {
                    return Ok(*position);
                }
            }
            let room = state.rooms.entry(chat).or_insert_with(Room::new);
            room.conns.insert(conn);
            let position = room.seq.cursor();
            if let Some(c) = state.conns.get_mut(&conn) {
                c.chats.insert(chat, position);
            }
            if position.is_some() {
                return Ok(position);
            }
        }
        self.ensure_subscribed(Topic::Chat(chat)).await?;
        self.start_rooms(&[chat]).await;
        Ok(self
            .state()
            .conns
            .get(&conn)
            .and_then(|c| c.chats.get(&chat).copied().flatten()))
    }

    /// Puts a new socket in all of its user's chats at once: one head read for the
    /// rooms this instance did not have yet.
    pub async fn join_all(&self, conn: ConnId, chats: &[ChatId]) {
        let fresh: Vec<ChatId> = {
            let mut state = self.state();
            let mut fresh = Vec::new();
            if let Some(c) = state.conns.get_mut(&conn) {
                c.chats.reserve(chats.len());
            }
            for chat in chats {
                let room = state.rooms.entry(*chat).or_insert_with(Room::new);
                room.conns.insert(conn);
                let position = room.seq.cursor();
                if position.is_none() {
                    fresh.push(*chat);
                }
                match state.conns.get_mut(&conn) {
                    Some(c) => {
                        c.chats.insert(*chat, position);
                    }
                    None => detach(&mut state, conn, *chat),
                }
            }
            fresh
        };
        for chat in chats {
            if let Err(e) = self.ensure_subscribed(Topic::Chat(*chat)).await {
                tracing::warn!(error = %e, %chat, "cannot subscribe socket to chat");
            }
        }
        self.start_rooms(&fresh).await;
    }

    /// Starts the cursors of rooms that have none, from heads read after their
    /// subscriptions began; a room whose head cannot be read gets a fill task that
    /// keeps trying.
    async fn start_rooms(&self, chats: &[ChatId]) {
        if chats.is_empty() {
            return;
        }
        match self.feed.heads(chats).await {
            Ok(heads) => {
                let mut state = self.state();
                for (chat, head) in chats.iter().zip(heads) {
                    start_room(&mut state, *chat, head);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read chat heads; delivery starts later");
                for chat in chats {
                    self.schedule_fill(*chat);
                }
            }
        }
    }

    /// A message event from the bus, through its room's cursor.
    pub(super) fn on_chat_event(&self, event: Arc<Event>) {
        let Topic::Chat(chat) = event.topic() else {
            return;
        };
        let mut state = self.state();
        let Some(room) = state.rooms.get_mut(&chat) else {
            return;
        };
        let out = room.seq.offer(event, Instant::now());
        let gap = room.fill_due().is_some();
        deliver_all(&state, chat, &out);
        if gap {
            drop(state);
            self.schedule_fill(chat);
        }
    }

    /// Makes sure a fill task watches `chat`'s room.
    pub(super) fn schedule_fill(&self, chat: ChatId) {
        {
            let mut state = self.state();
            let Some(room) = state.rooms.get_mut(&chat) else {
                return;
            };
            if room.filling {
                return;
            }
            room.filling = true;
        }
        let Some(registry) = self.me.upgrade() else {
            return;
        };
        tokio::spawn(async move { registry.fill(chat).await });
    }

    /// Fills `chat`'s gaps from its change log until the room needs nothing more
    /// (or is gone).
    async fn fill(self: Arc<Self>, chat: ChatId) {
        loop {
            let due = {
                let mut state = self.state();
                let Some(room) = state.rooms.get_mut(&chat) else {
                    return;
                };
                match room.fill_due() {
                    Some(due) => due,
                    None => {
                        room.filling = false;
                        return;
                    }
                }
            };
            tokio::time::sleep_until(due.into()).await;
            let cursor = match self.state().rooms.get(&chat) {
                Some(room) => room.seq.cursor(),
                None => return,
            };
            let Some(cursor) = cursor else {
                match self.feed.heads(&[chat]).await {
                    Ok(heads) => start_room(&mut self.state(), chat, heads[0]),
                    Err(e) => {
                        tracing::debug!(error = %e, %chat, "chat head unreadable; retrying");
                        tokio::time::sleep(FILL_RETRY).await;
                    }
                }
                continue;
            };
            match self.feed.fill(chat, cursor.pts).await {
                Ok(fill) => {
                    let mut state = self.state();
                    let Some(room) = state.rooms.get_mut(&chat) else {
                        return;
                    };
                    let filled = fill.events.len();
                    let out = room.seq.fill(
                        fill.events,
                        fill.covered,
                        fill.head.map(|h| h.seq),
                        Instant::now(),
                    );
                    if fill.head.is_some() {
                        room.suspect_since = None;
                    }
                    if filled > 0 {
                        tracing::info!(%chat, filled, "filled a delivery gap from the change log");
                    }
                    deliver_all(&state, chat, &out);
                }
                Err(e) => {
                    tracing::warn!(error = %e, %chat, "cannot read the change log; retrying");
                    tokio::time::sleep(FILL_RETRY).await;
                }
            }
        }
    }
}

/// Starts a room's cursor at `head` and delivers what waited; every socket that
/// joined before gets the start as its position.
fn start_room(state: &mut State, chat: ChatId, head: ChatHead) {
    let Some(room) = state.rooms.get_mut(&chat) else {
        return;
    };
    let out = room.seq.start(head, Instant::now());
    let start = room.seq.started_at();
    let conns: Vec<ConnId> = room.conns.iter().copied().collect();
    for conn in conns {
        if let Some(position) = state
            .conns
            .get_mut(&conn)
            .and_then(|c| c.chats.get_mut(&chat))
        {
            position.get_or_insert_with(|| start.unwrap_or(head));
        }
    }
    deliver_all(state, chat, &out);
}
