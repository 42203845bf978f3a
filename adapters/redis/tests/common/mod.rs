//! Shared test plumbing: reach the Redis under test (or skip), isolate each test
//! under its own key prefix, and let real time pass for the contract suites.

// Each test binary uses a different part of this module.
#![allow(dead_code, unused_imports)]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use webchat_domain::InstanceId;
use webchat_ports::contract::TimeControl;
use webchat_ports::{Clock, SystemClock};
use webchat_redis::{RedisBackend, RedisConfig};

pub use webchat_redis::testing::{keys_under, redis_or_skip, unique_prefix, wipe, OwnRedis};

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
