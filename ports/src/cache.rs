use std::time::Duration;

use async_trait::async_trait;
use webchat_domain::{ChatId, Message, MessageId};

use crate::PortResult;

/// How many messages a chat's recent window holds.
pub const RECENT_WINDOW: usize = 50;

/// How many messages read by id a chat's index tracks at most (the newest seqs).
pub const INDEX_LIMIT: usize = 1000;

/// Lifetimes of cached entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    /// Windows, pinned sets, chat indexes and tombstones (refreshed on write).
    pub ttl: Duration,
    /// Copies of messages read by id (cache-aside): short, so memory follows reads.
    pub read_ttl: Duration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(3600),
            read_ttl: Duration::from_secs(300),
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
/// repository stays the source of truth; every read that misses goes there. The
/// cache holds what is read, so its size follows the active chats, not the message
/// rate: a *recent window* per chat, the *pinned set* per chat, and short-lived
/// copies of messages read by id.
///
/// **The cache never serves content older than what the repository committed.**
/// Every message carries its `version` (the pts of its latest change). Writes after
/// a change (`cache_message`, `update_cached`, `delete_cached`) are *authoritative*:
/// they replace any older copy, and each raises the chat's *watermark* (the highest
/// version the cache saw written through for the chat). Writes of what a reader
/// fetched are *tentative*: `cache_read` only fills a missing copy, and `warm_up` /
/// `cache_pinned` take `as_of` (the chat's head pts read before the repository read)
/// and change nothing when the watermark is above it, since a change committed after
/// the read may be missing from the list. A write never replaces a copy with a higher
/// version.
///
/// Per chat the *recent window* holds the chat's newest messages, newest first, at
/// most [`RECENT_WINDOW`]. It only ever exists whole: `warm_up` creates it,
/// `cache_message` extends it with the message right after its head (and never
/// creates one), `update_cached` replaces a message's entry in it, and anything that
/// would leave a hole (a delete, a write-through out of order or past a missed seq)
/// drops it. So a window shorter than `RECENT_WINDOW` is the chat's entire history.
///
/// A delete leaves a *tombstone*: for the cache ttl after `delete_cached` the id
/// counts as deleted. `get_cached` answers `None` for it and no write brings it
/// back: the writes skip it, `cache_pinned` leaves it out, `warm_up` given it
/// changes nothing. `invalidate_chat` keeps tombstones; `clear_all` removes them.
/// Every check and the write it guards are one atomic step.
///
/// # Errors
/// `PortError::Unavailable` when the backend cannot answer; callers then read and
/// write through to the repository (and retry their authoritative writes), and the
/// response stays correct.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait MessageCache: Send + Sync {
    /// Write-through of a new message (authoritative). When the chat has a window,
    /// the message's seq decides (an empty window's head counts as seq 0):
    /// - `seq == head.seq + 1`: it becomes the head, the window is trimmed to
    ///   [`RECENT_WINDOW`] and its ttl renewed;
    /// - else, the window already holds a message with this seq or this id: the window
    ///   stays as it was;
    /// - otherwise the window is dropped, since it may now have a hole.
    ///
    /// Never creates a window, and caches no copy by id. Raises the watermark. A
    /// tombstoned id is skipped.
    async fn cache_message(&self, message: &Message) -> PortResult<()>;

    /// The copy cached by id, or `None` on a miss or a tombstoned id.
    async fn get_cached(&self, id: MessageId) -> PortResult<Option<Message>>;

    /// Write-through of an edit, pin or unpin (authoritative): the message's copy by
    /// id is written (also when there was none, for `read_ttl`, so a reader that
    /// fetched the older version cannot put it back), its window entry and its
    /// pinned-set membership (in when `pinned_at` is set, out otherwise) follow, each
    /// only over an older version. Never creates a window or pinned set. Raises the
    /// watermark. A tombstoned id is skipped.
    async fn update_cached(&self, message: &Message) -> PortResult<()>;

    /// Forgets a deleted message everywhere (its copy, index entry and pinned-set
    /// membership), drops the chat's window, leaves a tombstone for the id that lives
    /// the cache ttl, and raises the watermark to `version` (the delete's pts).
    async fn delete_cached(&self, chat: ChatId, id: MessageId, version: i64) -> PortResult<()>;

    /// The chat's window, newest first, cut to `limit`; `None` when no window exists.
    async fn recent(&self, chat: ChatId, limit: usize) -> PortResult<Option<Vec<Message>>>;

    /// Replaces the chat's pinned set with `pinned` (every pinned message of the
    /// chat, read from the repository when the chat stood at `as_of`), leaving out
    /// tombstoned ids; nothing changes when the watermark is above `as_of`.
    async fn cache_pinned(&self, chat: ChatId, pinned: &[Message], as_of: i64) -> PortResult<()>;

    /// The chat's pinned messages, newest pin first; `None` when no set is cached.
    async fn pinned(&self, chat: ChatId) -> PortResult<Option<Vec<Message>>>;

    /// Cache-aside copies of messages read by id from the repository (tentative):
    /// each is cached for `read_ttl` unless a copy or a tombstone is there already,
    /// and indexed under its chat (at most [`INDEX_LIMIT`] per chat, the newest seqs
    /// kept).
    async fn cache_read(&self, messages: &[Message]) -> PortResult<()>;

    /// Creates (or replaces) the chat's window from the repository's newest messages,
    /// given newest first and read when the chat stood at `as_of`; only the first
    /// [`RECENT_WINDOW`] are kept. Nothing changes (no window is created, an existing
    /// one stays) when the watermark is above `as_of` or a kept message is
    /// tombstoned: the list may be stale.
    async fn warm_up(&self, chat: ChatId, newest_first: &[Message], as_of: i64) -> PortResult<()>;

    /// Forgets everything cached for the chat except its tombstones and watermark,
    /// in bounded steps however many copies the chat has.
    async fn invalidate_chat(&self, chat: ChatId) -> PortResult<()>;

    /// Counts of cached copies by id and of chats with any of them (tombstones are
    /// not messages).
    async fn stats(&self) -> PortResult<CacheStats>;

    /// Removes every cache entry, tombstones and watermarks included (`webchat admin
    /// clear-cache`); returns how many keys or records went.
    async fn clear_all(&self) -> PortResult<u64>;
}
