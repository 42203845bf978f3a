//! Live events for this instance's sockets, and what the socket registry needs to
//! keep every chat's delivery gapless: the chats' heads, pages of their change
//! logs as events, and memberships it may not have been told of.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use webchat_domain::{ChatHead, ChatId, Event, Topic, UserId};
use webchat_ports::{ChatRepository, EventBus, EventStream, Memberships, MessageRepository};

use super::chat::ChatView;
use super::{AppError, AppResult};

/// Changes one fill reads from a chat's log at most.
pub const FILL_PAGE: usize = 500;

/// A page of a chat's change log, as the events a socket would have received.
#[derive(Debug, Clone)]
pub struct Fill {
    /// Oldest first, each with its message as it is now; changes to messages deleted
    /// since are left out (their deletion is in the page or a later one).
    pub events: Vec<Arc<Event>>,
    /// The last pts the page accounts for.
    pub covered: i64,
    /// The chat's head, when the page reached it (nothing after `covered`).
    pub head: Option<ChatHead>,
}

pub struct Feed {
    bus: Arc<dyn EventBus>,
    messages: Arc<dyn MessageRepository>,
    chats: Arc<dyn ChatRepository>,
}

impl Feed {
    pub fn new(
        bus: Arc<dyn EventBus>,
        messages: Arc<dyn MessageRepository>,
        chats: Arc<dyn ChatRepository>,
    ) -> Self {
        Self {
            bus,
            messages,
            chats,
        }
    }

    /// The events of `topic` published from now on, by any instance.
    pub async fn subscribe(&self, topic: &Topic) -> AppResult<EventStream> {
        Ok(self.bus.subscribe(topic).await?)
    }

    /// A notice each time the bus may have lost events (see `EventBus::reconnects`).
    pub fn reconnects(&self) -> BoxStream<'static, ()> {
        self.bus.reconnects()
    }

    /// Where each chat stands, in the order given.
    pub async fn heads(&self, chats: &[ChatId]) -> AppResult<Vec<ChatHead>> {
        Ok(self.messages.heads(chats).await?)
    }

    /// The chat's changes after `after_pts` (up to [`FILL_PAGE`]), as events.
    pub async fn fill(&self, chat: ChatId, after_pts: i64) -> AppResult<Fill> {
        let page = self
            .messages
            .changes_since(chat, after_pts, FILL_PAGE)
            .await?;
        let complete = page.changes.len() < FILL_PAGE;
        let last = page.changes.last().map_or(after_pts, |c| c.pts);
        let events = page
            .changes
            .iter()
            .filter_map(Event::from_change)
            .map(Arc::new)
            .collect();
        Ok(Fill {
            events,
            covered: if complete {
                last.max(page.head.pts)
            } else {
                last
            },
            head: complete.then_some(page.head),
        })
    }

    /// Memberships of `users` that began at or after `since`.
    pub async fn memberships_since(
        &self,
        users: &[UserId],
        since: DateTime<Utc>,
    ) -> AppResult<Memberships> {
        Ok(self.chats.memberships_since(users, since).await?)
    }

    /// A chat with its members, as `chat.joined` shows it.
    pub async fn chat_view(&self, chat: ChatId) -> AppResult<ChatView> {
        let found = self.chats.get(chat).await?;
        let chat = found.ok_or(AppError::NotFound("chat"))?;
        let member_ids = self.chats.members(chat.id).await?;
        Ok(ChatView { chat, member_ids })
    }
}
