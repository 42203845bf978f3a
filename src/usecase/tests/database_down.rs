//! docs/protocol.md, "Degradation": with the database down, "cached reads still serve".

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use webchat_domain::{
    Chat, ChatHead, ChatId, Message, MessageContent, MessageId, NewMessage, UserId,
};
use webchat_ports::{
    AddMember, ChangePage, Changed, ChatRepository, InsertOutcome, Memberships, MessageRepository,
    PortError, PortResult,
};

use super::message::Room;
use super::Fixture;
use crate::usecase::AppError;

/// Repositories that answer from memory until the switch says the database is down.
struct Switchable {
    down: Arc<AtomicBool>,
    chats: Arc<dyn ChatRepository>,
    messages: Arc<dyn MessageRepository>,
}

impl Switchable {
    fn check(&self) -> PortResult<()> {
        if self.down.load(Ordering::SeqCst) {
            return Err(PortError::Unavailable("database down".into()));
        }
        Ok(())
    }
}

#[async_trait]
impl ChatRepository for Switchable {
    async fn create(&self, chat: &Chat, members: &[UserId]) -> PortResult<()> {
        self.check()?;
        self.chats.create(chat, members).await
    }
    async fn get(&self, id: ChatId) -> PortResult<Option<Chat>> {
        self.check()?;
        self.chats.get(id).await
    }
    async fn members(&self, chat: ChatId) -> PortResult<Vec<UserId>> {
        self.check()?;
        self.chats.members(chat).await
    }
    async fn is_member(&self, chat: ChatId, user: UserId) -> PortResult<bool> {
        self.check()?;
        self.chats.is_member(chat, user).await
    }
    async fn add_member(&self, chat: ChatId, user: UserId, cap: usize) -> PortResult<AddMember> {
        self.check()?;
        self.chats.add_member(chat, user, cap).await
    }
    async fn chats_page(
        &self,
        user: UserId,
        after: Option<ChatId>,
        limit: usize,
    ) -> PortResult<Vec<Chat>> {
        self.check()?;
        self.chats.chats_page(user, after, limit).await
    }
    async fn chats_for_user(&self, user: UserId) -> PortResult<Vec<Chat>> {
        self.check()?;
        self.chats.chats_for_user(user).await
    }
    async fn memberships_since(
        &self,
        users: &[UserId],
        since: DateTime<Utc>,
    ) -> PortResult<Memberships> {
        self.check()?;
        self.chats.memberships_since(users, since).await
    }
}

#[async_trait]
impl MessageRepository for Switchable {
    async fn insert(&self, message: NewMessage) -> PortResult<InsertOutcome> {
        self.check()?;
        self.messages.insert(message).await
    }
    async fn get(&self, id: MessageId) -> PortResult<Option<Message>> {
        self.check()?;
        self.messages.get(id).await
    }
    async fn page(
        &self,
        chat: ChatId,
        before: Option<i64>,
        limit: usize,
    ) -> PortResult<Vec<Message>> {
        self.check()?;
        self.messages.page(chat, before, limit).await
    }
    async fn since_seq(&self, chat: ChatId, after: i64, limit: usize) -> PortResult<Vec<Message>> {
        self.check()?;
        self.messages.since_seq(chat, after, limit).await
    }
    async fn update_content(
        &self,
        id: MessageId,
        content: &MessageContent,
        at: DateTime<Utc>,
    ) -> PortResult<Option<Changed>> {
        self.check()?;
        self.messages.update_content(id, content, at).await
    }
    async fn delete(&self, id: MessageId) -> PortResult<Option<Changed>> {
        self.check()?;
        self.messages.delete(id).await
    }
    async fn set_pinned(
        &self,
        id: MessageId,
        at: Option<DateTime<Utc>>,
    ) -> PortResult<Option<Changed>> {
        self.check()?;
        self.messages.set_pinned(id, at).await
    }
    async fn pinned(&self, chat: ChatId) -> PortResult<Vec<Message>> {
        self.check()?;
        self.messages.pinned(chat).await
    }
    async fn changes_since(
        &self,
        chat: ChatId,
        after: i64,
        limit: usize,
    ) -> PortResult<ChangePage> {
        self.check()?;
        self.messages.changes_since(chat, after, limit).await
    }
    async fn heads(&self, chats: &[ChatId]) -> PortResult<Vec<ChatHead>> {
        self.check()?;
        self.messages.heads(chats).await
    }
}

#[tokio::test]
async fn with_the_database_down_cached_reads_still_serve_members_seen_before() {
    let down = Arc::new(AtomicBool::new(false));
    let flag = down.clone();
    let room = Room::over(Fixture::with_ports(move |mut p| {
        let db = Arc::new(Switchable {
            down: flag,
            chats: p.chats.clone(),
            messages: p.messages.clone(),
        });
        p.chats = db.clone();
        p.messages = db;
        p
    }))
    .await;
    let sent = room.send_many(3).await;
    let app = &room.fx.app;
    let before = app
        .messages
        .history(room.alice, room.chat, None, None)
        .await
        .unwrap();
    app.messages.get(room.alice, sent[0].id).await.unwrap();

    down.store(true, Ordering::SeqCst);
    let during = app
        .messages
        .history(room.alice, room.chat, None, None)
        .await
        .unwrap();
    assert_eq!(during, before, "history from the recent window");
    let one = app.messages.get(room.alice, sent[0].id).await.unwrap();
    assert_eq!(one.id, sent[0].id, "a cached message");
    // Nobody is let in on a guess: eve was never verified and is refused, as is a
    // write, which needs the database.
    let eve = app.messages.history(room.eve, room.chat, None, None).await;
    assert!(matches!(eve, Err(AppError::Unavailable(_))), "{eve:?}");
    let write = app.messages.send(room.alice, room.chat, "x", None).await;
    assert!(matches!(write, Err(AppError::Unavailable(_))), "{write:?}");
}
