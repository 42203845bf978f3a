//! The session writes: the user's index entry (`lua/session_index.lua`), then the
//! session (`SET NX`, or `lua/session_rotate.lua`), in that order, in one round
//! trip on a single server. The session key has its own slot (it is found by its
//! id alone), so in Redis Cluster mode these are two steps; indexing first keeps
//! every live session in its user's index, which logout-all relies on. Neither
//! step may run twice (`send_once`).

use std::sync::LazyLock;

use redis::{Pipeline, Script};
use webchat_domain::UserSession;
use webchat_ports::PortResult;

use super::record::{encode, ttl_ms};
use super::RedisSessionStore;
use crate::backend::slot_script;
use crate::pipeline::{replies, reply, send_once};

static INDEX: LazyLock<Script> =
    LazyLock::new(|| slot_script(include_str!("../lua/session_index.lua")));
static ROTATE: LazyLock<Script> =
    LazyLock::new(|| slot_script(include_str!("../lua/session_rotate.lua")));

impl RedisSessionStore {
    /// A pipeline whose first step indexes `session` with its expiry (`rotation`:
    /// only an entry the user's index already holds).
    fn indexing(&self, session: &UserSession, rotation: bool) -> Pipeline {
        let mut invocation = INDEX.prepare_invoke();
        invocation
            .key(self.backend.keys().user_sessions(session.user_id))
            .arg(session.id.to_string())
            // PXAT refuses 0 and below; a session dated 1970 is expired either way.
            .arg(session.expires_at.timestamp_millis().max(1))
            .arg(if rotation { "XX" } else { "" });
        let mut pipe = redis::pipe();
        pipe.invoke_script(&invocation);
        pipe
    }

    /// Indexes, then stores with `SET NX`: 1 stored, 0 the id is taken.
    pub(super) async fn insert(&self, session: &UserSession) -> PortResult<i64> {
        let json = encode(session)?;
        let mut pipe = self.indexing(session, false);
        pipe.cmd("SET")
            .arg(self.backend.keys().session(session.id))
            .arg(json)
            .arg("PX")
            .arg(ttl_ms(session.expires_at))
            .arg("NX");
        let mut done = replies(
            "create session",
            send_once(&self.backend, "create session", &mut pipe, &[&INDEX]).await?,
            2,
        )?;
        // SET NX answers OK, or nil when the id is taken.
        Ok(i64::from(!matches!(done.remove(1), redis::Value::Nil)))
    }

    /// Indexes the new expiry, then runs `session_rotate.lua`: 1 rotated, 0 absent
    /// or another refresh won, -1 the stored JSON cannot be read.
    pub(super) async fn compare_and_rotate(
        &self,
        next: &UserSession,
        expected_refresh_hash: &str,
    ) -> PortResult<i64> {
        let json = encode(next)?;
        let mut rotation = ROTATE.prepare_invoke();
        rotation
            .key(self.backend.keys().session(next.id))
            .arg(expected_refresh_hash)
            .arg(json)
            .arg(next.expires_at.timestamp_millis().max(1))
            .arg(next.id.to_string())
            .arg(next.user_id.to_string());
        let mut pipe = self.indexing(next, true);
        pipe.invoke_script(&rotation);
        let mut done = replies(
            "rotate session",
            send_once(
                &self.backend,
                "rotate session",
                &mut pipe,
                &[&INDEX, &ROTATE],
            )
            .await?,
            2,
        )?;
        reply("rotate session", done.remove(1))
    }
}
