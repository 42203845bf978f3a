use async_trait::async_trait;
use chrono::{DateTime, Utc};
use webchat_domain::{SessionId, TokenFingerprint, UserId, UserSession};

use crate::PortResult;

/// What [`SessionStore::rotate_or_end`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// The session held the presented refresh hash and now holds the next one.
    Rotated,
    /// The session lived but held another refresh hash: the presented token was
    /// already used, so the session was ended (every token of it stops working).
    Ended,
    /// No live session of that id and user: nothing changed.
    Absent,
}

/// Login sessions and revoked access tokens (the seed's SessionService).
///
/// A session lives until its `expires_at`; once past it, every read treats it as
/// absent. Each user's sessions are indexed so they can be listed and revoked
/// together; index entries of expired sessions are dropped when read.
///
/// # Errors
/// `PortError::Unavailable` when the backend cannot answer. Authentication fails
/// closed on it (503 `auth_unavailable`), never letting an unverifiable token in.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Stores a new session and indexes it under its user, then, in the same atomic
    /// step, ends the user's other sessions that expire first (the least recently
    /// logged into or refreshed) until at most `max_per_user` live sessions remain
    /// (the new one is never ended; `max_per_user` below 1 counts as 1). Returns how
    /// many sessions it ended. `PortError::Conflict` if a session with that id exists
    /// (nothing is stored or ended then).
    async fn create(&self, session: &UserSession, max_per_user: usize) -> PortResult<u64>;

    /// The live session, or `None` when absent or expired.
    async fn get(&self, id: SessionId) -> PortResult<Option<UserSession>>;

    /// Atomically replaces a live session's data with `next` (same id and user) only if
    /// its stored `refresh_token_hash` equals `expected_refresh_hash`; true when replaced,
    /// false when the session is absent, expired, or the hash differs (another refresh won).
    async fn rotate(&self, next: &UserSession, expected_refresh_hash: &str) -> PortResult<bool>;

    /// Refresh with reuse detection, atomically: like [`SessionStore::rotate`] when the
    /// live session (same id and user) holds `presented_refresh_hash`; when it holds
    /// another one, the presented token was already used (replayed by a thief, or by
    /// the owner after a thief), so the session and its index entry are removed
    /// instead. Of concurrent calls with one hash, at most one is `Rotated`.
    async fn rotate_or_end(
        &self,
        next: &UserSession,
        presented_refresh_hash: &str,
    ) -> PortResult<Rotation>;

    /// Removes a session and its index entry; true when it existed.
    async fn delete(&self, id: SessionId) -> PortResult<bool>;

    /// The user's live sessions, oldest first.
    async fn user_sessions(&self, user: UserId) -> PortResult<Vec<UserSession>>;

    /// Removes every session of the user; returns how many were live.
    async fn delete_all_for_user(&self, user: UserId) -> PortResult<u64>;

    /// Removes every session of the user but `keep`; returns how many went.
    async fn delete_others_for_user(&self, user: UserId, keep: SessionId) -> PortResult<u64>;

    /// Refuses the token until `expires_at` (its own expiry; nothing is stored for a
    /// token already expired).
    async fn blacklist_token(
        &self,
        token: &TokenFingerprint,
        expires_at: DateTime<Utc>,
    ) -> PortResult<()>;

    /// The hot path of every authenticated request, in one round trip: the live
    /// session `id`, or `None` when it is absent, expired, or `token` is blacklisted.
    async fn authorize(
        &self,
        id: SessionId,
        token: &TokenFingerprint,
    ) -> PortResult<Option<UserSession>>;

    /// Removes every session, index and blacklist entry (`webchat admin
    /// clear-sessions`); returns how many keys or records went.
    async fn clear_all(&self) -> PortResult<u64>;
}
