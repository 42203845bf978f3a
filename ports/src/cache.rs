use std::time::Duration;

use async_trait::async_trait;
use webchat_domain::{ChatId, Message, MessageId};

use crate::PortResult;

/// How many messages a chat's recent window holds.
pub const RECENT_WINDOW: usize = 50;

/// Lifetimes of cached entries (CONTRACT.md: 1 h, refreshed on write).
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
/// creates it from the repository, `cache_message` extends an existing window with a
/// newer message (and never creates one), and anything that would leave a hole
/// (a delete) drops the window instead. So a window shorter than `RECENT_WINDOW`
/// is the chat's entire history. The pinned set works the same way: `cache_pinned`
/// creates it, `update_cached` keeps it in step.
///
/// # Errors
/// `PortError::Unavailable` when the backend cannot answer; callers then read and
/// write through to the repository, and the response stays correct.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait MessageCache: Send + Sync {
    /// Write-through of a stored message: caches it by id, indexes it by seq, and
    /// pushes it onto the chat's window when a window exists and the message is newer
    /// than its head (older messages never enter the window this way).
    async fn cache_message(&self, message: &Message) -> PortResult<()>;

    /// The cached message, or `None` on a miss.
    async fn get_cached(&self, id: MessageId) -> PortResult<Option<Message>>;

    /// Replaces a cached message after an edit, pin or unpin: its own entry, its
    /// entry in the window (if there), and its membership of the pinned set (if the
    /// set exists: in when `pinned_at` is set, out otherwise).
    async fn update_cached(&self, message: &Message) -> PortResult<()>;

    /// Forgets a deleted message everywhere and drops the chat's window.
    async fn delete_cached(&self, chat: ChatId, id: MessageId) -> PortResult<()>;

    /// The chat's window, newest first, cut to `limit`; `None` when no window exists.
    async fn recent(&self, chat: ChatId, limit: usize) -> PortResult<Option<Vec<Message>>>;

    /// Replaces the chat's pinned set with `pinned` (every pinned message of the
    /// chat, as the repository has them).
    async fn cache_pinned(&self, chat: ChatId, pinned: &[Message]) -> PortResult<()>;

    /// The chat's pinned messages, newest pin first; `None` when no set is cached.
    async fn pinned(&self, chat: ChatId) -> PortResult<Option<Vec<Message>>>;

    /// Caches many messages by id in one round trip (no window change).
    async fn cache_many(&self, messages: &[Message]) -> PortResult<()>;

    /// Creates (or replaces) the chat's window from the repository's newest messages,
    /// given newest first; only the first [`RECENT_WINDOW`] are kept.
    async fn warm_up(&self, chat: ChatId, newest_first: &[Message]) -> PortResult<()>;

    /// Forgets everything cached for the chat.
    async fn invalidate_chat(&self, chat: ChatId) -> PortResult<()>;

    /// Counts of cached messages and of chats with cached messages.
    async fn stats(&self) -> PortResult<CacheStats>;

    /// Removes every cache entry (`webchat admin clear-cache`); returns how many keys
    /// or records went.
    async fn clear_all(&self) -> PortResult<u64>;
}
