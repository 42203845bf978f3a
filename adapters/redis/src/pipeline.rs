//! Pipelines of independent commands (each atomic on its own) with their scripts:
//! sent in one round trip (per slot in Cluster mode), scripts reloaded when Redis
//! lost them.

use redis::{Pipeline, Script, Value};
use webchat_ports::{PortError, PortResult};

use crate::backend::{corrupt, unavailable, RedisBackend};
use crate::connection::SharedHandle;

fn no_script(reply: &Value) -> bool {
    matches!(reply, Value::ServerError(e) if e.kind() == Some(redis::ServerErrorKind::NoScript))
}

/// Sends `pipe` in one round trip and returns each command's reply. A pipeline is
/// not a transaction: each command (or script) is atomic on its own, and they run in
/// the order given. Scripts go as EVALSHA; when Redis has lost its script cache (a
/// restart), `scripts` are loaded and the whole pipeline is sent again, so every
/// pipeline holding a script must be safe to repeat (each one here is).
///
/// Each command touches one slot. In Redis Cluster mode a pipeline spanning slots
/// is sent a run of one slot's commands at a time, in the same order (every
/// argument for why an order is safe holds for commands sent one after the other;
/// see `cluster`).
pub(crate) async fn send(
    backend: &RedisBackend,
    op: &str,
    pipe: &mut Pipeline,
    scripts: &[&Script],
) -> PortResult<Vec<Value>> {
    let conn = backend.conn().await?;
    send_on(conn, op, pipe, scripts).await
}

/// [`send`] for a batch whose commands may run in any order (independent reads,
/// `SET NX` copies, per-slot scripts): in Cluster mode every slot's commands go at
/// once.
pub(crate) async fn send_unordered(
    backend: &RedisBackend,
    op: &str,
    pipe: &mut Pipeline,
    scripts: &[&Script],
) -> PortResult<Vec<Value>> {
    let conn = backend.conn().await?.unordered();
    send_on(conn, op, pipe, scripts).await
}

/// [`send`] for a pipeline that must not run twice (a `SET NX`, a compare-and-set
/// script): when Redis lost its script cache, only the commands answered NOSCRIPT
/// (which did not run) are sent again, in order, once `scripts` are loaded.
pub(crate) async fn send_once(
    backend: &RedisBackend,
    op: &str,
    pipe: &mut Pipeline,
    scripts: &[&Script],
) -> PortResult<Vec<Value>> {
    let mut conn = backend.conn().await?;
    pipe.ignore_errors();
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
        for (reply, cmd) in replies.iter_mut().zip(pipe.cmd_iter()) {
            if no_script(reply) {
                *reply = cmd
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| unavailable(op, e))?;
            }
        }
    }
    for reply in &replies {
        if let Value::ServerError(e) = reply {
            return Err(unavailable(op, e.clone().into()));
        }
    }
    Ok(replies)
}

async fn send_on(
    mut conn: SharedHandle,
    op: &str,
    pipe: &mut Pipeline,
    scripts: &[&Script],
) -> PortResult<Vec<Value>> {
    pipe.ignore_errors();
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
pub(crate) fn reply<T: redis::FromRedisValue>(op: &str, value: Value) -> PortResult<T> {
    redis::from_redis_value(value).map_err(|e| corrupt(op, e))
}

/// A pipeline's replies, one per command sent, or a `Corrupt` error.
pub(crate) fn replies(op: &str, replies: Vec<Value>, expected: usize) -> PortResult<Vec<Value>> {
    if replies.len() == expected {
        Ok(replies)
    } else {
        Err(PortError::Corrupt(format!(
            "{op}: {} replies to {expected} commands",
            replies.len()
        )))
    }
}
