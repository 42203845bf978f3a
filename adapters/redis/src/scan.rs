//! Walking keys by pattern with SCAN (never KEYS, which blocks Redis on a big
//! keyspace), for stats and the `webchat admin clear-*` commands.

use std::collections::HashSet;

use webchat_ports::PortResult;

use crate::backend::{unavailable, RedisBackend};

const SCAN_COUNT: usize = 500;

/// One SCAN step: the next cursor (0 when done) and this page's keys.
async fn scan_page(
    backend: &RedisBackend,
    pattern: &str,
    cursor: u64,
) -> PortResult<(u64, Vec<String>)> {
    let mut conn = backend.conn().await?;
    redis::cmd("SCAN")
        .arg(cursor)
        .arg("MATCH")
        .arg(pattern)
        .arg("COUNT")
        .arg(SCAN_COUNT)
        .query_async(&mut conn)
        .await
        .map_err(|e| unavailable("SCAN", e))
}

/// Every key matching `rest` under the backend's prefix. SCAN may return a key
/// twice, so keys are de-duplicated.
pub(crate) async fn scan_keys(backend: &RedisBackend, rest: &str) -> PortResult<HashSet<String>> {
    let pattern = backend.keys().pattern(rest);
    let mut seen = HashSet::new();
    let mut cursor = 0;
    loop {
        let (next, keys) = scan_page(backend, &pattern, cursor).await?;
        seen.extend(keys);
        if next == 0 {
            return Ok(seen);
        }
        cursor = next;
    }
}

/// How many keys match `rest` under the backend's prefix.
pub(crate) async fn count_keys(backend: &RedisBackend, rest: &str) -> PortResult<u64> {
    Ok(scan_keys(backend, rest).await?.len() as u64)
}

/// UNLINKs every key matching each of `rests` under the backend's prefix; returns
/// how many keys went.
pub(crate) async fn unlink_keys(backend: &RedisBackend, rests: &[&str]) -> PortResult<u64> {
    let mut removed = 0u64;
    for rest in rests {
        let pattern = backend.keys().pattern(rest);
        let mut cursor = 0;
        loop {
            let (next, keys) = scan_page(backend, &pattern, cursor).await?;
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
