//! The session scripts (`lua/session_*.lua`): each writes a session and its index
//! entry in one atomic step, and these methods build their keys and arguments.

use std::sync::LazyLock;

use chrono::Utc;
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
    /// Runs `session_create.lua`: -1 the id is taken, else how many of the user's
    /// sessions it ended to keep at most `max_per_user`.
    pub(super) async fn insert(
        &self,
        session: &UserSession,
        max_per_user: usize,
    ) -> PortResult<i64> {
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
            .arg(max_per_user.max(1))
            .arg(Utc::now().timestamp_millis())
            .arg(keys.session_of(""))
            .invoke_async(&mut conn)
            .await
            .map_err(|e| unavailable("create session", e))
    }

    /// Runs `session_rotate.lua`: 1 rotated, 0 absent or (without `end_on_reuse`)
    /// another refresh won, 2 ended (with `end_on_reuse`, the session held another
    /// hash), -1 the stored JSON cannot be read.
    pub(super) async fn compare_and_rotate(
        &self,
        next: &UserSession,
        expected_refresh_hash: &str,
        end_on_reuse: bool,
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
            .arg(if end_on_reuse { "1" } else { "0" })
            .invoke_async(&mut conn)
            .await
            .map_err(|e| unavailable("rotate session", e))
    }
}
