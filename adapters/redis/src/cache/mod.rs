//! MessageCache over Redis.
//!
//! Keys: `message:{messageId}` string, the JSON Message, living the cache ttl;
//! `chat:messages:{chatId}` zset of message ids by seq (every cached message of the
//! chat, so `invalidate_chat` finds them), refreshed on write; `chat:recent:{chatId}`
//! list of the newest 50 messages as JSON, newest first; `chat:pinned:{chatId}` zset
//! of message ids by pin time (unix ms).
//!
//! Redis cannot hold an empty list or zset, but an empty window ("the chat has no
//! messages") and an empty pinned set ("nothing is pinned") are answers worth
//! caching, so both keep a marker element that readers skip.
//!
//! A deleted id's tombstone is its `message:{id}` key holding `TOMBSTONE` for the
//! cache ttl, so the key table stays as it is. Every write that could bring a message
//! back is a script (`lua/cache_*.lua`, over the shared `cache_common.lua`) that reads
//! the tombstone and writes in one atomic step.

mod format;
mod scripts;

use async_trait::async_trait;
use webchat_domain::{ChatId, Message, MessageId};
use webchat_ports::{CacheConfig, CacheStats, MessageCache, PortResult, RECENT_WINDOW};

use crate::backend::{millis, unavailable, RedisBackend};
use crate::scan::{count_keys, unlink_keys};
use format::{EMPTY_MARKER, TOMBSTONE};
use scripts::{CACHE_MANY, CACHE_MESSAGE, CACHE_PINNED, INVALIDATE, UPDATE, WARM_UP};

#[derive(Debug, Clone)]
pub struct RedisMessageCache {
    backend: RedisBackend,
    config: CacheConfig,
}

impl RedisMessageCache {
    pub fn new(backend: RedisBackend, config: CacheConfig) -> Self {
        Self { backend, config }
    }

    fn ttl(&self) -> u64 {
        millis(self.config.ttl)
    }
}

#[async_trait]
impl MessageCache for RedisMessageCache {
    #[tracing::instrument(skip(self, message), fields(message = %message.id))]
    async fn cache_message(&self, message: &Message) -> PortResult<()> {
        let window = self.backend.keys().chat_recent(message.chat_id);
        let args = [EMPTY_MARKER.to_owned(), RECENT_WINDOW.to_string()];
        self.run(
            "cache_message",
            &CACHE_MESSAGE,
            &[window],
            &args,
            std::slice::from_ref(message),
        )
        .await?;
        Ok(())
    }

    #[tracing::instrument(skip(self))]
    async fn get_cached(&self, id: MessageId) -> PortResult<Option<Message>> {
        let mut conn = self.backend.conn().await?;
        let json: Option<String> = redis::cmd("GET")
            .arg(self.backend.keys().message(id))
            .query_async(&mut conn)
            .await
            .map_err(|e| unavailable("GET message", e))?;
        format::cached(json.as_deref())
    }

    #[tracing::instrument(skip(self, message), fields(message = %message.id))]
    async fn update_cached(&self, message: &Message) -> PortResult<()> {
        let keys = self.backend.keys();
        let own = [
            keys.chat_recent(message.chat_id),
            keys.chat_pinned(message.chat_id),
        ];
        let args = [EMPTY_MARKER.to_owned()];
        self.run(
            "update_cached",
            &UPDATE,
            &own,
            &args,
            std::slice::from_ref(message),
        )
        .await?;
        Ok(())
    }

    #[tracing::instrument(skip(self))]
    async fn delete_cached(&self, chat: ChatId, id: MessageId) -> PortResult<()> {
        let keys = self.backend.keys();
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("SET")
            .arg(keys.message(id))
            .arg(TOMBSTONE)
            .arg("PX")
            .arg(self.ttl())
            .ignore()
            .cmd("UNLINK")
            .arg(keys.chat_recent(chat))
            .ignore()
            .cmd("ZREM")
            .arg(keys.chat_messages(chat))
            .arg(id.to_string())
            .ignore()
            .cmd("ZREM")
            .arg(keys.chat_pinned(chat))
            .arg(id.to_string())
            .ignore();
        let mut conn = self.backend.conn().await?;
        pipe.query_async::<()>(&mut conn)
            .await
            .map_err(|e| unavailable("delete_cached", e))
    }

    #[tracing::instrument(skip(self))]
    async fn recent(&self, chat: ChatId, limit: usize) -> PortResult<Option<Vec<Message>>> {
        let key = self.backend.keys().chat_recent(chat);
        let mut conn = self.backend.conn().await?;
        if limit == 0 {
            let exists: bool = redis::cmd("EXISTS")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .map_err(|e| unavailable("EXISTS recent", e))?;
            return Ok(exists.then(Vec::new));
        }
        let items: Vec<String> = redis::cmd("LRANGE")
            .arg(&key)
            .arg(0)
            .arg(limit.min(RECENT_WINDOW) as i64 - 1)
            .query_async(&mut conn)
            .await
            .map_err(|e| unavailable("LRANGE recent", e))?;
        format::window(&items)
    }

    #[tracing::instrument(skip(self, pinned), fields(count = pinned.len()))]
    async fn cache_pinned(&self, chat: ChatId, pinned: &[Message]) -> PortResult<()> {
        let pinned: Vec<Message> = pinned
            .iter()
            .filter(|m| m.pinned_at.is_some())
            .cloned()
            .collect();
        let set = self.backend.keys().chat_pinned(chat);
        let args = [EMPTY_MARKER.to_owned()];
        self.run("cache_pinned", &CACHE_PINNED, &[set], &args, &pinned)
            .await?;
        Ok(())
    }

    #[tracing::instrument(skip(self))]
    async fn pinned(&self, chat: ChatId) -> PortResult<Option<Vec<Message>>> {
        let keys = self.backend.keys();
        let mut conn = self.backend.conn().await?;
        let members: Vec<String> = redis::cmd("ZRANGE")
            .arg(keys.chat_pinned(chat))
            .arg(0)
            .arg(-1)
            .arg("REV")
            .query_async(&mut conn)
            .await
            .map_err(|e| unavailable("ZRANGE pinned", e))?;
        if members.is_empty() {
            return Ok(None);
        }
        let message_keys: Vec<String> = members
            .iter()
            .filter(|m| *m != EMPTY_MARKER)
            .map(|m| keys.message_of(m))
            .collect();
        if message_keys.is_empty() {
            return Ok(Some(Vec::new()));
        }
        let records: Vec<Option<String>> = redis::cmd("MGET")
            .arg(&message_keys)
            .query_async(&mut conn)
            .await
            .map_err(|e| unavailable("MGET pinned", e))?;
        format::pinned(records)
    }

    #[tracing::instrument(skip(self, messages), fields(count = messages.len()))]
    async fn cache_many(&self, messages: &[Message]) -> PortResult<()> {
        if messages.is_empty() {
            return Ok(());
        }
        self.run("cache_many", &CACHE_MANY, &[], &[], messages)
            .await?;
        Ok(())
    }

    #[tracing::instrument(skip(self, newest_first), fields(count = newest_first.len()))]
    async fn warm_up(&self, chat: ChatId, newest_first: &[Message]) -> PortResult<()> {
        let key = self.backend.keys().chat_recent(chat);
        let window = &newest_first[..newest_first.len().min(RECENT_WINDOW)];
        let args = [EMPTY_MARKER.to_owned()];
        self.run("warm_up", &WARM_UP, &[key], &args, window).await?;
        Ok(())
    }

    #[tracing::instrument(skip(self))]
    async fn invalidate_chat(&self, chat: ChatId) -> PortResult<()> {
        let keys = self.backend.keys();
        let index = keys.chat_messages(chat);
        let mut conn = self.backend.conn().await?;
        let ids: Vec<String> = redis::cmd("ZRANGE")
            .arg(&index)
            .arg(0)
            .arg(-1)
            .query_async(&mut conn)
            .await
            .map_err(|e| unavailable("ZRANGE messages", e))?;
        let mut invocation = INVALIDATE.key(&index);
        invocation
            .key(keys.chat_recent(chat))
            .key(keys.chat_pinned(chat))
            .arg(TOMBSTONE);
        for id in &ids {
            invocation.key(keys.message_of(id));
        }
        let _: i64 = invocation
            .invoke_async(&mut conn)
            .await
            .map_err(|e| unavailable("invalidate_chat", e))?;
        Ok(())
    }

    #[tracing::instrument(skip(self))]
    async fn stats(&self) -> PortResult<CacheStats> {
        Ok(CacheStats {
            total_cached_messages: self.count_live_messages().await?,
            total_chats: count_keys(&self.backend, "chat:messages:*").await?,
        })
    }

    #[tracing::instrument(skip(self))]
    async fn clear_all(&self) -> PortResult<u64> {
        unlink_keys(
            &self.backend,
            &[
                "message:*",
                "chat:messages:*",
                "chat:recent:*",
                "chat:pinned:*",
            ],
        )
        .await
    }
}
