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

use std::sync::LazyLock;

use async_trait::async_trait;
use redis::Script;
use webchat_domain::{ChatId, Message, MessageId};
use webchat_ports::{CacheConfig, CacheStats, MessageCache, PortResult, RECENT_WINDOW};

use crate::backend::{corrupt, millis, unavailable, RedisBackend};
use crate::scan::{count_keys, unlink_keys};

static CACHE_MESSAGE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/cache_message.lua")));
static UPDATE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/cache_update.lua")));

/// Stands for "no messages" in a window and "nothing pinned" in a pinned set; never
/// a message id or message JSON.
const EMPTY_MARKER: &str = "~empty";

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

    /// Queues "cache by id and index by seq" for each message; with `Write::Missing`
    /// entries already cached are left as they are.
    fn store_all(
        &self,
        pipe: &mut redis::Pipeline,
        messages: &[Message],
        write: Write,
    ) -> PortResult<()> {
        let keys = self.backend.keys();
        for message in messages {
            let index = keys.chat_messages(message.chat_id);
            let mut set = redis::cmd("SET");
            set.arg(keys.message(message.id))
                .arg(encode(message)?)
                .arg("PX")
                .arg(self.ttl());
            if write == Write::Missing {
                set.arg("NX");
            }
            pipe.add_command(set)
                .ignore()
                .cmd("ZADD")
                .arg(&index)
                .arg(message.seq)
                .arg(message.id.to_string())
                .ignore()
                .cmd("PEXPIRE")
                .arg(&index)
                .arg(self.ttl())
                .ignore();
        }
        Ok(())
    }

    async fn exec(&self, op: &str, pipe: &redis::Pipeline) -> PortResult<()> {
        let mut conn = self.backend.conn().await?;
        pipe.query_async::<()>(&mut *conn)
            .await
            .map_err(|e| unavailable(op, e))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Write {
    All,
    Missing,
}

fn encode(message: &Message) -> PortResult<String> {
    serde_json::to_string(message).map_err(|e| corrupt("message", e))
}

fn decode(json: &str) -> PortResult<Message> {
    serde_json::from_str(json).map_err(|e| corrupt("message", e))
}

#[async_trait]
impl MessageCache for RedisMessageCache {
    #[tracing::instrument(skip(self, message), fields(message = %message.id))]
    async fn cache_message(&self, message: &Message) -> PortResult<()> {
        let keys = self.backend.keys();
        let mut conn = self.backend.conn().await?;
        let _: i64 = CACHE_MESSAGE
            .key(keys.message(message.id))
            .key(keys.chat_messages(message.chat_id))
            .key(keys.chat_recent(message.chat_id))
            .arg(encode(message)?)
            .arg(self.ttl())
            .arg(message.seq)
            .arg(message.id.to_string())
            .arg(EMPTY_MARKER)
            .arg(RECENT_WINDOW)
            .invoke_async(&mut *conn)
            .await
            .map_err(|e| unavailable("cache_message", e))?;
        Ok(())
    }

    #[tracing::instrument(skip(self))]
    async fn get_cached(&self, id: MessageId) -> PortResult<Option<Message>> {
        let mut conn = self.backend.conn().await?;
        let json: Option<String> = redis::cmd("GET")
            .arg(self.backend.keys().message(id))
            .query_async(&mut *conn)
            .await
            .map_err(|e| unavailable("GET message", e))?;
        json.as_deref().map(decode).transpose()
    }

    #[tracing::instrument(skip(self, message), fields(message = %message.id))]
    async fn update_cached(&self, message: &Message) -> PortResult<()> {
        let keys = self.backend.keys();
        let pin_score = message
            .pinned_at
            .map(|t| t.timestamp_millis().to_string())
            .unwrap_or_default();
        let mut conn = self.backend.conn().await?;
        let _: i64 = UPDATE
            .key(keys.message(message.id))
            .key(keys.chat_messages(message.chat_id))
            .key(keys.chat_recent(message.chat_id))
            .key(keys.chat_pinned(message.chat_id))
            .arg(encode(message)?)
            .arg(self.ttl())
            .arg(message.seq)
            .arg(message.id.to_string())
            .arg(pin_score)
            .arg(EMPTY_MARKER)
            .invoke_async(&mut *conn)
            .await
            .map_err(|e| unavailable("update_cached", e))?;
        Ok(())
    }

    #[tracing::instrument(skip(self))]
    async fn delete_cached(&self, chat: ChatId, id: MessageId) -> PortResult<()> {
        let keys = self.backend.keys();
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("UNLINK")
            .arg(keys.message(id))
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
        self.exec("delete_cached", &pipe).await
    }

    #[tracing::instrument(skip(self))]
    async fn recent(&self, chat: ChatId, limit: usize) -> PortResult<Option<Vec<Message>>> {
        let key = self.backend.keys().chat_recent(chat);
        let mut conn = self.backend.conn().await?;
        if limit == 0 {
            let exists: bool = redis::cmd("EXISTS")
                .arg(&key)
                .query_async(&mut *conn)
                .await
                .map_err(|e| unavailable("EXISTS recent", e))?;
            return Ok(exists.then(Vec::new));
        }
        let items: Vec<String> = redis::cmd("LRANGE")
            .arg(&key)
            .arg(0)
            .arg(limit.min(RECENT_WINDOW) as i64 - 1)
            .query_async(&mut *conn)
            .await
            .map_err(|e| unavailable("LRANGE recent", e))?;
        if items.is_empty() {
            return Ok(None);
        }
        items
            .iter()
            .filter(|item| *item != EMPTY_MARKER)
            .map(|item| decode(item))
            .collect::<PortResult<Vec<_>>>()
            .map(Some)
    }

    #[tracing::instrument(skip(self, pinned), fields(count = pinned.len()))]
    async fn cache_pinned(&self, chat: ChatId, pinned: &[Message]) -> PortResult<()> {
        let key = self.backend.keys().chat_pinned(chat);
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("DEL")
            .arg(&key)
            .ignore()
            .cmd("ZADD")
            .arg(&key)
            .arg(0)
            .arg(EMPTY_MARKER)
            .ignore();
        for message in pinned {
            let score = message.pinned_at.map_or(0, |t| t.timestamp_millis());
            pipe.cmd("ZADD")
                .arg(&key)
                .arg(score)
                .arg(message.id.to_string())
                .ignore();
        }
        pipe.cmd("PEXPIRE").arg(&key).arg(self.ttl()).ignore();
        // `pinned` reads the messages by id, so they must be cached; but entries
        // already cached are what `get_cached` answers and stay as they are.
        self.store_all(&mut pipe, pinned, Write::Missing)?;
        self.exec("cache_pinned", &pipe).await
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
            .query_async(&mut *conn)
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
            .query_async(&mut *conn)
            .await
            .map_err(|e| unavailable("MGET pinned", e))?;
        // One evicted message makes the cached set unusable: the caller refills it.
        let Some(records) = records.into_iter().collect::<Option<Vec<String>>>() else {
            return Ok(None);
        };
        records
            .iter()
            .map(|json| decode(json))
            .collect::<PortResult<Vec<_>>>()
            .map(Some)
    }

    #[tracing::instrument(skip(self, messages), fields(count = messages.len()))]
    async fn cache_many(&self, messages: &[Message]) -> PortResult<()> {
        if messages.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        self.store_all(&mut pipe, messages, Write::All)?;
        self.exec("cache_many", &pipe).await
    }

    #[tracing::instrument(skip(self, newest_first), fields(count = newest_first.len()))]
    async fn warm_up(&self, chat: ChatId, newest_first: &[Message]) -> PortResult<()> {
        let key = self.backend.keys().chat_recent(chat);
        let window = &newest_first[..newest_first.len().min(RECENT_WINDOW)];
        let mut pipe = redis::pipe();
        pipe.atomic().cmd("DEL").arg(&key).ignore();
        let mut push = redis::cmd("RPUSH");
        push.arg(&key);
        if window.is_empty() {
            push.arg(EMPTY_MARKER);
        }
        for message in window {
            push.arg(encode(message)?);
        }
        pipe.add_command(push)
            .ignore()
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(self.ttl())
            .ignore();
        self.store_all(&mut pipe, window, Write::All)?;
        self.exec("warm_up", &pipe).await
    }

    #[tracing::instrument(skip(self))]
    async fn invalidate_chat(&self, chat: ChatId) -> PortResult<()> {
        let keys = self.backend.keys();
        let index = keys.chat_messages(chat);
        let ids: Vec<String> = {
            let mut conn = self.backend.conn().await?;
            redis::cmd("ZRANGE")
                .arg(&index)
                .arg(0)
                .arg(-1)
                .query_async(&mut *conn)
                .await
                .map_err(|e| unavailable("ZRANGE messages", e))?
        };
        let mut unlink = redis::cmd("UNLINK");
        unlink
            .arg(&index)
            .arg(keys.chat_recent(chat))
            .arg(keys.chat_pinned(chat));
        for id in &ids {
            unlink.arg(keys.message_of(id));
        }
        let mut pipe = redis::pipe();
        pipe.add_command(unlink).ignore();
        self.exec("invalidate_chat", &pipe).await
    }

    #[tracing::instrument(skip(self))]
    async fn stats(&self) -> PortResult<CacheStats> {
        Ok(CacheStats {
            total_cached_messages: count_keys(&self.backend, "message:*").await?,
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
