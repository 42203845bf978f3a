//! What Redis Cluster mode adds to the command path: pipelines split by slot, and
//! the masters to SCAN.
//!
//! redis-rs sends a pipeline to one node and refuses one whose keys hash to
//! several slots. Every pipeline of this crate is either one slot's (a
//! script with its keys, a MULTI over one user's or chat's keys) or a batch of
//! independent single-slot commands (copies, tombstone reads, per-slot scripts);
//! the second kind is split here:
//!
//! - **ordered** (the default): runs of consecutive commands on one slot go as one
//!   pipeline each, one run after the other, so the commands still run in the
//!   pipeline's order (the cache's write orders are argued for commands that run
//!   one after the other, not for atomicity).
//! - **unordered** (`SharedHandle::unordered`): one pipeline per slot, all at once;
//!   the multiplexed node connections pipeline them by themselves.
//!
//! A command answered MOVED, ASK, TRYAGAIN or CLUSTERDOWN (a slot that moved, or a
//! failover, under the pipeline's feet) is sent again alone, through the cluster
//! connection's own routing, which follows the redirection.

use std::collections::HashMap;

use futures::stream::{self, StreamExt, TryStreamExt};
use redis::aio::ConnectionLike;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{Arg, Cmd, Pipeline, RedisResult, ServerErrorKind, Value};

use crate::slots::slot;

/// Slots sent to at once by an unordered batch.
const CONCURRENT_SLOTS: usize = 32;

/// The slot every key of `cmd` hashes to, or `None` (keyless, or keys on several
/// slots). Knows the commands this crate pipelines: scripts (keys after the key
/// count), multi-key MGET/EXISTS/UNLINK/DEL, and single-key commands (the key
/// first).
fn cmd_slot(cmd: &Cmd) -> Option<u16> {
    let args: Vec<&[u8]> = cmd
        .args_iter()
        .filter_map(|a| match a {
            Arg::Simple(a) => Some(a),
            _ => None,
        })
        .collect();
    let name = args.first()?.to_ascii_uppercase();
    let keys: &[&[u8]] = match name.as_slice() {
        b"EVAL" | b"EVALSHA" | b"EVAL_RO" | b"EVALSHA_RO" | b"FCALL" | b"FCALL_RO" => {
            let count: usize = std::str::from_utf8(args.get(2)?).ok()?.parse().ok()?;
            args.get(3..3 + count)?
        }
        b"MGET" | b"EXISTS" | b"UNLINK" | b"DEL" | b"TOUCH" => args.get(1..)?,
        b"PING" | b"SCRIPT" | b"CLUSTER" | b"INFO" | b"SCAN" | b"CLIENT" | b"MULTI" | b"EXEC"
        | b"PUBLISH" => return None,
        _ => args.get(1..2)?,
    };
    let first = slot(keys.first()?);
    keys.iter().all(|k| slot(k) == first).then_some(first)
}

/// The route of a command bound to one slot, or `None` (keyless, several slots).
fn slot_route(cmd: &Cmd) -> Option<Route> {
    cmd_slot(cmd).map(|s| Route::new(s, SlotAddr::Master))
}

/// Sends `pipeline`'s commands `offset..offset + count` (its replies, one per
/// command, server errors as values) over a cluster connection.
pub(crate) async fn send_pipeline(
    conn: &mut ClusterConnection,
    pipeline: &Pipeline,
    offset: usize,
    count: usize,
    unordered: bool,
) -> RedisResult<Vec<Value>> {
    let cmds: Vec<&Cmd> = pipeline.cmd_iter().collect();
    let routes: Vec<Option<Route>> = cmds.iter().map(|c| slot_route(c)).collect();
    let one_slot = routes.iter().flatten().all(|r| Some(*r) == routes[0])
        && routes.iter().all(Option::is_some);
    if pipeline.is_transaction() || one_slot || cmds.len() <= 1 {
        // A transaction must be one slot's (redis-rs refuses it otherwise).
        return ConnectionLike::req_packed_commands(conn, pipeline, offset, count).await;
    }
    // A plain pipeline answers every command: offset 0, count all.
    let groups = if unordered {
        by_slot(&routes)
    } else {
        runs(&routes)
    };
    let mut replies: Vec<Option<Value>> = vec![None; cmds.len()];
    if unordered {
        let answered: Vec<(Vec<usize>, Vec<Value>)> = stream::iter(groups)
            .map(|(route, indices)| {
                let mut conn = conn.clone();
                let cmds = &cmds;
                async move {
                    let values = send_group(&mut conn, cmds, route, &indices).await?;
                    Ok::<_, redis::RedisError>((indices, values))
                }
            })
            .buffer_unordered(CONCURRENT_SLOTS)
            .try_collect()
            .await?;
        for (indices, values) in answered {
            for (i, v) in indices.into_iter().zip(values) {
                replies[i] = Some(v);
            }
        }
    } else {
        for (route, indices) in groups {
            let values = send_group(conn, &cmds, route, &indices).await?;
            for (i, v) in indices.into_iter().zip(values) {
                replies[i] = Some(v);
            }
        }
    }
    Ok(replies
        .into_iter()
        .map(|v| v.unwrap_or(Value::Nil))
        .collect())
}

/// Consecutive commands on one slot, in order; a command without a slot alone.
fn runs(routes: &[Option<Route>]) -> Vec<(Option<Route>, Vec<usize>)> {
    let mut groups: Vec<(Option<Route>, Vec<usize>)> = Vec::new();
    for (i, route) in routes.iter().enumerate() {
        match groups.last_mut() {
            Some((Some(last), indices)) if Some(*last) == *route => indices.push(i),
            _ => groups.push((*route, vec![i])),
        }
    }
    groups
}

/// Every slot's commands together (in order within the slot); a command without
/// a slot alone.
fn by_slot(routes: &[Option<Route>]) -> Vec<(Option<Route>, Vec<usize>)> {
    let mut slots: HashMap<Route, usize> = HashMap::new();
    let mut groups: Vec<(Option<Route>, Vec<usize>)> = Vec::new();
    for (i, route) in routes.iter().enumerate() {
        match route {
            Some(r) => match slots.get(r) {
                Some(g) => groups[*g].1.push(i),
                None => {
                    slots.insert(*r, groups.len());
                    groups.push((Some(*r), vec![i]));
                }
            },
            None => groups.push((None, vec![i])),
        }
    }
    groups
}

/// Sends one group: a one-slot pipeline, or a lone command through the cluster's
/// own routing. Redirected commands are sent again alone, in order.
async fn send_group(
    conn: &mut ClusterConnection,
    cmds: &[&Cmd],
    route: Option<Route>,
    indices: &[usize],
) -> RedisResult<Vec<Value>> {
    let mut values = match route {
        Some(route) if indices.len() > 1 => {
            let mut pipe = Pipeline::with_capacity(indices.len());
            for i in indices {
                pipe.add_command(cmds[*i].clone());
            }
            conn.route_pipeline(
                pipe,
                0,
                indices.len(),
                SingleNodeRoutingInfo::SpecificNode(route),
            )
            .await?
        }
        _ => {
            let mut values = Vec::with_capacity(indices.len());
            for i in indices {
                values.push(alone(conn, cmds[*i]).await?);
            }
            return Ok(values);
        }
    };
    for (value, i) in values.iter_mut().zip(indices) {
        if redirected(value) {
            *value = alone(conn, cmds[*i]).await?;
        }
    }
    Ok(values)
}

/// One command through the cluster connection's routing (which follows MOVED and
/// ASK); a server error comes back as a value, as in a pipeline.
async fn alone(conn: &mut ClusterConnection, cmd: &Cmd) -> RedisResult<Value> {
    conn.req_packed_command(cmd).await
}

fn redirected(value: &Value) -> bool {
    matches!(
        value,
        Value::ServerError(e) if matches!(
            e.kind(),
            Some(ServerErrorKind::Moved | ServerErrorKind::Ask | ServerErrorKind::TryAgain | ServerErrorKind::ClusterDown)
        )
    )
}

/// A master of the cluster, as its address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Node {
    pub(crate) host: String,
    pub(crate) port: u16,
}

impl Node {
    pub(crate) fn routing(&self) -> RoutingInfo {
        RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
            host: self.host.clone(),
            port: self.port,
        })
    }
}

impl std::fmt::Display for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// The masters serving the cluster's slots now, with their slot ranges
/// (`CLUSTER SLOTS`).
pub(crate) async fn masters(
    conn: &mut ClusterConnection,
) -> RedisResult<Vec<(Node, Vec<(u16, u16)>)>> {
    let reply = conn
        .route_command(
            redis::cmd("CLUSTER").arg("SLOTS").clone(),
            RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
        )
        .await?;
    let ranges: Vec<(u16, u16, Vec<Value>)> = redis::from_redis_value(ranges_of(reply))?;
    let mut by_node: HashMap<Node, Vec<(u16, u16)>> = HashMap::new();
    for (start, end, master) in ranges {
        let host: String = redis::from_redis_value(master.first().cloned().unwrap_or(Value::Nil))?;
        let port: u16 = redis::from_redis_value(master.get(1).cloned().unwrap_or(Value::Nil))?;
        by_node
            .entry(Node { host, port })
            .or_default()
            .push((start, end));
    }
    let mut nodes: Vec<(Node, Vec<(u16, u16)>)> = by_node.into_iter().collect();
    nodes.sort();
    Ok(nodes)
}

/// `CLUSTER SLOTS` entries reduced to `[start, end, master]` (replicas dropped).
fn ranges_of(reply: Value) -> Value {
    match reply {
        Value::Array(entries) => Value::Array(
            entries
                .into_iter()
                .map(|entry| match entry {
                    Value::Array(mut parts) => {
                        parts.truncate(3);
                        Value::Array(parts)
                    }
                    other => other,
                })
                .collect(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_placed_on_the_slot_of_their_keys() {
        let mut eval = redis::cmd("EVALSHA");
        eval.arg("abc").arg(2).arg("a:{x}").arg("b:{x}").arg("arg");
        assert_eq!(cmd_slot(&eval), Some(slot(b"x")));
        let mut cross = redis::cmd("EVALSHA");
        cross.arg("abc").arg(2).arg("a:{x}").arg("b:{y}");
        assert_eq!(cmd_slot(&cross), None);
        assert_eq!(cmd_slot(redis::cmd("GET").arg("k:{u}")), Some(slot(b"u")));
        assert_eq!(
            cmd_slot(redis::cmd("MGET").arg("a{1}").arg("b{1}")),
            Some(slot(b"1"))
        );
        assert_eq!(cmd_slot(redis::cmd("MGET").arg("a{1}").arg("b{2}")), None);
        assert_eq!(cmd_slot(&redis::cmd("PING")), None);
        let runs = runs(&[
            Some(Route::new(1, SlotAddr::Master)),
            Some(Route::new(1, SlotAddr::Master)),
            None,
            Some(Route::new(1, SlotAddr::Master)),
        ]);
        let indices: Vec<Vec<usize>> = runs.into_iter().map(|(_, i)| i).collect();
        assert_eq!(indices, [vec![0, 1], vec![2], vec![3]]);
    }
}
