use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use webchat_domain::{ChatId, Message, MessageId};
use webchat_ports::{
    CacheConfig, CacheStats, Clock, MessageCache, PortResult, INDEX_LIMIT, RECENT_WINDOW,
};

use crate::lock;

/// The message cache in memory, laid out like its Redis keys: per message id a read
/// copy or a tombstone; per chat a recent window, a pinned set, an index of the
/// chat's copies (the newest `INDEX_LIMIT` seqs) and the watermark, each with its
/// own expiry. Every check and the write it guards happen under the one lock, so
/// they are atomic.
pub struct MemoryMessageCache {
    ttl: chrono::Duration,
    read_ttl: chrono::Duration,
    clock: Arc<dyn Clock>,
    state: Mutex<Cached>,
}

/// Expired entries are dropped in a sweep every this many writes.
const SWEEP_EVERY: u32 = 1024;

#[derive(Default)]
struct Cached {
    /// `message:{id}`: a read copy (`read_ttl`) or a tombstone (`ttl`).
    by_id: HashMap<MessageId, Expiring<ById>>,
    /// `chat:messages:{chat}`: (seq, id) of the chat's copies, at most INDEX_LIMIT.
    index: HashMap<ChatId, Expiring<BTreeSet<(i64, MessageId)>>>,
    /// `chat:recent:{chat}`: newest first.
    windows: HashMap<ChatId, Expiring<VecDeque<Message>>>,
    /// `chat:pinned:{chat}`.
    pinned: HashMap<ChatId, Expiring<PinnedSet>>,
    /// `chat:changed:{chat}`: the highest version written through.
    watermarks: HashMap<ChatId, Expiring<i64>>,
    writes: u32,
}

enum ById {
    Copy(Message),
    Tombstone,
}

/// A chat's pinned set as read from the repository at `as_of`, kept in step since.
struct PinnedSet {
    as_of: i64,
    entries: HashMap<MessageId, Pin>,
}

enum Pin {
    Pinned(Message),
    /// Left the set (unpinned or deleted) at this version: an older pin of the
    /// message written through later stays out.
    Unpinned(i64),
}

impl Pin {
    fn version(&self) -> i64 {
        match self {
            Pin::Pinned(m) => m.version,
            Pin::Unpinned(version) => *version,
        }
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

/// Where a written-through message falls relative to a chat's window.
enum Place {
    /// Right after the head: it becomes the new head.
    Next,
    /// The window holds a message with its seq or id already.
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

impl Cached {
    fn tombstoned(&self, id: MessageId, now: DateTime<Utc>) -> bool {
        matches!(
            self.by_id.get(&id).and_then(|e| e.live(now)),
            Some(ById::Tombstone)
        )
    }

    fn copy(&self, id: MessageId, now: DateTime<Utc>) -> Option<&Message> {
        match self.by_id.get(&id).and_then(|e| e.live(now)) {
            Some(ById::Copy(m)) => Some(m),
            _ => None,
        }
    }

    fn watermark(&self, chat: ChatId, now: DateTime<Utc>) -> Option<i64> {
        self.watermarks
            .get(&chat)
            .and_then(|e| e.live(now))
            .copied()
    }

    /// A tentative write read when the chat stood at `as_of` comes too late.
    fn stale(&self, chat: ChatId, as_of: i64, now: DateTime<Utc>) -> bool {
        self.watermark(chat, now).is_some_and(|w| w > as_of)
    }

    fn raise_watermark(
        &mut self,
        chat: ChatId,
        version: i64,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) {
        let current = self.watermark(chat, now).unwrap_or(i64::MIN);
        self.watermarks.insert(
            chat,
            Expiring {
                value: current.max(version),
                until,
            },
        );
    }

    /// Adds `(seq, id)` to the chat's index, keeping the newest INDEX_LIMIT seqs.
    fn index(&mut self, message: &Message, until: DateTime<Utc>, now: DateTime<Utc>) {
        let index = self
            .index
            .entry(message.chat_id)
            .or_insert_with(|| Expiring {
                value: BTreeSet::new(),
                until,
            });
        if index.until <= now {
            index.value.clear();
        }
        index.until = until;
        index.value.insert((message.seq, message.id));
        while index.value.len() > INDEX_LIMIT {
            index.value.pop_first();
        }
    }

    fn unindex(&mut self, chat: ChatId, id: MessageId) {
        if let Some(index) = self.index.get_mut(&chat) {
            index.value.retain(|(_, indexed)| *indexed != id);
            if index.value.is_empty() {
                self.index.remove(&chat);
            }
        }
    }
}

impl MemoryMessageCache {
    pub fn new(config: CacheConfig, clock: Arc<dyn Clock>) -> Self {
        Self {
            ttl: webchat_domain::chrono_duration(config.ttl),
            read_ttl: webchat_domain::chrono_duration(config.read_ttl),
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
            state.by_id.retain(|_, e| e.until > now);
            state.index.retain(|_, e| e.until > now);
            state.windows.retain(|_, e| e.until > now);
            state.pinned.retain(|_, e| e.until > now);
            state.watermarks.retain(|_, e| e.until > now);
        }
        state
    }
}

#[async_trait]
impl MessageCache for MemoryMessageCache {
    async fn cache_message(&self, message: &Message) -> PortResult<()> {
        let now = self.clock.now();
        let until = now + self.ttl;
        let mut state = self.write(now);
        if state.tombstoned(message.id, now) {
            return Ok(());
        }
        let chat = message.chat_id;
        state.raise_watermark(chat, message.version, until, now);
        let Some(window) = live_mut(&mut state.windows, &chat, now) else {
            return Ok(());
        };
        match place(&window.value, message) {
            Place::Next => {
                window.value.push_front(message.clone());
                window.value.truncate(RECENT_WINDOW);
                window.until = until;
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
        Ok(lock(&self.state).copy(id, now).cloned())
    }

    async fn update_cached(&self, message: &Message) -> PortResult<()> {
        let now = self.clock.now();
        let until = now + self.ttl;
        let mut state = self.write(now);
        if state.tombstoned(message.id, now) {
            return Ok(());
        }
        let (chat, version) = (message.chat_id, message.version);
        if state
            .copy(message.id, now)
            .is_none_or(|c| c.version < version)
        {
            let copy = Expiring {
                value: ById::Copy(message.clone()),
                until: now + self.read_ttl,
            };
            state.by_id.insert(message.id, copy);
        }
        state.index(message, until, now);
        if let Some(window) = live_mut(&mut state.windows, &chat, now) {
            for entry in window.value.iter_mut().filter(|m| m.id == message.id) {
                if entry.version < version {
                    *entry = message.clone();
                }
            }
        }
        if let Some(set) = live_mut(&mut state.pinned, &chat, now) {
            let set = &mut set.value;
            // Absent: the set knows the message's membership as of `as_of`.
            let known = set.entries.get(&message.id).map_or(set.as_of, Pin::version);
            if known < version {
                let pin = match message.pinned_at {
                    Some(_) => Pin::Pinned(message.clone()),
                    None => Pin::Unpinned(version),
                };
                set.entries.insert(message.id, pin);
            }
        }
        state.raise_watermark(chat, version, until, now);
        Ok(())
    }

    async fn delete_cached(&self, chat: ChatId, id: MessageId, version: i64) -> PortResult<()> {
        let now = self.clock.now();
        let until = now + self.ttl;
        let mut state = self.write(now);
        let tombstone = Expiring {
            value: ById::Tombstone,
            until,
        };
        state.by_id.insert(id, tombstone);
        state.unindex(chat, id);
        state.windows.remove(&chat);
        if let Some(set) = live_mut(&mut state.pinned, &chat, now) {
            set.value.entries.insert(id, Pin::Unpinned(version));
        }
        state.raise_watermark(chat, version, until, now);
        Ok(())
    }

    async fn recent(&self, chat: ChatId, limit: usize) -> PortResult<Option<Vec<Message>>> {
        let now = self.clock.now();
        let state = lock(&self.state);
        let window = state.windows.get(&chat).and_then(|e| e.live(now));
        Ok(window.map(|w| w.iter().take(limit).cloned().collect()))
    }

    async fn cache_pinned(&self, chat: ChatId, pinned: &[Message], as_of: i64) -> PortResult<()> {
        let now = self.clock.now();
        let mut state = self.write(now);
        if state.stale(chat, as_of, now) {
            return Ok(());
        }
        let entries = pinned
            .iter()
            .filter(|m| m.pinned_at.is_some() && !state.tombstoned(m.id, now))
            .map(|m| (m.id, Pin::Pinned(m.clone())))
            .collect();
        let set = Expiring {
            value: PinnedSet { as_of, entries },
            until: now + self.ttl,
        };
        state.pinned.insert(chat, set);
        Ok(())
    }

    async fn pinned(&self, chat: ChatId) -> PortResult<Option<Vec<Message>>> {
        let now = self.clock.now();
        let state = lock(&self.state);
        let Some(set) = state.pinned.get(&chat).and_then(|e| e.live(now)) else {
            return Ok(None);
        };
        let mut pinned: Vec<Message> = set
            .entries
            .values()
            .filter_map(|pin| match pin {
                Pin::Pinned(m) => Some(m.clone()),
                Pin::Unpinned(_) => None,
            })
            .collect();
        pinned.sort_by_key(|m| std::cmp::Reverse((m.pinned_at, m.seq)));
        Ok(Some(pinned))
    }

    async fn cache_read(&self, messages: &[Message]) -> PortResult<()> {
        let now = self.clock.now();
        let until = now + self.ttl;
        let mut state = self.write(now);
        for message in messages {
            let taken = state.by_id.get(&message.id).is_some_and(|e| e.until > now);
            if taken {
                continue;
            }
            let copy = Expiring {
                value: ById::Copy(message.clone()),
                until: now + self.read_ttl,
            };
            state.by_id.insert(message.id, copy);
            state.index(message, until, now);
        }
        Ok(())
    }

    #[tracing::instrument(skip(self, newest_first), fields(count = newest_first.len()))]
    async fn warm_up(&self, chat: ChatId, newest_first: &[Message], as_of: i64) -> PortResult<()> {
        let now = self.clock.now();
        let mut state = self.write(now);
        let kept = &newest_first[..newest_first.len().min(RECENT_WINDOW)];
        if state.stale(chat, as_of, now) || kept.iter().any(|m| state.tombstoned(m.id, now)) {
            // Read before a change the cache saw: a window built from it could be wrong.
            return Ok(());
        }
        let window = Expiring {
            value: kept.iter().cloned().collect(),
            until: now + self.ttl,
        };
        state.windows.insert(chat, window);
        Ok(())
    }

    #[tracing::instrument(skip(self))]
    async fn invalidate_chat(&self, chat: ChatId) -> PortResult<()> {
        let now = self.clock.now();
        let mut state = self.write(now);
        if let Some(index) = state.index.remove(&chat) {
            for (_, id) in index.value {
                if state.copy(id, now).is_some() {
                    state.by_id.remove(&id);
                }
            }
        }
        state.windows.remove(&chat);
        state.pinned.remove(&chat);
        Ok(())
    }

    async fn stats(&self) -> PortResult<CacheStats> {
        let now = self.clock.now();
        let state = lock(&self.state);
        let copies = state
            .by_id
            .values()
            .filter(|e| matches!(e.live(now), Some(ById::Copy(_))))
            .count();
        let chats = state.index.values().filter(|e| e.until > now).count();
        Ok(CacheStats {
            total_cached_messages: copies as u64,
            total_chats: chats as u64,
        })
    }

    #[tracing::instrument(skip(self))]
    async fn clear_all(&self) -> PortResult<u64> {
        let mut state = lock(&self.state);
        let removed = state.by_id.len()
            + state.index.len()
            + state.windows.len()
            + state.pinned.len()
            + state.watermarks.len();
        *state = Cached::default();
        Ok(removed as u64)
    }
}
