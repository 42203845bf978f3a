//! The session writes. On a single server (and behind Sentinel) creation is one
//! atomic script (`lua/session_create.lua`: the session, its index entry and the
//! cap). In Redis Cluster mode the session key has its own slot (it is found by its
//! id alone), so creation is three steps: `SET NX` the session (a taken id stops
//! here: nothing indexed, nothing ended), then `lua/session_cap.lua` on the user's
//! index (indexes it and, atomically with that, drops the sessions the cap ends
//! from the index), then `UNLINK` the ended sessions. A session not in its user's
//! index cannot refresh (`compare_and_rotate` deletes it), so the cap holds from the
//! second step on even when the third is lost.
//!
//! Rotation is the user's index entry (`lua/session_index.lua`, only an entry the
//! index holds), then `lua/session_rotate.lua` on the session, in one round trip;
//! indexing first keeps every live session in its user's index, which logout-all
//! relies on. Neither step may run twice (`send_once`).

use std::sync::LazyLock;

use chrono::Utc;
use redis::Script;
use webchat_domain::UserSession;
use webchat_ports::PortResult;

use super::record::{encode, ttl_ms};
use super::RedisSessionStore;
use crate::backend::{slot_script, unavailable};
use crate::config::RedisMode;
use crate::pipeline::{replies, reply, send_once};

static INDEX: LazyLock<Script> =
    LazyLock::new(|| slot_script(include_str!("../lua/session_index.lua")));
static ROTATE: LazyLock<Script> =
    LazyLock::new(|| slot_script(include_str!("../lua/session_rotate.lua")));
/// Single server only: it names keys it does not declare (see the script).
static CREATE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../lua/session_create.lua")));
static CAP: LazyLock<Script> =
    LazyLock::new(|| slot_script(include_str!("../lua/session_cap.lua")));

impl RedisSessionStore {
    fn cluster(&self) -> bool {
        self.backend.mode() == RedisMode::Cluster
    }

    /// Stores `session` and keeps at most `max_per_user` live sessions of its user:
    /// -1 the id is taken (nothing changed), else how many sessions it ended.
    pub(super) async fn insert(
        &self,
        session: &UserSession,
        max_per_user: usize,
    ) -> PortResult<i64> {
        let keys = self.backend.keys();
        let json = encode(session)?;
        let max = max_per_user.max(1);
        let now = Utc::now().timestamp_millis();
        if !self.cluster() {
            let (before, after) = keys.session_parts();
            let mut conn = self.backend.conn().await?;
            return CREATE
                .key(keys.session(session.id))
                .key(keys.user_sessions(session.user_id))
                .arg(json)
                .arg(ttl_ms(session.expires_at))
                .arg(session.expires_at.timestamp_millis())
                .arg(session.id.to_string())
                .arg(max)
                .arg(now)
                .arg(before)
                .arg(after)
                .invoke_async(&mut conn)
                .await
                .map_err(|e| unavailable("create session", e));
        }
        let mut conn = self.backend.conn().await?;
        let stored: Option<String> = redis::cmd("SET")
            .arg(keys.session(session.id))
            .arg(json)
            .arg("PX")
            .arg(ttl_ms(session.expires_at))
            .arg("NX")
            .query_async(&mut conn)
            .await
            .map_err(|e| unavailable("create session", e))?;
        if stored.is_none() {
            return Ok(-1);
        }
        let mut cap = CAP.prepare_invoke();
        cap.key(keys.user_sessions(session.user_id))
            .arg(session.id.to_string())
            // PXAT refuses 0 and below; a session dated 1970 is expired either way.
            .arg(session.expires_at.timestamp_millis().max(1))
            .arg(max)
            .arg(now);
        let mut pipe = redis::pipe();
        pipe.invoke_script(&cap);
        let mut done = replies(
            "create session",
            send_once(&self.backend, "create session", &mut pipe, &[&CAP]).await?,
            1,
        )?;
        let ended: Vec<String> = reply("create session", done.remove(0))?;
        if ended.is_empty() {
            return Ok(0);
        }
        let ended_keys: Vec<String> = ended.iter().map(|id| keys.session_of(id)).collect();
        let removed: i64 = redis::cmd("UNLINK")
            .arg(&ended_keys)
            .query_async(&mut conn)
            .await
            .map_err(|e| unavailable("end capped sessions", e))?;
        Ok(removed)
    }

    /// Indexes the new expiry, then runs `session_rotate.lua`: 1 rotated, 0 absent,
    /// not indexed or (without `end_on_reuse`) another refresh won, 2 ended (with
    /// `end_on_reuse`, the session held another hash), -1 the stored JSON cannot be
    /// read.
    pub(super) async fn compare_and_rotate(
        &self,
        next: &UserSession,
        expected_refresh_hash: &str,
        end_on_reuse: bool,
    ) -> PortResult<i64> {
        let keys = self.backend.keys();
        let json = encode(next)?;
        let mut rotation = ROTATE.prepare_invoke();
        rotation.key(keys.session(next.id));
        if !self.cluster() {
            rotation.key(keys.user_sessions(next.user_id));
        }
        rotation
            .arg(expected_refresh_hash)
            .arg(json)
            .arg(next.expires_at.timestamp_millis().max(1))
            .arg(next.id.to_string())
            .arg(next.user_id.to_string())
            .arg(if end_on_reuse { "1" } else { "0" });
        let mut index = INDEX.prepare_invoke();
        index
            .key(keys.user_sessions(next.user_id))
            .arg(next.id.to_string())
            // PXAT refuses 0 and below; a session dated 1970 is expired either way.
            .arg(next.expires_at.timestamp_millis().max(1))
            .arg("XX");
        let mut pipe = redis::pipe();
        pipe.invoke_script(&index).invoke_script(&rotation);
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
        let rotated: i64 = reply("rotate session", done.remove(1))?;
        let indexed: i64 = reply("rotate session", done.remove(0))?;
        let mut conn = self.backend.conn().await?;
        match rotated {
            // A session of this user that its index does not hold was ended by the
            // cap (Cluster mode: its key outlived the index entry): it ends now.
            1 if indexed == 0 => {
                redis::cmd("UNLINK")
                    .arg(keys.session(next.id))
                    .query_async::<i64>(&mut conn)
                    .await
                    .map_err(|e| unavailable("end capped session", e))?;
                Ok(0)
            }
            // Cluster mode: the index entry of a session ended on reuse (the script
            // could not reach it).
            2 if self.cluster() => {
                redis::cmd("ZREM")
                    .arg(keys.user_sessions(next.user_id))
                    .arg(next.id.to_string())
                    .query_async::<i64>(&mut conn)
                    .await
                    .map_err(|e| unavailable("rotate session", e))?;
                Ok(2)
            }
            other => Ok(other),
        }
    }
}
