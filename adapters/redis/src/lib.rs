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
//! let Some(config) = RedisConfig::from_env()? else { return Ok(()) }; // None: no Redis configured
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
//! | key | type | TTL | module |
//! |---|---|---|---|
//! | `user:presence:{userId}` | string, JSON UserPresence | `online_ttl` while online, refreshed by activity; `offline_ttl` once offline | [`presence`] |
//! | `users:online` | set of user ids | none; the cleanup job removes members whose record is gone | [`presence`] |
//! | `users:online:by_id` | zset of the same ids, scores 0 (pages by id, `ZRANGE BYLEX`) | none; written with `users:online` | [`presence`] |
//! | `user:sockets:{userId}` | set of `{instanceId}:{connId}` | `online_ttl`, refreshed with the record | [`presence`] |
//! | `instance:{instanceId}` | string, last heartbeat time | `instance_ttl`; gone = instance dead | [`presence`] |
//! | `session:{sessionId}` | string, JSON UserSession | until `expires_at` | [`session`] |
//! | `user:sessions:{userId}` | zset of session ids by expiry ms | >= the longest session | [`session`] |
//! | `token:blacklist:{sha256 hex}` | string | the token's remaining lifetime | [`session`] |
//! | `throttle:{policy}:{subject}:{route}` | counter | the policy window | [`rate_limit`] |
//! | `message:{<messageId>}` | string, JSON Message (a read copy), or `~deleted` (a tombstone) | `read_ttl` for a copy, cache ttl for a tombstone | [`cache`] |
//! | `chat:recent:{<chatId>}` | list of the newest 50 messages (JSON), newest first | cache ttl, refreshed on write | [`cache`] |
//! | `chat:pinned:{<chatId>}` | hash: message id -> JSON (or `~unpinned:<version>`), plus `~empty` -> the set's `as_of` | cache ttl | [`cache`] |
//! | `chat:messages:{<chatId>}` | zset of the chat's copies' ids by seq, the newest 1000 | cache ttl, refreshed on write | [`cache`] |
//! | `chat:changed:{<chatId>}` | string, the watermark (highest version written through) | cache ttl, refreshed on write | [`cache`] |
//!
//! The cache's ids in braces are literal hash tags: every key of one chat is on one
//! Redis Cluster slot, every `message:{id}` on its own; no script touches keys of
//! two slots (each script starts with a `#!lua` shebang, so Cluster mode enforces it).
//!
//! Channels: `chat:{chatId}`, `user:{userId}`, `presence` ([`event_bus`]).
//!
//! Multi-step writes are single Lua scripts (`src/lua/`) or MULTI pipelines (the
//! cache's writes that span a chat and a message are one script per slot, in an
//! order argued for in [`cache`]); stats and `clear_all` walk keys with SCAN +
//! UNLINK, never KEYS.
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
mod config;
mod connection;
pub mod event_bus;
pub mod health;
mod keys;
pub mod presence;
mod pubsub;
pub mod rate_limit;
mod scan;
pub mod session;
mod supervisor;
#[cfg(feature = "testing")]
pub mod testing;

pub use announce::RedisAnnouncer;
pub use backend::RedisBackend;
pub use cache::RedisMessageCache;
pub use config::{ConfigError, RedisConfig, DEFAULT_KEY_PREFIX};
pub use event_bus::RedisEventBus;
pub use health::RedisHealthCheck;
pub use presence::RedisPresenceStore;
pub use rate_limit::RedisRateLimiter;
pub use session::RedisSessionStore;
