//! Test support (feature `testing`), for this crate's tests and the app's black-box
//! tests: reach the shared Redis under test or skip, isolate each test under its
//! own key prefix, and run servers of a test's own for fault tests.

mod cluster;
mod own;
mod sentinel;

use std::time::Duration;

pub use cluster::OwnCluster;
pub use own::OwnRedis;
pub use sentinel::{OwnSentinel, SENTINEL_MASTER};
use webchat_ports::contract::skip_or_fail;

/// The Redis under test: `REDIS_URL`, else the local default.
pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// The URL of a reachable Redis, or `None` after printing why the test is skipped
/// (a panic instead when `WEBCHAT_REQUIRE_SERVICES=1`).
pub async fn redis_or_skip() -> Option<String> {
    let url = redis_url();
    let reachable = async {
        let client = redis::Client::open(url.as_str()).map_err(|e| e.to_string())?;
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .map_err(|e| e.to_string())?;
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map_err(|e| e.to_string())
    };
    match tokio::time::timeout(Duration::from_secs(3), reachable).await {
        Ok(Ok(_)) => Some(url),
        Ok(Err(why)) => {
            skip_or_fail(&format!("Redis at {url}"), why);
            None
        }
        Err(_) => {
            skip_or_fail(&format!("Redis at {url}"), "timed out");
            None
        }
    }
}

/// The Redis Cluster slot of `key` (its hash tag's, when it has one).
pub fn key_slot(key: &str) -> u16 {
    crate::slots::slot(key.as_bytes())
}

/// A key prefix no other test (or run) shares.
pub fn unique_prefix() -> String {
    format!("webchat-test:{}:", uuid::Uuid::new_v4().simple())
}

/// Every key under `prefix`, via a connection of its own, sorted.
pub async fn keys_under(url: &str, prefix: &str) -> Vec<String> {
    let client = redis::Client::open(url).expect("url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let mut cursor = 0u64;
    let mut keys = Vec::new();
    loop {
        let (next, page): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await
            .expect("SCAN");
        keys.extend(page);
        if next == 0 {
            keys.sort();
            keys.dedup();
            return keys;
        }
        cursor = next;
    }
}

/// Removes what a test left under `prefix`.
pub async fn wipe(url: &str, prefix: &str) {
    let keys = keys_under(url, prefix).await;
    if keys.is_empty() {
        return;
    }
    let client = redis::Client::open(url).expect("url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    redis::cmd("UNLINK")
        .arg(&keys)
        .query_async::<u64>(&mut conn)
        .await
        .expect("UNLINK");
}
