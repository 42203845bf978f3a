//! The cache's Lua scripts (`lua/cache_*.lua`) and how they are sent.
//!
//! Two kinds, by the keys they touch, so that each runs on one Redis Cluster slot:
//! *chat scripts* declare only keys of one chat (`chat:*:{chatId}`) and get the
//! shared prelude `cache_chat.lua`; *per-key scripts* touch their one
//! `message:{id}` key. An operation that needs both sends one of each, in the order
//! its comment argues for.

use std::sync::LazyLock;

use redis::{Pipeline, Script, Value};
use webchat_ports::{PortError, PortResult};

use super::format::{EMPTY_MARKER, TOMBSTONE, UNPINNED_MARKER};
use crate::backend::{corrupt, unavailable, RedisBackend};

/// The first lines of every cache script: a shebang without flags, so that in
/// Redis Cluster mode Redis itself refuses a script touching keys of two slots
/// (declared or not); then the markers, defined once (in `format`).
fn header() -> String {
    format!(
        "#!lua\nlocal EMPTY, TOMBSTONE, UNPINNED = '{EMPTY_MARKER}', '{TOMBSTONE}', '{UNPINNED_MARKER}'\n"
    )
}

/// A script over one chat's keys: the markers, the shared prelude, then its body.
fn chat_script(body: &str) -> Script {
    Script::new(&format!(
        "{}{}\n{}",
        header(),
        include_str!("../lua/cache_chat.lua"),
        body
    ))
}

/// A script over one `message:{id}` key.
fn key_script(body: &str) -> Script {
    Script::new(&format!("{}{}", header(), body))
}

pub(crate) static CACHE_MESSAGE: LazyLock<Script> =
    LazyLock::new(|| chat_script(include_str!("../lua/cache_message.lua")));
pub(crate) static ANNOUNCE: LazyLock<Script> =
    LazyLock::new(|| chat_script(include_str!("../lua/cache_announce.lua")));
pub(super) static UPDATE: LazyLock<Script> =
    LazyLock::new(|| chat_script(include_str!("../lua/cache_update.lua")));
pub(super) static DELETE: LazyLock<Script> =
    LazyLock::new(|| chat_script(include_str!("../lua/cache_delete.lua")));
pub(super) static FORGET: LazyLock<Script> =
    LazyLock::new(|| chat_script(include_str!("../lua/cache_forget.lua")));
pub(super) static WARM_UP: LazyLock<Script> =
    LazyLock::new(|| chat_script(include_str!("../lua/cache_warm_up.lua")));
pub(super) static CACHE_PINNED: LazyLock<Script> =
    LazyLock::new(|| chat_script(include_str!("../lua/cache_pinned.lua")));
pub(super) static INDEX: LazyLock<Script> =
    LazyLock::new(|| chat_script(include_str!("../lua/cache_index.lua")));
pub(super) static COPY: LazyLock<Script> =
    LazyLock::new(|| key_script(include_str!("../lua/cache_copy.lua")));
pub(super) static DROP_COPY: LazyLock<Script> =
    LazyLock::new(|| key_script(include_str!("../lua/cache_drop_copy.lua")));

fn no_script(reply: &Value) -> bool {
    matches!(reply, Value::ServerError(e) if e.kind() == Some(redis::ServerErrorKind::NoScript))
}

/// Sends `pipe` in one round trip and returns each command's reply. A pipeline is
/// not a transaction: each command (or script) is atomic on its own, and they run in
/// the order given. Scripts go as EVALSHA; when Redis has lost its script cache (a
/// restart), `scripts` are loaded and the whole pipeline is sent again, so every
/// pipeline holding a script must be safe to repeat (each one here is).
///
/// Each command touches one slot. In a later Redis Cluster mode a pipeline spanning
/// slots would be sent command by command, in the same order (every argument for
/// why an order is safe holds for commands sent one after the other).
pub(super) async fn send(
    backend: &RedisBackend,
    op: &str,
    pipe: &mut Pipeline,
    scripts: &[&Script],
) -> PortResult<Vec<Value>> {
    pipe.ignore_errors();
    let mut conn = backend.conn().await?;
    let mut replies: Vec<Value> = pipe
        .query_async(&mut conn)
        .await
        .map_err(|e| unavailable(op, e))?;
    if replies.iter().any(no_script) {
        for script in scripts {
            script
                .load_async(&mut conn)
                .await
                .map_err(|e| unavailable(op, e))?;
        }
        replies = pipe
            .query_async(&mut conn)
            .await
            .map_err(|e| unavailable(op, e))?;
    }
    for reply in &replies {
        if let Value::ServerError(e) = reply {
            return Err(unavailable(op, e.clone().into()));
        }
    }
    Ok(replies)
}

/// One reply of a pipeline, as `T`.
pub(super) fn reply<T: redis::FromRedisValue>(op: &str, value: Value) -> PortResult<T> {
    redis::from_redis_value(value).map_err(|e| corrupt(op, e))
}

/// A pipeline's replies, one per command sent, or a `Corrupt` error.
pub(super) fn replies(op: &str, replies: Vec<Value>, expected: usize) -> PortResult<Vec<Value>> {
    if replies.len() == expected {
        Ok(replies)
    } else {
        Err(PortError::Corrupt(format!(
            "{op}: {} replies to {expected} commands",
            replies.len()
        )))
    }
}
