//! Walking keys by pattern with SCAN (never KEYS, which blocks Redis on a big
//! keyspace), for stats and the `webchat admin clear-*` commands. In Redis
//! Cluster mode every master is walked, each with its own cursor.

use std::collections::HashSet;

use redis::aio::ConnectionLike;
use webchat_ports::PortResult;

use crate::backend::{unavailable, RedisBackend};
use crate::cluster::Node;

const SCAN_COUNT: usize = 500;

/// One SCAN step on `node` (the one server when `None`): the next cursor (0 when
/// done) and this page's keys.
async fn scan_page(
    backend: &RedisBackend,
    node: Option<&Node>,
    pattern: &str,
    cursor: u64,
) -> PortResult<(u64, Vec<String>)> {
    let mut conn = backend.conn().await?;
    let mut scan = redis::cmd("SCAN");
    scan.arg(cursor)
        .arg("MATCH")
        .arg(pattern)
        .arg("COUNT")
        .arg(SCAN_COUNT);
    let reply = match (node, conn.cluster()) {
        (Some(node), Some(cluster)) => cluster.clone().route_command(scan, node.routing()).await,
        _ => conn.req_packed_command(&scan).await,
    };
    let reply = reply.map_err(|e| unavailable("SCAN", e))?;
    redis::from_redis_value(reply).map_err(|e| unavailable("SCAN", e.into()))
}

/// Every key matching `rest` under the backend's prefix, on every master. SCAN
/// may return a key twice, so keys are de-duplicated.
pub(crate) async fn scan_keys(backend: &RedisBackend, rest: &str) -> PortResult<HashSet<String>> {
    let pattern = backend.keys().pattern(rest);
    let mut seen = HashSet::new();
    for node in backend.scan_nodes().await? {
        let mut cursor = 0;
        loop {
            let (next, keys) = scan_page(backend, node.as_ref(), &pattern, cursor).await?;
            seen.extend(keys);
            if next == 0 {
                break;
            }
            cursor = next;
        }
    }
    Ok(seen)
}

/// How many keys match `rest` under the backend's prefix.
pub(crate) async fn count_keys(backend: &RedisBackend, rest: &str) -> PortResult<u64> {
    Ok(scan_keys(backend, rest).await?.len() as u64)
}

/// UNLINKs every key matching each of `rests` under the backend's prefix; returns
/// how many keys went.
pub(crate) async fn unlink_keys(backend: &RedisBackend, rests: &[&str]) -> PortResult<u64> {
    let mut removed = 0u64;
    let nodes = backend.scan_nodes().await?;
    let mut walks = Vec::new();
    for rest in rests {
        for node in &nodes {
            walks.push((*rest, node.clone()));
        }
    }
    for (rest, node) in walks {
        let pattern = backend.keys().pattern(rest);
        let mut cursor = 0;
        loop {
            let (next, keys) = scan_page(backend, node.as_ref(), &pattern, cursor).await?;
            if !keys.is_empty() {
                let mut conn = backend.conn().await?;
                let n: u64 = redis::cmd("UNLINK")
                    .arg(&keys)
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| unavailable("UNLINK", e))?;
                removed += n;
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
    }
    Ok(removed)
}
