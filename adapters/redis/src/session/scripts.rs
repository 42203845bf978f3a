//! The session scripts (`lua/session_*.lua`): each writes a session and its index
//! entry in one atomic step, and these methods build their keys and arguments.

use std::sync::LazyLock;

use redis::Script;
use webchat_domain::UserSession;
use webchat_ports::PortResult;

use super::record::{encode, ttl_ms};
use super::RedisSessionStore;
use crate::backend::unavailable;

static CREATE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../lua/session_create.lua")));
static ROTATE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../lua/session_rotate.lua")));

impl RedisSessionStore {
    /// Runs `session_create.lua`: 1 stored, 0 the id is taken.
    pub(super) async fn insert(&self, session: &UserSession) -> PortResult<i64> {
        let keys = self.backend.keys();
        let json = encode(session)?;
        let mut conn = self.backend.conn().await?;
        CREATE
            .key(keys.session(session.id))
            .key(keys.user_sessions(session.user_id))
            .arg(json)
            .arg(ttl_ms(session.expires_at))
            .arg(session.expires_at.timestamp_millis())
            .arg(session.id.to_string())
            .invoke_async(&mut conn)
            .await
            .map_err(|e| unavailable("create session", e))
    }

    /// Runs `session_rotate.lua`: 1 rotated, 0 absent or another refresh won, -1 the
    /// stored JSON cannot be read.
    pub(super) async fn compare_and_rotate(
        &self,
        next: &UserSession,
        expected_refresh_hash: &str,
    ) -> PortResult<i64> {
        let keys = self.backend.keys();
        let json = encode(next)?;
        let mut conn = self.backend.conn().await?;
        ROTATE
            .key(keys.session(next.id))
            .key(keys.user_sessions(next.user_id))
            .arg(expected_refresh_hash)
            .arg(json)
            // PXAT refuses 0 and below; a session dated 1970 is expired either way.
            .arg(next.expires_at.timestamp_millis().max(1))
            .arg(next.id.to_string())
            .arg(next.user_id.to_string())
            .invoke_async(&mut conn)
            .await
            .map_err(|e| unavailable("rotate session", e))
    }
}
