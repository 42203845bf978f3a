//! The `user:sessions:{userId}` index: reading it, and removing sessions along with
//! their entries.

use chrono::Utc;
use webchat_domain::UserId;
use webchat_ports::PortResult;

use super::RedisSessionStore;
use crate::backend::unavailable;

impl RedisSessionStore {
    /// The user's indexed session ids, after dropping the expired ones.
    pub(super) async fn indexed(&self, user: UserId) -> PortResult<Vec<String>> {
        let index = self.backend.keys().user_sessions(user);
        let mut conn = self.backend.conn().await?;
        let (_, ids): (u64, Vec<String>) = redis::pipe()
            .atomic()
            .cmd("ZREMRANGEBYSCORE")
            .arg(&index)
            .arg("-inf")
            .arg(Utc::now().timestamp_millis())
            .cmd("ZRANGE")
            .arg(&index)
            .arg(0)
            .arg(-1)
            .query_async(&mut conn)
            .await
            .map_err(|e| unavailable("read session index", e))?;
        Ok(ids)
    }

    /// UNLINKs the given sessions, then their index entries (the sessions live on
    /// other slots than the index: first the sessions, so an interruption leaves
    /// only entries without a session, dropped on read); returns how many existed.
    pub(super) async fn remove(&self, user: UserId, ids: &[String]) -> PortResult<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let keys = self.backend.keys();
        let session_keys: Vec<String> = ids.iter().map(|id| keys.session_of(id)).collect();
        let mut conn = self.backend.conn().await?;
        let (removed, _): (u64, u64) = redis::pipe()
            .cmd("UNLINK")
            .arg(&session_keys)
            .cmd("ZREM")
            .arg(keys.user_sessions(user))
            .arg(ids)
            .query_async(&mut conn)
            .await
            .map_err(|e| unavailable("remove sessions", e))?;
        Ok(removed)
    }
}
