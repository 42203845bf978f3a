//! Redis adapters for webchat: presence, sessions, rate limits, the message cache,
//! the event bus, the announcer (cache write-through and publication of a send in
//! one round trip) and the `redis` health check, all over one [`RedisBackend`].
//!
//! # Wiring
//!
//! ```no_run
//! # async fn wire() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use webchat_domain::InstanceId;
//! use webchat_ports::{CacheConfig, PresenceConfig};
//! use webchat_redis::*;
//!
//! // REDIS_CLUSTER_NODES, REDIS_SENTINELS (+ _MASTER), REDIS_URL or REDIS_HOST; None: no Redis
//! let Some(config) = RedisConfig::from_env()? else { return Ok(()) };
//! let backend = RedisBackend::start(config, InstanceId::random())?; // never waits for Redis
//! let presence = Arc::new(RedisPresenceStore::new(backend.clone(), PresenceConfig::default()));
//! let sessions = Arc::new(RedisSessionStore::new(backend.clone()));
//! let limiter = Arc::new(RedisRateLimiter::new(backend.clone()));
//! let cache = Arc::new(RedisMessageCache::new(backend.clone(), CacheConfig::default()));
//! let bus = Arc::new(RedisEventBus::new(backend.clone()));
//! let announcer = Arc::new(RedisAnnouncer::new(backend.clone(), CacheConfig::default()));
//! let health = Arc::new(RedisHealthCheck::new(backend.clone()));
//! // ... serve ...
//! backend.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Key schema (every key and channel starts with the configured prefix)
//!
//! Braces are literal hash tags: every key carries the id it is about, so a user's
//! keys, or a chat's, share one Redis Cluster slot and every script and MULTI touches
//! one slot (`keys.rs` names them all). The same names serve a single server,
//! Sentinel and Cluster (docs/protocol.md, "Redis").
//!
//! | key | type | TTL | module |
//! |---|---|---|---|
//! | `user:presence:{<userId>}` | string, JSON UserPresence | `online_ttl` while online, refreshed by activity; `offline_ttl` once offline | [`presence`] |
//! | `user:sockets:{<userId>}` | set of `{instanceId}:{connId}` | `online_ttl`, refreshed with the record | [`presence`] |
//! | `users:online:{<slot tag>}` | set of the online user ids of one hash slot | none; the cleanup job removes members whose record is gone | [`presence`] |
//! | `users:online:by_id:{<slot tag>}` | zset of the same ids, scores 0 (pages by id, `ZRANGE BYLEX`; the reader merges the slots) | none; written with `users:online:{<slot tag>}` | [`presence`] |
//! | `instance:{<instanceId>}` | string, last heartbeat time | `instance_ttl`; gone = instance dead | [`presence`] |
//! | `instances` | zset of instance ids by last heartbeat (ms) | none; a day of silence drops a member | [`presence`] |
//! | `session:{<sessionId>}` | string, JSON UserSession | until `expires_at` | [`session`] |
//! | `user:sessions:{<userId>}` | zset of session ids by expiry ms | >= the longest session | [`session`] |
//! | `token:blacklist:{<sha256 hex>}` | string | the token's remaining lifetime | [`session`] |
//! | `throttle:<policy>:{<subject>}:<route>` (subject `user:<id>`, `ip:<addr>`, `ip:<net>/64`, `account:<name>`) | counter | the policy window | [`rate_limit`] |
//! | `message:{<messageId>}` | string, JSON Message (a read copy), or `~deleted` (a tombstone) | `read_ttl` for a copy, cache ttl for a tombstone | [`cache`] |
//! | `chat:recent:{<chatId>}` | list of the newest 50 messages (JSON), newest first | cache ttl, refreshed on write | [`cache`] |
//! | `chat:pinned:{<chatId>}` | hash: message id -> JSON (or `~unpinned:<version>`), plus `~empty` -> the set's `as_of` | cache ttl | [`cache`] |
//! | `chat:messages:{<chatId>}` | zset of the chat's copies' ids by seq, the newest 1000 | cache ttl, refreshed on write | [`cache`] |
//! | `chat:changed:{<chatId>}` | string, the watermark (highest version written through) | cache ttl, refreshed on write | [`cache`] |
//!
//! Each script starts with a `#!lua` shebang, so Cluster mode refuses one that
//! touches a key of another slot. Writes that span slots (a session and its index,
//! a message copy and its chat, a heartbeat and the registry) are separate steps in
//! an order argued for where they are made.
//!
//! Channels: `chat:{<chatId>}`, `user:{<userId>}` (shard channels in Cluster mode:
//! SPUBLISH / SSUBSCRIBE, kept subscribed by `pubsub_cluster`), `presence`
//! ([`event_bus`]).
//!
//! Multi-step writes are single Lua scripts (`src/lua/`) or MULTI pipelines; stats
//! and `clear_all` walk keys with SCAN + UNLINK on every master, never KEYS.
//!
//! # Degradation
//!
//! A down Redis never fails startup. Calls fail fast with `PortError::Unavailable`
//! (a refused connection at once, an unresponsive server within the pool's
//! connection timeout, a hung command within the client's 500 ms response timeout),
//! and callers apply the policy of docs/protocol.md. The event bus still delivers to this
//! process's subscribers, and resubscribes every channel once Redis is back.

pub mod announce;
mod backend;
pub mod cache;
mod cluster;
mod config;
mod connection;
pub mod event_bus;
pub mod health;
mod keys;
mod pipeline;
pub mod presence;
mod pubsub;
mod pubsub_cluster;
mod queue;
pub mod rate_limit;
mod scan;
mod sentinel;
pub mod session;
mod slots;
mod supervisor;
#[cfg(feature = "testing")]
pub mod testing;

pub use announce::RedisAnnouncer;
pub use backend::RedisBackend;
pub use cache::RedisMessageCache;
pub use config::{ConfigError, RedisConfig, RedisMode, Topology, DEFAULT_KEY_PREFIX};
pub use event_bus::RedisEventBus;
pub use health::RedisHealthCheck;
pub use presence::RedisPresenceStore;
pub use rate_limit::RedisRateLimiter;
pub use session::RedisSessionStore;
