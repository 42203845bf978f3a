use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use webchat_domain::{ChatId, Message, MessageId};
use webchat_ports::{CacheConfig, CacheStats, Clock, MessageCache, PortResult, RECENT_WINDOW};

use crate::lock;

/// The message cache in memory, laid out like its Redis keys: entries by id, a seq
/// index, a recent window and a pinned set per chat, each with its own expiry, plus
/// the tombstones of deleted ids. Every check and the write it guards happen under
/// the one lock, so they are atomic.
pub struct MemoryMessageCache {
    ttl: chrono::Duration,
    clock: Arc<dyn Clock>,
    state: Mutex<Cached>,
}

/// Expired entries are dropped in a sweep every this many writes.
const SWEEP_EVERY: u32 = 1024;

#[derive(Default)]
struct Cached {
    messages: HashMap<MessageId, Expiring<Message>>,
    by_seq: HashMap<ChatId, Expiring<BTreeMap<i64, MessageId>>>,
    /// Newest first.
    windows: HashMap<ChatId, Expiring<VecDeque<Message>>>,
    /// Newest pin first.
    pinned: HashMap<ChatId, Expiring<Vec<Message>>>,
    /// Deleted ids, until when no write may cache them again.
    tombstones: HashMap<MessageId, DateTime<Utc>>,
    writes: u32,
}

impl Cached {
    fn tombstoned(&self, id: MessageId, now: DateTime<Utc>) -> bool {
        self.tombstones.get(&id).is_some_and(|until| *until > now)
    }
}

/// Where a written-through message falls relative to a chat's window.
enum Place {
    /// Right after the head: it becomes the new head.
    Next,
    /// Already in the window (by seq or id).
    Present,
    /// Older and missing, or past a missed seq: the window may have a hole.
    Gap,
}

fn place(window: &VecDeque<Message>, message: &Message) -> Place {
    // An empty window is a chat without messages, and seqs start at 1.
    let head = window.front().map_or(0, |m| m.seq);
    if message.seq == head + 1 {
        Place::Next
    } else if window
        .iter()
        .any(|m| m.seq == message.seq || m.id == message.id)
    {
        Place::Present
    } else {
        Place::Gap
    }
}

struct Expiring<T> {
    value: T,
    until: DateTime<Utc>,
}

impl<T> Expiring<T> {
    fn live(&self, now: DateTime<Utc>) -> Option<&T> {
        (self.until > now).then_some(&self.value)
    }
}

fn live_mut<'a, K: std::hash::Hash + Eq, T>(
    map: &'a mut HashMap<K, Expiring<T>>,
    key: &K,
    now: DateTime<Utc>,
) -> Option<&'a mut Expiring<T>> {
    map.get_mut(key).filter(|e| e.until > now)
}

fn sort_by_pin(pinned: &mut [Message]) {
    pinned.sort_by_key(|m| std::cmp::Reverse((m.pinned_at, m.seq)));
}

impl MemoryMessageCache {
    pub fn new(config: CacheConfig, clock: Arc<dyn Clock>) -> Self {
        Self {
            ttl: webchat_domain::chrono_duration(config.ttl),
            clock,
            state: Mutex::new(Cached::default()),
        }
    }

    /// Locks the state for a write at `now`, sweeping expired entries now and then.
    fn write(&self, now: DateTime<Utc>) -> std::sync::MutexGuard<'_, Cached> {
        let mut state = lock(&self.state);
        state.writes += 1;
        if state.writes >= SWEEP_EVERY {
            state.writes = 0;
            state.messages.retain(|_, e| e.until > now);
            state.by_seq.retain(|_, e| e.until > now);
            state.windows.retain(|_, e| e.until > now);
            state.pinned.retain(|_, e| e.until > now);
            state.tombstones.retain(|_, until| *until > now);
        }
        state
    }

    fn put(&self, state: &mut Cached, message: &Message, now: DateTime<Utc>) {
        let until = now + self.ttl;
        let entry = Expiring {
            value: message.clone(),
            until,
        };
        state.messages.insert(message.id, entry);
    }

    fn index(&self, state: &mut Cached, message: &Message, now: DateTime<Utc>) {
        let until = now + self.ttl;
        let index = state
            .by_seq
            .entry(message.chat_id)
            .or_insert_with(|| Expiring {
                value: BTreeMap::new(),
                until,
            });
        if index.until <= now {
            index.value.clear();
        }
        index.until = until;
        index.value.insert(message.seq, message.id);
    }
}

#[async_trait]
impl MessageCache for MemoryMessageCache {
    async fn cache_message(&self, message: &Message) -> PortResult<()> {
        let now = self.clock.now();
        let mut state = self.write(now);
        if state.tombstoned(message.id, now) {
            return Ok(());
        }
        self.put(&mut state, message, now);
        self.index(&mut state, message, now);
        let chat = message.chat_id;
        let Some(window) = live_mut(&mut state.windows, &chat, now) else {
            return Ok(());
        };
        match place(&window.value, message) {
            Place::Next => {
                window.value.push_front(message.clone());
                window.value.truncate(RECENT_WINDOW);
                window.until = now + self.ttl;
            }
            Place::Present => {}
            Place::Gap => {
                state.windows.remove(&chat);
            }
        }
        Ok(())
    }

    async fn get_cached(&self, id: MessageId) -> PortResult<Option<Message>> {
        let now = self.clock.now();
        let state = lock(&self.state);
        if state.tombstoned(id, now) {
            return Ok(None);
        }
        Ok(state.messages.get(&id).and_then(|e| e.live(now)).cloned())
    }

    async fn update_cached(&self, message: &Message) -> PortResult<()> {
        let now = self.clock.now();
        let mut state = self.write(now);
        if state.tombstoned(message.id, now) {
            return Ok(());
        }
        self.put(&mut state, message, now);
        if let Some(window) = live_mut(&mut state.windows, &message.chat_id, now) {
            for cached in window.value.iter_mut().filter(|m| m.id == message.id) {
                *cached = message.clone();
            }
        }
        if let Some(pinned) = live_mut(&mut state.pinned, &message.chat_id, now) {
            pinned.value.retain(|m| m.id != message.id);
            if message.pinned_at.is_some() {
                pinned.value.push(message.clone());
                sort_by_pin(&mut pinned.value);
            }
        }
        Ok(())
    }

    async fn delete_cached(&self, chat: ChatId, id: MessageId) -> PortResult<()> {
        let now = self.clock.now();
        let mut state = self.write(now);
        state.messages.remove(&id);
        state.tombstones.insert(id, now + self.ttl);
        state.windows.remove(&chat);
        if let Some(index) = state.by_seq.get_mut(&chat) {
            index.value.retain(|_, cached| *cached != id);
            if index.value.is_empty() {
                state.by_seq.remove(&chat);
            }
        }
        if let Some(pinned) = state.pinned.get_mut(&chat) {
            pinned.value.retain(|m| m.id != id);
        }
        Ok(())
    }

    async fn recent(&self, chat: ChatId, limit: usize) -> PortResult<Option<Vec<Message>>> {
        let now = self.clock.now();
        let state = lock(&self.state);
        let window = state.windows.get(&chat).and_then(|e| e.live(now));
        Ok(window.map(|w| w.iter().take(limit).cloned().collect()))
    }

    async fn cache_pinned(&self, chat: ChatId, pinned: &[Message]) -> PortResult<()> {
        let now = self.clock.now();
        let mut state = self.write(now);
        let mut set: Vec<Message> = pinned
            .iter()
            .filter(|m| m.pinned_at.is_some() && !state.tombstoned(m.id, now))
            .cloned()
            .collect();
        sort_by_pin(&mut set);
        state.pinned.insert(
            chat,
            Expiring {
                value: set,
                until: now + self.ttl,
            },
        );
        Ok(())
    }

    async fn pinned(&self, chat: ChatId) -> PortResult<Option<Vec<Message>>> {
        let now = self.clock.now();
        let state = lock(&self.state);
        Ok(state.pinned.get(&chat).and_then(|e| e.live(now)).cloned())
    }

    async fn cache_many(&self, messages: &[Message]) -> PortResult<()> {
        let now = self.clock.now();
        let mut state = self.write(now);
        for message in messages {
            if !state.tombstoned(message.id, now) {
                self.put(&mut state, message, now);
            }
        }
        Ok(())
    }

    #[tracing::instrument(skip(self, newest_first), fields(count = newest_first.len()))]
    async fn warm_up(&self, chat: ChatId, newest_first: &[Message]) -> PortResult<()> {
        let now = self.clock.now();
        let mut state = self.write(now);
        let kept = &newest_first[..newest_first.len().min(RECENT_WINDOW)];
        if kept.iter().any(|m| state.tombstoned(m.id, now)) {
            // Read before a delete: stale, and a window built from it would be wrong.
            return Ok(());
        }
        let window: VecDeque<Message> = kept.iter().cloned().collect();
        state.windows.insert(
            chat,
            Expiring {
                value: window,
                until: now + self.ttl,
            },
        );
        Ok(())
    }

    #[tracing::instrument(skip(self))]
    async fn invalidate_chat(&self, chat: ChatId) -> PortResult<()> {
        let now = self.clock.now();
        let mut state = self.write(now);
        state.messages.retain(|_, e| e.value.chat_id != chat);
        state.by_seq.remove(&chat);
        state.windows.remove(&chat);
        state.pinned.remove(&chat);
        Ok(())
    }

    async fn stats(&self) -> PortResult<CacheStats> {
        let now = self.clock.now();
        let state = lock(&self.state);
        let live_chats = state
            .by_seq
            .values()
            .filter_map(|e| e.live(now))
            .filter(|index| !index.is_empty())
            .count();
        Ok(CacheStats {
            total_cached_messages: state.messages.values().filter(|e| e.until > now).count() as u64,
            total_chats: live_chats as u64,
        })
    }

    #[tracing::instrument(skip(self))]
    async fn clear_all(&self) -> PortResult<u64> {
        let mut state = lock(&self.state);
        let removed = state.messages.len()
            + state.by_seq.len()
            + state.windows.len()
            + state.pinned.len()
            + state.tombstones.len();
        *state = Cached::default();
        Ok(removed as u64)
    }
}
