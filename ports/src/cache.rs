use std::time::Duration;

use async_trait::async_trait;
use webchat_domain::{ChatId, Message, MessageId};

use crate::PortResult;

/// How many messages a chat's recent window holds.
pub const RECENT_WINDOW: usize = 50;

/// Lifetimes of cached entries (docs/protocol.md: 1 h, refreshed on write).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    pub ttl: Duration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(3600),
        }
    }
}

/// What `webchat admin stats` prints (the seed's getStats).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    pub total_cached_messages: u64,
    pub total_chats: u64,
}

/// A cache in front of the MessageRepository (the seed's MessageCacheService). The
/// repository stays the source of truth; every read that misses goes there.
///
/// Per chat the cache keeps a *recent window*: the chat's newest messages, newest
/// first, at most [`RECENT_WINDOW`]. A window only ever exists whole: `warm_up`
/// creates it from the repository, `cache_message` extends an existing window with
/// the message right after its head (and never creates one), and anything that would
/// leave a hole (a delete, a write-through that arrives out of order or past a missed
/// seq) drops the window instead. So a window shorter than `RECENT_WINDOW` is the
/// chat's entire history. A wrong drop only costs one reload from the repository. The
/// pinned set works the same way: `cache_pinned` creates it, `update_cached` keeps it
/// in step.
///
/// A delete leaves a *tombstone*: for the cache ttl after `delete_cached(chat, id)`
/// the id counts as deleted. `get_cached` answers `None` for it, and no write brings
/// it back: `cache_message`, `cache_many` and `update_cached` skip it (it is not
/// cached by id, indexed, put in a window or pinned set), `cache_pinned` leaves it out
/// of the set, and `warm_up` given it changes nothing. So a write that read the
/// repository before a concurrent delete and reaches the cache after it loses instead
/// of resurrecting the message. `invalidate_chat` keeps tombstones; `clear_all`
/// removes them with everything else. Every check and the write it guards are one
/// atomic step.
///
/// # Errors
/// `PortError::Unavailable` when the backend cannot answer; callers then read and
/// write through to the repository, and the response stays correct.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait MessageCache: Send + Sync {
    /// Write-through of a stored message: caches it by id and indexes it by seq. When
    /// the chat has a window, the message's seq decides (an empty window's head counts
    /// as seq 0):
    /// - `seq == head.seq + 1`: it becomes the head, the window is trimmed to
    ///   [`RECENT_WINDOW`] and its ttl renewed;
    /// - else, the window already holds a message with this seq or this id: the window
    ///   stays as it was;
    /// - otherwise (an older message the window lacks, or a newer one past a missed
    ///   seq) the window is dropped, since it may now have a hole.
    ///
    /// Never creates a window. A tombstoned id is skipped: nothing changes.
    async fn cache_message(&self, message: &Message) -> PortResult<()>;

    /// The cached message, or `None` on a miss or a tombstoned id.
    async fn get_cached(&self, id: MessageId) -> PortResult<Option<Message>>;

    /// Replaces a cached message after an edit, pin or unpin: its own entry, its
    /// entry in the window (if there), and its membership of the pinned set (if the
    /// set exists: in when `pinned_at` is set, out otherwise). Never creates a window
    /// or pinned set. A tombstoned id is skipped: nothing changes.
    async fn update_cached(&self, message: &Message) -> PortResult<()>;

    /// Forgets a deleted message everywhere (its entry, seq index and pinned-set
    /// membership), drops the chat's window, and leaves a tombstone for the id that
    /// lives the cache ttl.
    async fn delete_cached(&self, chat: ChatId, id: MessageId) -> PortResult<()>;

    /// The chat's window, newest first, cut to `limit`; `None` when no window exists.
    async fn recent(&self, chat: ChatId, limit: usize) -> PortResult<Option<Vec<Message>>>;

    /// Replaces the chat's pinned set with `pinned` (every pinned message of the
    /// chat, as the repository has them), leaving out tombstoned ids.
    async fn cache_pinned(&self, chat: ChatId, pinned: &[Message]) -> PortResult<()>;

    /// The chat's pinned messages, newest pin first; `None` when no set is cached.
    async fn pinned(&self, chat: ChatId) -> PortResult<Option<Vec<Message>>>;

    /// Caches many messages by id in one round trip (no window change), skipping
    /// tombstoned ids.
    async fn cache_many(&self, messages: &[Message]) -> PortResult<()>;

    /// Creates (or replaces) the chat's window from the repository's newest messages,
    /// given newest first; only the first [`RECENT_WINDOW`] are kept. When any kept
    /// message is tombstoned the list was read before a delete and is stale: nothing
    /// changes (no window is created, an existing one stays).
    async fn warm_up(&self, chat: ChatId, newest_first: &[Message]) -> PortResult<()>;

    /// Forgets everything cached for the chat except its tombstones.
    async fn invalidate_chat(&self, chat: ChatId) -> PortResult<()>;

    /// Counts of cached messages and of chats with cached messages (tombstones are
    /// not messages).
    async fn stats(&self) -> PortResult<CacheStats>;

    /// Removes every cache entry, tombstones included (`webchat admin clear-cache`);
    /// returns how many keys or records went.
    async fn clear_all(&self) -> PortResult<u64>;
}
