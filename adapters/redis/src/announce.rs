//! The Announcer over Redis: a send's cache write-through and its publication in
//! one round trip.
//!
//! `created` first hands the event to this process's subscribers, as
//! `RedisEventBus::publish` does (the same code), then runs one script,
//! `cache_announce.lua`, that PUBLISHes the same envelope on the same channel and
//! does `cache_message`'s window and watermark work (`cache_message.lua`'s code).
//! Only when that script pushed the message while the chat's watermark stood above
//! its version (a delete of it may already have been written through) does a
//! second command read its tombstone, and a third undo the push if it is there
//! (see `RedisMessageCache::settle_write_through`).

use async_trait::async_trait;
use webchat_domain::{Event, Message};
use webchat_ports::{Announced, Announcer, CacheConfig, PortResult};

use crate::backend::{unavailable, RedisBackend};
use crate::cache::{encode, ANNOUNCE};
use crate::event_bus::deliver_locally;
use crate::RedisMessageCache;

/// Announces through the cache of `RedisMessageCache::new(backend, config)` and the
/// bus of `RedisEventBus::new(backend)` at once.
#[derive(Debug, Clone)]
pub struct RedisAnnouncer {
    cache: RedisMessageCache,
}

impl RedisAnnouncer {
    pub fn new(backend: RedisBackend, config: CacheConfig) -> Self {
        Self {
            cache: RedisMessageCache::new(backend, config),
        }
    }

    /// Both halves, when the envelope and the message encode.
    async fn announce(
        &self,
        message: &Message,
        publish: &str,
        channel: &str,
        payload: &str,
    ) -> Announced {
        let json = match encode(message) {
            Ok(json) => json,
            Err(e) => {
                return Announced {
                    cached: Err(e),
                    published: self.publish_only(publish, channel, payload).await,
                }
            }
        };
        let mut invocation = self.cache.write_through(&ANNOUNCE, message, &json);
        invocation.arg(channel).arg(payload).arg(publish);
        let done: PortResult<(i64, i64)> = match self.cache.backend().conn().await {
            Ok(mut conn) => invocation
                .invoke_async(&mut conn)
                .await
                .map_err(|e| unavailable("announce", e)),
            Err(e) => Err(e),
        };
        match done {
            Ok((_outcome, suspect)) => Announced {
                cached: self.cache.settle_write_through(message, suspect == 1).await,
                published: Ok(()),
            },
            Err(e) => Announced {
                cached: Err(e.clone()),
                published: Err(e),
            },
        }
    }

    async fn publish_only(&self, publish: &str, channel: &str, payload: &str) -> PortResult<()> {
        let mut conn = self.cache.backend().conn().await?;
        redis::cmd(publish)
            .arg(channel)
            .arg(payload)
            .query_async::<u64>(&mut conn)
            .await
            .map_err(|e| unavailable("PUBLISH", e))?;
        Ok(())
    }
}

#[async_trait]
impl Announcer for RedisAnnouncer {
    #[tracing::instrument(skip(self, message, event), fields(message = %message.id))]
    async fn created(&self, message: &Message, event: &Event) -> Announced {
        let (channel, payload) = deliver_locally(self.cache.backend(), event);
        let publish = self.cache.backend().publish_command(&event.topic());
        match payload {
            Ok(payload) => self.announce(message, publish, &channel, &payload).await,
            Err(e) => Announced {
                cached: webchat_ports::MessageCache::cache_message(&self.cache, message).await,
                published: Err(e),
            },
        }
    }
}
