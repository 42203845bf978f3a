//! MessageCache over Redis.
//!
//! Keys (prefix omitted; the ids in braces are hash tags, so Redis Cluster mode
//! keeps every key of one chat on one slot):
//!
//! - `message:{messageId}` string: a read copy (message JSON, with its version) for
//!   `read_ttl`, or the tombstone `~deleted` for `ttl`. Its own slot: only
//!   single-key commands and per-key scripts touch it.
//! - `chat:recent:{chatId}` list: the window, message JSON newest first (only the
//!   `~empty` marker for a chat without messages), `ttl`.
//! - `chat:pinned:{chatId}` hash: message id -> JSON of a pinned message, or
//!   `~unpinned:<version>` for one that left the set since it was read; the field
//!   `~empty` is always there and holds the `as_of` the set was read at; `ttl`.
//! - `chat:messages:{chatId}` zset: ids of the chat's copies by seq, the newest
//!   `INDEX_LIMIT`, `ttl`, so `invalidate_chat` finds them.
//! - `chat:changed:{chatId}` string: the watermark, the highest version written
//!   through for the chat, `ttl`.
//!
//! Every check and the write it guards are one script or one single-key command
//! (`SET NX` fills a missing copy: a copy or tombstone already there wins). No
//! script touches a chat's keys and a `message:{id}` key together: an operation
//! that writes both sends one step per slot, in an order argued for at the method.

mod format;
mod scripts;

use std::collections::HashMap;

use async_trait::async_trait;
use redis::{ScriptInvocation, Value};
use webchat_domain::{ChatId, Message, MessageId};
use webchat_ports::{
    CacheConfig, CacheStats, MessageCache, PortResult, INDEX_LIMIT, RECENT_WINDOW,
};

use crate::backend::{millis, unavailable, RedisBackend};
use crate::scan::{count_keys, scan_keys, unlink_keys};
pub(crate) use format::encode;
use format::{is_tombstone, TOMBSTONE, TOMBSTONE_END};
use scripts::{
    replies, reply, send, send_unordered, CACHE_PINNED, COPY, DELETE, DROP_COPY, FORGET, INDEX,
    UPDATE, WARM_UP,
};
pub(crate) use scripts::{ANNOUNCE, CACHE_MESSAGE};

/// Commands per round trip for work over many keys (and messages per index script).
const CHUNK: usize = 500;

/// Index pages `invalidate_chat` walks before it drops what is left of the index:
/// more than a full index, plus copies indexed while it runs.
const INVALIDATE_PAGES: usize = INDEX_LIMIT / CHUNK + 2;

#[derive(Debug, Clone)]
pub struct RedisMessageCache {
    backend: RedisBackend,
    config: CacheConfig,
}

impl RedisMessageCache {
    pub fn new(backend: RedisBackend, config: CacheConfig) -> Self {
        Self { backend, config }
    }

    pub(crate) fn backend(&self) -> &RedisBackend {
        &self.backend
    }

    fn ttl(&self) -> u64 {
        millis(self.config.ttl)
    }

    fn read_ttl(&self) -> u64 {
        millis(self.config.read_ttl)
    }

    /// The invocation of a write-through script (`cache_message.lua`, or
    /// `cache_announce.lua`, which takes the channel and payload after these).
    pub(crate) fn write_through<'s>(
        &self,
        script: &'s redis::Script,
        message: &Message,
        json: &str,
    ) -> ScriptInvocation<'s> {
        let keys = self.backend.keys();
        let mut invocation = script.prepare_invoke();
        invocation
            .key(keys.chat_recent(message.chat_id))
            .key(keys.chat_changed(message.chat_id))
            .arg(json)
            .arg(message.seq)
            .arg(message.id.to_string())
            .arg(message.version)
            .arg(RECENT_WINDOW)
            .arg(self.ttl());
        invocation
    }

    /// Finishes a write-through whose script answered `suspect`: it pushed the
    /// message while the watermark stood above its version, so a delete of it may
    /// have been written through before (the script could not read the tombstone,
    /// which lives on another slot). The tombstone is read now; if it is there the
    /// push is undone.
    ///
    /// Why reading after the push is enough: a delete SETs its tombstone, then runs
    /// `cache_delete.lua` (drop the window, raise the watermark to the delete's
    /// version, which is above every version of the message). If that ran before the
    /// push, the push is suspect and the tombstone, set even earlier, is seen here. If
    /// it ran after the push, it dropped the window the push went into.
    pub(crate) async fn settle_write_through(
        &self,
        message: &Message,
        suspect: bool,
    ) -> PortResult<()> {
        if suspect && self.tombstoned(&[message.id]).await?[0] {
            self.forget(message.chat_id, message.id).await?;
        }
        Ok(())
    }

    /// Which of `ids` are tombstoned, reading only the first bytes of each value.
    async fn tombstoned(&self, ids: &[MessageId]) -> PortResult<Vec<bool>> {
        let keys = self.backend.keys();
        let mut dead = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(CHUNK) {
            let mut pipe = redis::pipe();
            for id in chunk {
                pipe.cmd("GETRANGE")
                    .arg(keys.message(*id))
                    .arg(0)
                    .arg(TOMBSTONE_END);
            }
            let heads = replies(
                "GETRANGE",
                send_unordered(&self.backend, "GETRANGE", &mut pipe, &[]).await?,
                chunk.len(),
            )?;
            for head in heads {
                dead.push(is_tombstone(&reply::<String>("GETRANGE", head)?));
            }
        }
        Ok(dead)
    }

    /// Takes a tombstoned message back out of the chat's keys (`cache_forget.lua`).
    async fn forget(&self, chat: ChatId, id: MessageId) -> PortResult<()> {
        let keys = self.backend.keys();
        let mut invocation = FORGET.prepare_invoke();
        invocation
            .key(keys.chat_recent(chat))
            .key(keys.chat_pinned(chat))
            .key(keys.chat_messages(chat))
            .arg(id.to_string())
            .arg(RECENT_WINDOW)
            .arg(self.ttl());
        let mut conn = self.backend.conn().await?;
        invocation
            .invoke_async::<i64>(&mut conn)
            .await
            .map_err(|e| unavailable("forget", e))?;
        Ok(())
    }

    /// How many `message:*` keys hold a copy rather than a tombstone.
    async fn count_copies(&self) -> PortResult<u64> {
        let keys: Vec<String> = scan_keys(&self.backend, "message:*")
            .await?
            .into_iter()
            .collect();
        let mut copies = 0;
        for chunk in keys.chunks(CHUNK) {
            let mut pipe = redis::pipe();
            for key in chunk {
                pipe.cmd("GETRANGE").arg(key).arg(0).arg(TOMBSTONE_END);
            }
            let heads = send_unordered(&self.backend, "count copies", &mut pipe, &[]).await?;
            for head in heads {
                let head: String = reply("GETRANGE", head)?;
                // "" is a key that expired since the SCAN.
                if !head.is_empty() && !is_tombstone(&head) {
                    copies += 1;
                }
            }
        }
        Ok(copies)
    }
}

#[async_trait]
impl MessageCache for RedisMessageCache {
    #[tracing::instrument(skip(self, message), fields(message = %message.id))]
    async fn cache_message(&self, message: &Message) -> PortResult<()> {
        let json = encode(message)?;
        let invocation = self.write_through(&CACHE_MESSAGE, message, &json);
        let mut conn = self.backend.conn().await?;
        let (_outcome, suspect): (i64, i64) = invocation
            .invoke_async(&mut conn)
            .await
            .map_err(|e| unavailable("cache_message", e))?;
        self.settle_write_through(message, suspect == 1).await
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

    /// The chat's half (`cache_update.lua`: window entry, pinned set, index,
    /// watermark), then the copy's half (`cache_copy.lua`), in one round trip.
    ///
    /// Why in this order: a delete racing this update SETs its tombstone, then runs
    /// `cache_delete.lua`. If the tombstone came before the copy's half, that half
    /// sees it and the chat's half is undone (`cache_forget.lua`); if after, the
    /// delete's chat half runs after this one's and takes out what it wrote. So
    /// whatever the chat's half wrote for a deleted message does not stay. (Today
    /// the versions alone already keep it out of the window and the pinned set: no
    /// window holds a message after its delete, and a pinned set knows the delete's
    /// version, from its `~unpinned:` marker or its `as_of`; what the undo still
    /// takes out is the index entry. The order keeps that true for any later rule.)
    #[tracing::instrument(skip(self, message), fields(message = %message.id))]
    async fn update_cached(&self, message: &Message) -> PortResult<()> {
        let json = encode(message)?;
        let keys = self.backend.keys();
        let chat = message.chat_id;
        let mut chat_half = UPDATE.prepare_invoke();
        chat_half
            .key(keys.chat_recent(chat))
            .key(keys.chat_pinned(chat))
            .key(keys.chat_messages(chat))
            .key(keys.chat_changed(chat))
            .arg(&json)
            .arg(message.seq)
            .arg(message.id.to_string())
            .arg(message.version)
            .arg(if message.pinned_at.is_some() { "1" } else { "" })
            .arg(self.ttl())
            .arg(INDEX_LIMIT);
        let mut copy_half = COPY.prepare_invoke();
        copy_half
            .key(keys.message(message.id))
            .arg(&json)
            .arg(message.version)
            .arg(self.read_ttl());
        let mut pipe = redis::pipe();
        pipe.invoke_script(&chat_half).invoke_script(&copy_half);
        let mut done = replies(
            "update_cached",
            send(&self.backend, "update_cached", &mut pipe, &[&UPDATE, &COPY]).await?,
            2,
        )?;
        let copy: i64 = reply("update_cached", done.remove(1))?;
        if copy == 0 {
            self.forget(chat, message.id).await?;
        }
        Ok(())
    }

    /// The tombstone (`SET`), then the chat's half (`cache_delete.lua`), in one
    /// round trip.
    ///
    /// Why in this order: once the tombstone is there no copy write takes (`SET NX`,
    /// `cache_copy.lua`), and every write-through whose chat half lands after
    /// `cache_delete.lua` reads the tombstone after that half and undoes it (see
    /// `update_cached`, `settle_write_through`). The chat's half cleans what landed
    /// before it and raises the watermark, refusing any `warm_up` or `cache_pinned`
    /// read before the delete.
    #[tracing::instrument(skip(self))]
    async fn delete_cached(&self, chat: ChatId, id: MessageId, version: i64) -> PortResult<()> {
        let keys = self.backend.keys();
        let mut chat_half = DELETE.prepare_invoke();
        chat_half
            .key(keys.chat_recent(chat))
            .key(keys.chat_pinned(chat))
            .key(keys.chat_messages(chat))
            .key(keys.chat_changed(chat))
            .arg(id.to_string())
            .arg(version)
            .arg(self.ttl());
        let mut pipe = redis::pipe();
        pipe.cmd("SET")
            .arg(keys.message(id))
            .arg(TOMBSTONE)
            .arg("PX")
            .arg(self.ttl())
            .invoke_script(&chat_half);
        send(&self.backend, "delete_cached", &mut pipe, &[&DELETE]).await?;
        Ok(())
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

    /// Reads the tombstones of the pinned messages, then replaces the set
    /// (`cache_pinned.lua`) without the tombstoned ones. A delete whose tombstone
    /// came after the read raises the watermark above any `as_of` read before the
    /// delete, or marks the id out of this set after it.
    #[tracing::instrument(skip(self, pinned), fields(count = pinned.len()))]
    async fn cache_pinned(&self, chat: ChatId, pinned: &[Message], as_of: i64) -> PortResult<()> {
        let pinned: Vec<&Message> = pinned.iter().filter(|m| m.pinned_at.is_some()).collect();
        let ids: Vec<MessageId> = pinned.iter().map(|m| m.id).collect();
        let dead = self.tombstoned(&ids).await?;
        let keys = self.backend.keys();
        let mut invocation = CACHE_PINNED.prepare_invoke();
        invocation
            .key(keys.chat_pinned(chat))
            .key(keys.chat_changed(chat))
            .arg(as_of)
            .arg(self.ttl());
        for (m, dead) in pinned.iter().zip(dead) {
            if !dead {
                invocation.arg(m.id.to_string()).arg(encode(m)?);
            }
        }
        let mut conn = self.backend.conn().await?;
        invocation
            .invoke_async::<i64>(&mut conn)
            .await
            .map_err(|e| unavailable("cache_pinned", e))?;
        Ok(())
    }

    #[tracing::instrument(skip(self))]
    async fn pinned(&self, chat: ChatId) -> PortResult<Option<Vec<Message>>> {
        let mut conn = self.backend.conn().await?;
        let fields: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(self.backend.keys().chat_pinned(chat))
            .query_async(&mut conn)
            .await
            .map_err(|e| unavailable("HGETALL pinned", e))?;
        format::pinned(fields)
    }

    /// The copies (`SET NX`: a copy or tombstone already there wins), then, per chat,
    /// the index of those written (`cache_index.lua`). Indexing only what was
    /// written keeps tombstoned ids out of the index; an `invalidate_chat` running
    /// between the two steps leaves the new copies indexed, as if this read came
    /// after it.
    #[tracing::instrument(skip(self, messages), fields(count = messages.len()))]
    async fn cache_read(&self, messages: &[Message]) -> PortResult<()> {
        let keys = self.backend.keys();
        let mut written: HashMap<ChatId, Vec<&Message>> = HashMap::new();
        for chunk in messages.chunks(CHUNK) {
            let mut pipe = redis::pipe();
            for m in chunk {
                pipe.cmd("SET")
                    .arg(keys.message(m.id))
                    .arg(encode(m)?)
                    .arg("PX")
                    .arg(self.read_ttl())
                    .arg("NX");
            }
            let done = replies(
                "cache_read",
                send_unordered(&self.backend, "cache_read", &mut pipe, &[]).await?,
                chunk.len(),
            )?;
            for (m, done) in chunk.iter().zip(done) {
                if !matches!(done, Value::Nil) {
                    written.entry(m.chat_id).or_default().push(m);
                }
            }
        }
        if written.is_empty() {
            return Ok(());
        }
        let mut invocations = Vec::new();
        for (chat, copies) in &written {
            for chunk in copies.chunks(CHUNK) {
                let mut invocation = INDEX.prepare_invoke();
                invocation
                    .key(keys.chat_messages(*chat))
                    .arg(self.ttl())
                    .arg(INDEX_LIMIT);
                for m in chunk {
                    invocation.arg(m.seq).arg(m.id.to_string());
                }
                invocations.push(invocation);
            }
        }
        let mut pipe = redis::pipe();
        for invocation in &invocations {
            pipe.invoke_script(invocation);
        }
        send_unordered(&self.backend, "cache_read index", &mut pipe, &[&INDEX]).await?;
        Ok(())
    }

    /// Reads the tombstones of the kept messages, then creates the window
    /// (`cache_warm_up.lua`) unless one is tombstoned or the watermark is above
    /// `as_of`. A delete whose tombstone came after the read raises the watermark
    /// above any `as_of` read before the delete, or drops this window after it.
    #[tracing::instrument(skip(self, newest_first), fields(count = newest_first.len()))]
    async fn warm_up(&self, chat: ChatId, newest_first: &[Message], as_of: i64) -> PortResult<()> {
        let kept = &newest_first[..newest_first.len().min(RECENT_WINDOW)];
        let ids: Vec<MessageId> = kept.iter().map(|m| m.id).collect();
        if self.tombstoned(&ids).await?.into_iter().any(|dead| dead) {
            return Ok(());
        }
        let keys = self.backend.keys();
        let mut invocation = WARM_UP.prepare_invoke();
        invocation
            .key(keys.chat_recent(chat))
            .key(keys.chat_changed(chat))
            .arg(as_of)
            .arg(self.ttl());
        for m in kept {
            invocation.arg(encode(m)?);
        }
        let mut conn = self.backend.conn().await?;
        invocation
            .invoke_async::<i64>(&mut conn)
            .await
            .map_err(|e| unavailable("warm_up", e))?;
        Ok(())
    }

    /// Drops the window and pinned set, then walks the index a page (`CHUNK` ids) at
    /// a time: the page's copies go (`cache_drop_copy.lua`, one per key, sparing
    /// tombstones a racing delete may have SET), then the page leaves the index.
    /// After `INVALIDATE_PAGES` pages (a full index, plus copies indexed meanwhile)
    /// whatever is left of the index goes too.
    #[tracing::instrument(skip(self))]
    async fn invalidate_chat(&self, chat: ChatId) -> PortResult<()> {
        let keys = self.backend.keys();
        let index = keys.chat_messages(chat);
        let mut conn = self.backend.conn().await?;
        redis::cmd("UNLINK")
            .arg(keys.chat_recent(chat))
            .arg(keys.chat_pinned(chat))
            .query_async::<u64>(&mut conn)
            .await
            .map_err(|e| unavailable("invalidate_chat", e))?;
        for _ in 0..INVALIDATE_PAGES {
            let ids: Vec<String> = redis::cmd("ZRANGE")
                .arg(&index)
                .arg(0)
                .arg(CHUNK - 1)
                .query_async(&mut conn)
                .await
                .map_err(|e| unavailable("ZRANGE index", e))?;
            if ids.is_empty() {
                return Ok(());
            }
            let drops: Vec<ScriptInvocation<'_>> = ids
                .iter()
                .map(|id| {
                    let mut invocation = DROP_COPY.prepare_invoke();
                    invocation.key(keys.message_of(id));
                    invocation
                })
                .collect();
            // The copies (each on its own slot, in any order), then the index page.
            let mut pipe = redis::pipe();
            for drop in &drops {
                pipe.invoke_script(drop);
            }
            send_unordered(&self.backend, "invalidate_chat", &mut pipe, &[&DROP_COPY]).await?;
            redis::cmd("ZREM")
                .arg(&index)
                .arg(&ids)
                .query_async::<u64>(&mut conn)
                .await
                .map_err(|e| unavailable("invalidate_chat", e))?;
        }
        redis::cmd("UNLINK")
            .arg(&index)
            .query_async::<u64>(&mut conn)
            .await
            .map_err(|e| unavailable("invalidate_chat", e))?;
        Ok(())
    }

    #[tracing::instrument(skip(self))]
    async fn stats(&self) -> PortResult<CacheStats> {
        Ok(CacheStats {
            total_cached_messages: self.count_copies().await?,
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
                "chat:changed:*",
            ],
        )
        .await
    }
}
