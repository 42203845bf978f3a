//! SessionStore over Redis.
//!
//! Keys (braces are literal hash tags): `session:{<sessionId>}` string, the JSON
//! UserSession, expiring at its `expires_at`; `user:sessions:{<userId>}` zset of
//! session ids scored by expiry (unix ms), living at least as long as its longest
//! session, stale members (and members whose session is gone) dropped on read;
//! `token:blacklist:{<sha256 hex>}` string living the token's remaining lifetime.
//!
//! Creation caps a user's live sessions (at most `max_per_user`, ending those that
//! expire first) and refresh detects reuse (ending the session): on a single server
//! each in the one script that writes the session; in Redis Cluster mode as the
//! ordered steps `scripts` argues for, the decision always atomic on one slot.

mod index;
mod record;
mod scripts;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use webchat_domain::{SessionId, TokenFingerprint, UserId, UserSession};
use webchat_ports::{PortError, PortResult, Rotation, SessionStore};

use crate::backend::{corrupt, unavailable, RedisBackend};
use crate::scan::unlink_keys;
use record::{decode, live, ttl_ms};

#[derive(Debug, Clone)]
pub struct RedisSessionStore {
    backend: RedisBackend,
}

impl RedisSessionStore {
    pub fn new(backend: RedisBackend) -> Self {
        Self { backend }
    }

    /// The raw stored JSON of a session.
    async fn raw(&self, id: SessionId) -> PortResult<Option<String>> {
        let mut conn = self.backend.conn().await?;
        redis::cmd("GET")
            .arg(self.backend.keys().session(id))
            .query_async(&mut conn)
            .await
            .map_err(|e| unavailable("GET session", e))
    }
}

#[async_trait]
impl SessionStore for RedisSessionStore {
    #[tracing::instrument(skip(self, session), fields(session = %session.id, user = %session.user_id))]
    async fn create(&self, session: &UserSession, max_per_user: usize) -> PortResult<u64> {
        match u64::try_from(self.insert(session, max_per_user).await?) {
            Ok(ended) => Ok(ended),
            Err(_) => Err(PortError::Conflict(format!(
                "session {} exists",
                session.id
            ))),
        }
    }

    #[tracing::instrument(skip(self))]
    async fn get(&self, id: SessionId) -> PortResult<Option<UserSession>> {
        live(self.raw(id).await?)
    }

    #[tracing::instrument(skip_all, fields(session = %next.id))]
    async fn rotate(&self, next: &UserSession, expected_refresh_hash: &str) -> PortResult<bool> {
        match self
            .compare_and_rotate(next, expected_refresh_hash, false)
            .await?
        {
            1 => Ok(true),
            0 => Ok(false),
            _ => Err(corrupt("session", format!("{} is not a session", next.id))),
        }
    }

    #[tracing::instrument(skip_all, fields(session = %next.id))]
    async fn rotate_or_end(
        &self,
        next: &UserSession,
        presented_refresh_hash: &str,
    ) -> PortResult<Rotation> {
        match self
            .compare_and_rotate(next, presented_refresh_hash, true)
            .await?
        {
            1 => Ok(Rotation::Rotated),
            2 => Ok(Rotation::Ended),
            0 => Ok(Rotation::Absent),
            _ => Err(corrupt("session", format!("{} is not a session", next.id))),
        }
    }

    #[tracing::instrument(skip(self))]
    async fn delete(&self, id: SessionId) -> PortResult<bool> {
        let Some(json) = self.raw(id).await? else {
            return Ok(false);
        };
        let session = decode(&json)?;
        Ok(self.remove(session.user_id, &[id.to_string()]).await? > 0)
    }

    #[tracing::instrument(skip(self))]
    async fn user_sessions(&self, user: UserId) -> PortResult<Vec<UserSession>> {
        let ids = self.indexed(user).await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys = self.backend.keys();
        let session_keys: Vec<String> = ids.iter().map(|id| keys.session_of(id)).collect();
        let records: Vec<Option<String>> = {
            let mut conn = self.backend.conn().await?;
            redis::cmd("MGET")
                .arg(&session_keys)
                .query_async(&mut conn)
                .await
                .map_err(|e| unavailable("MGET sessions", e))?
        };
        let mut sessions = Vec::with_capacity(ids.len());
        let mut dangling = Vec::new();
        for (id, json) in ids.into_iter().zip(records) {
            match live(json)? {
                Some(session) => sessions.push(session),
                None => dangling.push(id),
            }
        }
        // Entries whose session is gone (deleted elsewhere or expired) are dropped.
        self.remove(user, &dangling).await?;
        sessions.sort_by_key(|s| (s.created_at, s.id));
        Ok(sessions)
    }

    #[tracing::instrument(skip(self))]
    async fn delete_all_for_user(&self, user: UserId) -> PortResult<u64> {
        let ids = self.indexed(user).await?;
        let removed = self.remove(user, &ids).await?;
        let mut conn = self.backend.conn().await?;
        redis::cmd("UNLINK")
            .arg(self.backend.keys().user_sessions(user))
            .query_async::<u64>(&mut conn)
            .await
            .map_err(|e| unavailable("UNLINK session index", e))?;
        Ok(removed)
    }

    #[tracing::instrument(skip(self))]
    async fn delete_others_for_user(&self, user: UserId, keep: SessionId) -> PortResult<u64> {
        let keep = keep.to_string();
        let others: Vec<String> = self
            .indexed(user)
            .await?
            .into_iter()
            .filter(|id| *id != keep)
            .collect();
        self.remove(user, &others).await
    }

    #[tracing::instrument(skip_all)]
    async fn blacklist_token(
        &self,
        token: &TokenFingerprint,
        expires_at: DateTime<Utc>,
    ) -> PortResult<()> {
        if expires_at <= Utc::now() {
            return Ok(());
        }
        let mut conn = self.backend.conn().await?;
        redis::cmd("SET")
            .arg(self.backend.keys().blacklist(token.as_str()))
            .arg(1)
            .arg("PX")
            .arg(ttl_ms(expires_at))
            .query_async::<()>(&mut conn)
            .await
            .map_err(|e| unavailable("SET blacklist", e))
    }

    #[tracing::instrument(skip(self, token))]
    async fn authorize(
        &self,
        id: SessionId,
        token: &TokenFingerprint,
    ) -> PortResult<Option<UserSession>> {
        let keys = self.backend.keys();
        // Two slots: in Cluster mode both reads go at once.
        let mut conn = self.backend.conn().await?.unordered();
        let (json, blacklisted): (Option<String>, bool) = redis::pipe()
            .cmd("GET")
            .arg(keys.session(id))
            .cmd("EXISTS")
            .arg(keys.blacklist(token.as_str()))
            .query_async(&mut conn)
            .await
            .map_err(|e| unavailable("authorize", e))?;
        if blacklisted {
            return Ok(None);
        }
        live(json)
    }

    #[tracing::instrument(skip(self))]
    async fn clear_all(&self) -> PortResult<u64> {
        unlink_keys(
            &self.backend,
            &["session:*", "user:sessions:*", "token:blacklist:*"],
        )
        .await
    }
}
