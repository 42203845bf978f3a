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

pub use webchat_redis::testing::{
    keys_under, redis_or_skip, unique_prefix, wipe, OwnCluster, OwnRedis,
};

/// A backend on `cluster` under `prefix`, as one "process".
pub fn cluster_backend(cluster: &OwnCluster, prefix: &str) -> RedisBackend {
    let urls = cluster.urls();
    let nodes: Vec<&str> = urls.iter().map(String::as_str).collect();
    let config = RedisConfig::cluster(&nodes, None)
        .expect("cluster nodes parse")
        .with_key_prefix(prefix);
    RedisBackend::start(config, InstanceId::random()).expect("backend starts")
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

/// A stored-looking message of `chat` with `seq`, created at pts `seq`.
pub fn message(chat: webchat_domain::ChatId, seq: i64) -> webchat_domain::Message {
    use chrono::TimeZone;
    webchat_domain::Message {
        id: webchat_domain::MessageId::new(),
        chat_id: chat,
        sender_id: webchat_domain::UserId::new(),
        content: format!("message {seq}"),
        seq,
        client_msg_id: None,
        created_at: chrono::Utc.timestamp_opt(1_700_000_000 + seq, 0).unwrap(),
        edited_at: None,
        pinned_at: None,
        version: seq,
    }
}

/// A chat's history with seqs 1..=n, newest first (as `warm_up` takes it).
pub fn history(chat: webchat_domain::ChatId, n: i64) -> Vec<webchat_domain::Message> {
    (1..=n).rev().map(|seq| message(chat, seq)).collect()
}

/// `m` after an edit committed at pts `version`.
pub fn edited(m: &webchat_domain::Message, version: i64) -> webchat_domain::Message {
    let mut m = m.clone();
    m.content = format!("edited at pts {version}");
    m.edited_at = Some(m.created_at);
    m.version = version;
    m
}

/// `m` pinned (at its creation time + 1 s) or unpinned, committed at pts `version`.
pub fn pinned(m: &webchat_domain::Message, pin: bool, version: i64) -> webchat_domain::Message {
    let mut m = m.clone();
    m.pinned_at = pin.then(|| m.created_at + chrono::Duration::seconds(1));
    m.version = version;
    m
}

/// A plain connection of the test's own to `url`.
pub async fn raw(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .expect("url")
        .get_multiplexed_async_connection()
        .await
        .expect("connect")
}

/// Publishes through one process and subscribes through another, so every event
/// the suites check has crossed Redis (order, once-only, subscribe-then-publish).
pub struct AcrossProcesses {
    pub publisher: webchat_redis::RedisEventBus,
    pub subscriber: webchat_redis::RedisEventBus,
}

#[async_trait]
impl webchat_ports::EventBus for AcrossProcesses {
    async fn publish(&self, event: &webchat_domain::Event) -> webchat_ports::PortResult<()> {
        self.publisher.publish(event).await
    }
    async fn subscribe(
        &self,
        topic: &webchat_domain::Topic,
    ) -> webchat_ports::PortResult<webchat_ports::EventStream> {
        self.subscriber.subscribe(topic).await
    }
    fn reconnects(&self) -> futures::stream::BoxStream<'static, ()> {
        self.subscriber.reconnects()
    }
}
