//! Sending, reading, editing, deleting and pinning messages. The repository is the
//! source of truth; the cache is written through on every change and read aside
//! (cache, then repository, then re-cache). A cache failure is logged and bypassed:
//! responses stay correct.

use std::sync::Arc;

use webchat_domain::{
    ChatId, ClientMsgId, Event, Message, MessageContent, MessageId, NewMessage, UserId,
};
use webchat_ports::{
    Announcer, Changed, Clock, MessageCache, MessageRepository, PortError, PortResult,
    RECENT_WINDOW,
};

use crate::metrics::{self, CacheRead};
use crate::usecase::chat::ChatService;
use crate::usecase::events::Publisher;
use crate::usecase::{AppError, AppResult};

mod recovery;
mod repair;

pub use recovery::{Recovery, RECOVERY_PAGE};
use repair::{CacheRepair, Repair};

/// Default and largest history page.
pub const DEFAULT_PAGE: usize = 50;
pub const MAX_PAGE: usize = 100;

pub struct MessageService {
    chats: Arc<ChatService>,
    messages: Arc<dyn MessageRepository>,
    cache: Arc<dyn MessageCache>,
    announcer: Arc<dyn Announcer>,
    repair: Arc<CacheRepair>,
    clock: Arc<dyn Clock>,
    events: Publisher,
}

/// Logs a cache failure and turns it into a miss.
fn cache_soft<T>(what: &'static str, r: PortResult<Option<T>>) -> Option<T> {
    r.unwrap_or_else(|e| {
        tracing::warn!(error = %e, what, "message cache unavailable, using the repository");
        None
    })
}

fn cache_write(what: &'static str, r: PortResult<()>) {
    if let Err(e) = r {
        tracing::warn!(error = %e, what, "message cache write failed");
    }
}

impl MessageService {
    pub fn new(
        chats: Arc<ChatService>,
        messages: Arc<dyn MessageRepository>,
        cache: Arc<dyn MessageCache>,
        announcer: Arc<dyn Announcer>,
        clock: Arc<dyn Clock>,
        events: Publisher,
    ) -> Self {
        Self {
            chats,
            messages,
            repair: CacheRepair::new(cache.clone()),
            cache,
            announcer,
            clock,
            events,
        }
    }

    /// Stores a message (members only). A repeated `client_msg_id` returns the
    /// message stored the first time and announces nothing new.
    #[tracing::instrument(skip(self, content))]
    pub async fn send(
        &self,
        sender: UserId,
        chat: ChatId,
        content: &str,
        client_msg_id: Option<&str>,
    ) -> AppResult<Message> {
        let content = MessageContent::parse(content)?;
        let client_msg_id = client_msg_id.map(ClientMsgId::parse).transpose()?;
        // The insert checks membership itself (one database round trip); only a
        // refusal costs a second look, to say which refusal it was.
        let inserted = self
            .messages
            .insert(NewMessage {
                id: MessageId::new(),
                chat_id: chat,
                sender_id: sender,
                content,
                client_msg_id,
                created_at: self.clock.now(),
            })
            .await;
        let outcome = match inserted {
            Ok(outcome) => outcome,
            Err(PortError::NotFound) => return Err(self.chats.refusal(chat).await),
            Err(e) => return Err(e.into()),
        };
        self.chats.remember_member(sender, chat);
        if outcome.created {
            metrics::message_sent();
            let event = Event::MessageCreated {
                chat_id: chat,
                message: outcome.message.clone(),
                pts: outcome.pts,
            };
            // The window write-through and the publication, one round trip where
            // the backend keeps both.
            let announced = self.announcer.created(&outcome.message, &event).await;
            if let Err(e) = announced.cached {
                tracing::warn!(error = %e, "message cache write failed: cache_message");
                self.repair.push(Repair::Forget(chat));
            }
            if let Err(e) = announced.published {
                tracing::warn!(error = %e, "event bus publish failed");
            }
        }
        Ok(outcome.message)
    }

    /// A history page, newest first. Served from the chat's recent window when the
    /// window covers it; otherwise from the repository, warming the window on the
    /// way when the chat had none.
    #[tracing::instrument(skip(self))]
    pub async fn history(
        &self,
        user: UserId,
        chat: ChatId,
        before_seq: Option<i64>,
        limit: Option<usize>,
    ) -> AppResult<Vec<Message>> {
        let limit = limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(AppError::Validation {
                field: "limit",
                reason: format!("must be 1 to {MAX_PAGE}"),
            });
        }
        self.chats.ensure_member(user, chat).await?;
        let window = cache_soft("recent", self.cache.recent(chat, RECENT_WINDOW).await);
        let cached = window
            .as_deref()
            .and_then(|w| page_from_window(w, before_seq, limit));
        metrics::cache_read(CacheRead::History, cached.is_some());
        if let Some(page) = cached {
            return Ok(page);
        }
        if window.is_none() && before_seq.is_none() {
            // The chat's pts before the read: a change committed after it raised the
            // cache's watermark past it, and the window is then not installed.
            let as_of = self.as_of(chat).await;
            let newest = self
                .messages
                .page(chat, None, RECENT_WINDOW.max(limit))
                .await?;
            if let Some(as_of) = as_of {
                cache_write("warm_up", self.cache.warm_up(chat, &newest, as_of).await);
            }
            return Ok(newest.into_iter().take(limit).collect());
        }
        Ok(self.messages.page(chat, before_seq, limit).await?)
    }

    /// Where the chat's change sequence stands, read before a repository read whose
    /// result is to be cached (`None` when it cannot be read: then nothing is cached).
    async fn as_of(&self, chat: ChatId) -> Option<i64> {
        match self.messages.heads(&[chat]).await {
            Ok(heads) => heads.first().map(|h| h.pts),
            Err(e) => {
                tracing::debug!(error = %e, "cannot read the chat's head; not caching");
                None
            }
        }
    }

    /// One message (members of its chat only), cache-aside.
    pub async fn get(&self, user: UserId, id: MessageId) -> AppResult<Message> {
        let cached = cache_soft("get_cached", self.cache.get_cached(id).await);
        metrics::cache_read(CacheRead::Message, cached.is_some());
        let message = match cached {
            Some(m) => m,
            None => {
                let m = self
                    .messages
                    .get(id)
                    .await?
                    .ok_or(AppError::NotFound("message"))?;
                cache_write(
                    "cache_read",
                    self.cache.cache_read(std::slice::from_ref(&m)).await,
                );
                m
            }
        };
        self.chats.ensure_member(user, message.chat_id).await?;
        Ok(message)
    }

    /// The authoritative message for a write, checked against the caller.
    async fn for_write(
        &self,
        user: UserId,
        id: MessageId,
        author_only: bool,
    ) -> AppResult<Message> {
        let message = self
            .messages
            .get(id)
            .await?
            .ok_or(AppError::NotFound("message"))?;
        self.chats.ensure_member(user, message.chat_id).await?;
        if author_only && message.sender_id != user {
            return Err(AppError::Forbidden);
        }
        Ok(message)
    }

    #[tracing::instrument(skip(self, content))]
    pub async fn edit(&self, user: UserId, id: MessageId, content: &str) -> AppResult<Message> {
        let content = MessageContent::parse(content)?;
        self.for_write(user, id, true).await?;
        let Changed { message, pts } = self
            .messages
            .update_content(id, &content, self.clock.now())
            .await?
            .ok_or(AppError::NotFound("message"))?;
        self.write_through(Repair::Update(message.clone())).await;
        self.events
            .publish(Event::MessageUpdated {
                chat_id: message.chat_id,
                message: message.clone(),
                pts,
            })
            .await;
        Ok(message)
    }

    #[tracing::instrument(skip(self))]
    pub async fn delete(&self, user: UserId, id: MessageId) -> AppResult<()> {
        self.for_write(user, id, true).await?;
        let Changed { message, pts } = self
            .messages
            .delete(id)
            .await?
            .ok_or(AppError::NotFound("message"))?;
        self.write_through(Repair::Delete {
            chat: message.chat_id,
            id,
            version: pts,
        })
        .await;
        self.events
            .publish(Event::MessageDeleted {
                chat_id: message.chat_id,
                message_id: id,
                message,
                pts,
            })
            .await;
        Ok(())
    }

    /// Pins (`true`) or unpins a message (members only).
    #[tracing::instrument(skip(self))]
    pub async fn set_pinned(
        &self,
        user: UserId,
        id: MessageId,
        pinned: bool,
    ) -> AppResult<Message> {
        self.for_write(user, id, false).await?;
        let at = pinned.then(|| self.clock.now());
        let Changed { message, pts } = self
            .messages
            .set_pinned(id, at)
            .await?
            .ok_or(AppError::NotFound("message"))?;
        self.write_through(Repair::Update(message.clone())).await;
        let chat_id = message.chat_id;
        let event = if pinned {
            Event::MessagePinned {
                chat_id,
                message: message.clone(),
                pts,
            }
        } else {
            Event::MessageUnpinned {
                chat_id,
                message: message.clone(),
                pts,
            }
        };
        self.events.publish(event).await;
        Ok(message)
    }

    /// An authoritative cache write after a change; kept for retry when it fails.
    async fn write_through(&self, write: Repair) {
        let result = match &write {
            Repair::Update(message) => self.cache.update_cached(message).await,
            Repair::Delete { chat, id, version } => {
                self.cache.delete_cached(*chat, *id, *version).await
            }
            Repair::Forget(chat) => self.cache.invalidate_chat(*chat).await,
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "message cache write failed: retrying later");
            self.repair.push(write);
        }
    }

    /// How many cache writes wait to be retried.
    pub fn cache_repairs_pending(&self) -> usize {
        self.repair.pending()
    }

    /// Relays "user is typing" to the chat (not stored). Membership is the caller's
    /// check: the gateway knows which chats a socket was admitted to.
    pub async fn typing(&self, user: UserId, chat: ChatId) {
        self.events
            .publish(Event::Typing {
                chat_id: chat,
                user_id: user,
            })
            .await;
    }

    /// The chat's pinned messages, newest pin first, cache-aside.
    pub async fn pinned(&self, user: UserId, chat: ChatId) -> AppResult<Vec<Message>> {
        self.chats.ensure_member(user, chat).await?;
        let cached = cache_soft("pinned", self.cache.pinned(chat).await);
        metrics::cache_read(CacheRead::Pinned, cached.is_some());
        if let Some(pinned) = cached {
            return Ok(pinned);
        }
        let as_of = self.as_of(chat).await;
        let pinned = self.messages.pinned(chat).await?;
        if let Some(as_of) = as_of {
            cache_write(
                "cache_pinned",
                self.cache.cache_pinned(chat, &pinned, as_of).await,
            );
        }
        Ok(pinned)
    }
}

/// The page the window can answer, if it covers it: a window shorter than
/// RECENT_WINDOW is the whole history, so anything it lacks does not exist.
fn page_from_window(
    window: &[Message],
    before_seq: Option<i64>,
    limit: usize,
) -> Option<Vec<Message>> {
    let page: Vec<Message> = window
        .iter()
        .filter(|m| before_seq.is_none_or(|b| m.seq < b))
        .take(limit)
        .cloned()
        .collect();
    (page.len() == limit || window.len() < RECENT_WINDOW).then_some(page)
}
