//! Shared test plumbing: reach the Redis under test (or skip), isolate each test
//! under its own key prefix, and let real time pass for the contract suites.

#![allow(dead_code)] // each test binary uses a different part of this module

pub mod own_redis;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use webchat_domain::InstanceId;
use webchat_ports::contract::TimeControl;
use webchat_ports::{Clock, SystemClock};
use webchat_redis::{RedisBackend, RedisConfig};

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

fn services_required() -> bool {
    std::env::var("WEBCHAT_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// The URL of a reachable Redis, or `None` after printing why the test is skipped
/// (a panic instead when WEBCHAT_REQUIRE_SERVICES=1).
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
        outcome => {
            let why = match outcome {
                Ok(Err(e)) => e,
                _ => "timed out".to_owned(),
            };
            if services_required() {
                panic!("Redis at {url} is required (WEBCHAT_REQUIRE_SERVICES=1) but unreachable: {why}");
            }
            println!("skipped: Redis at {url} unreachable ({why})");
            None
        }
    }
}

/// A prefix no other test (or run) shares.
pub fn unique_prefix() -> String {
    format!("webchat-test:{}:", uuid::Uuid::new_v4().simple())
}

/// A backend over `url` under a fresh prefix, as one "process".
pub fn backend(url: &str) -> RedisBackend {
    backend_with_prefix(url, &unique_prefix())
}

pub fn backend_with_prefix(url: &str, prefix: &str) -> RedisBackend {
    let config = RedisConfig::from_url(url)
        .expect("test REDIS_URL parses")
        .with_key_prefix(prefix);
    RedisBackend::start(config, InstanceId::random()).expect("backend starts")
}

/// Every key under `prefix`, via a connection of its own.
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

/// Redis TTLs are real, so time passes by sleeping.
pub struct RealTime;

#[async_trait]
impl TimeControl for RealTime {
    fn clock(&self) -> Arc<dyn Clock> {
        Arc::new(SystemClock)
    }
    async fn advance(&self, by: Duration) {
        tokio::time::sleep(by).await;
    }
}

pub fn real_time() -> Arc<dyn TimeControl> {
    Arc::new(RealTime)
}

/// Hands out backends under fresh prefixes and removes all their keys afterwards,
/// for suites that build many stores.
pub struct Isolation {
    url: String,
    prefixes: std::sync::Mutex<Vec<String>>,
}

impl Isolation {
    pub fn new(url: &str) -> Arc<Self> {
        Arc::new(Self {
            url: url.to_owned(),
            prefixes: std::sync::Mutex::new(Vec::new()),
        })
    }

    pub fn backend(&self) -> RedisBackend {
        let prefix = unique_prefix();
        self.prefixes.lock().unwrap().push(prefix.clone());
        backend_with_prefix(&self.url, &prefix)
    }

    pub async fn wipe(&self) {
        let prefixes = self.prefixes.lock().unwrap().clone();
        for prefix in prefixes {
            wipe(&self.url, &prefix).await;
        }
    }
}
