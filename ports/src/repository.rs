use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use webchat_domain::{
    Chat, ChatChange, ChatHead, ChatId, Message, MessageContent, MessageId, NewMessage, User,
    UserId, Username,
};

use crate::PortResult;

/// Durable users.
///
/// # Errors
/// `PortError::Unavailable` when the database cannot answer (the front door answers
/// 503); `PortError::Conflict` as documented per method.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// Stores a new user. `PortError::Conflict` when the username is taken, compared
    /// without regard to ASCII case ("Alice" and "alice" are one name).
    async fn create(&self, user: &User) -> PortResult<()>;

    async fn get(&self, id: UserId) -> PortResult<Option<User>>;

    /// Looks a user up by name, without regard to ASCII case.
    async fn find_by_username(&self, username: &Username) -> PortResult<Option<User>>;

    /// Replaces the user's stored password hash. `PortError::NotFound` when no user
    /// has that id.
    async fn set_password_hash(&self, id: UserId, password_hash: &str) -> PortResult<()>;

    /// Users whose name starts with `prefix` (compared without regard to ASCII case;
    /// `%`, `_` and `\\` are plain characters), ordered by lowercased name, at most
    /// `limit`.
    async fn search(&self, prefix: &str, limit: usize) -> PortResult<Vec<User>>;
}

/// Durable chats and their membership.
///
/// # Errors
/// `PortError::Unavailable` when the database cannot answer; `PortError::NotFound`
/// and `Conflict` as documented per method.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait ChatRepository: Send + Sync {
    /// Stores a chat with its initial members (duplicates ignored).
    /// `PortError::Conflict` when the id exists.
    async fn create(&self, chat: &Chat, members: &[UserId]) -> PortResult<()>;

    async fn get(&self, id: ChatId) -> PortResult<Option<Chat>>;

    /// The chat's members in the order they joined.
    async fn members(&self, chat: ChatId) -> PortResult<Vec<UserId>>;

    async fn is_member(&self, chat: ChatId, user: UserId) -> PortResult<bool>;

    /// Adds a member unless the chat already has `max_members` members (or more:
    /// the cap may have been lowered since). The count is checked atomically with
    /// the insert, so concurrent adds, also from several processes, never take a
    /// chat past the cap. An existing member is `AlreadyMember` whatever the count.
    /// `PortError::NotFound` when the chat does not exist.
    async fn add_member(
        &self,
        chat: ChatId,
        user: UserId,
        max_members: usize,
    ) -> PortResult<AddMember>;

    /// The chats the user belongs to, oldest first.
    async fn chats_for_user(&self, user: UserId) -> PortResult<Vec<Chat>>;

    /// The ids of [`chats_for_user`](Self::chats_for_user), in its order: what a
    /// connecting socket needs, without reading the chats themselves.
    async fn chat_ids_for_user(&self, user: UserId) -> PortResult<Vec<ChatId>> {
        Ok(self
            .chats_for_user(user)
            .await?
            .into_iter()
            .map(|c| c.id)
            .collect())
    }

    /// One page of the user's chats, ordered by id: at most `limit` of them with
    /// an id greater than `after` (from the first when `None`). Walking the pages
    /// with `after` = the last id of the previous page visits each chat once.
    async fn chats_page(
        &self,
        user: UserId,
        after: Option<ChatId>,
        limit: usize,
    ) -> PortResult<Vec<Chat>>;

    /// The memberships of `users` that began at or after `since` (by the
    /// repository's clock), so a process can find the chats a user joined while it
    /// was not told; `as_of` is the repository's time of the answer.
    async fn memberships_since(
        &self,
        users: &[UserId],
        since: DateTime<Utc>,
    ) -> PortResult<Memberships>;
}

/// What [`ChatRepository::add_member`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddMember {
    Added,
    /// The user was a member already: nothing changed.
    AlreadyMember,
    /// The chat has `max_members` members: nobody was added.
    Full,
}

/// New memberships, as [`ChatRepository::memberships_since`] finds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Memberships {
    pub added: Vec<(UserId, ChatId)>,
    pub as_of: DateTime<Utc>,
}

/// What an insert did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsertOutcome {
    pub message: Message,
    /// False when the sender had already sent this `client_msg_id` to this chat: the
    /// existing message is returned and nothing new is stored.
    pub created: bool,
    /// The pts the creation took in the chat's change sequence; 0 when nothing was
    /// created.
    pub pts: i64,
}

/// A message after a change, and the pts the change took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed {
    pub message: Message,
    pub pts: i64,
}

/// A stretch of a chat's change log, oldest first, and where the chat stood when it
/// was read (one consistent snapshot).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChangePage {
    pub changes: Vec<ChatChange>,
    pub head: ChatHead,
}

/// Durable messages: the source of truth the cache sits in front of.
///
/// Every change to a chat's messages (create, edit, delete, pin, unpin) takes the
/// chat's next `pts` atomically with the change: per chat, pts start at 1 and are
/// gapless and strictly increasing in commit order, also across processes, and
/// each is recorded in the chat's change log. A creation takes the next `seq` and
/// the next `pts` together, so creations ordered by pts are ordered by seq. A
/// deleted message stays as a tombstone (empty content) that only the change log
/// shows: every other read treats it as gone.
///
/// # Errors
/// `PortError::Unavailable` when the database cannot answer.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait MessageRepository: Send + Sync {
    /// Stores a message, assigning the chat's next `seq` atomically with the insert:
    /// per chat, seqs start at 1 and are gapless and strictly increasing even under
    /// concurrent inserts from several processes. Idempotent per
    /// `(chat, sender, client_msg_id)`. Checks membership in the same step:
    /// `PortError::NotFound` when the chat does not exist or the sender is not one
    /// of its members (nothing is stored, no seq or pts is taken).
    async fn insert(&self, message: NewMessage) -> PortResult<InsertOutcome>;

    async fn get(&self, id: MessageId) -> PortResult<Option<Message>>;

    /// One history page, newest first: up to `limit` messages with
    /// `seq < before_seq` (all when `None`).
    async fn page(
        &self,
        chat: ChatId,
        before_seq: Option<i64>,
        limit: usize,
    ) -> PortResult<Vec<Message>>;

    /// Recovery after a reconnect, oldest first: up to `limit` messages with
    /// `seq > after_seq`.
    async fn since_seq(
        &self,
        chat: ChatId,
        after_seq: i64,
        limit: usize,
    ) -> PortResult<Vec<Message>>;

    /// Replaces the content and sets `edited_at`; `None` when the message is gone.
    async fn update_content(
        &self,
        id: MessageId,
        content: &MessageContent,
        edited_at: DateTime<Utc>,
    ) -> PortResult<Option<Changed>>;

    /// Deletes the message (it becomes a tombstone, unpinned); returns it as it was
    /// before, or `None` when it was already gone. Its `seq` is never reused.
    async fn delete(&self, id: MessageId) -> PortResult<Option<Changed>>;

    /// Pins (`Some(time)`) or unpins (`None`); `None` when the message is gone.
    async fn set_pinned(
        &self,
        id: MessageId,
        pinned_at: Option<DateTime<Utc>>,
    ) -> PortResult<Option<Changed>>;

    /// The chat's pinned messages, newest pin first.
    async fn pinned(&self, chat: ChatId) -> PortResult<Vec<Message>>;

    /// Up to `limit` changes of the chat with `pts > after_pts`, oldest first, each
    /// with its message as it is now, and the chat's head read in the same snapshot.
    async fn changes_since(
        &self,
        chat: ChatId,
        after_pts: i64,
        limit: usize,
    ) -> PortResult<ChangePage>;

    /// Where each of `chats` stands (a chat without messages, or unknown: seq and
    /// pts 0), in the order given.
    async fn heads(&self, chats: &[ChatId]) -> PortResult<Vec<ChatHead>>;
}

/// The three durable stores over one database: what the composition root wires, what
/// instances in one process share to stand in for one database, and what the
/// repository suites take.
#[derive(Clone)]
pub struct Repositories {
    pub users: Arc<dyn UserRepository>,
    pub chats: Arc<dyn ChatRepository>,
    pub messages: Arc<dyn MessageRepository>,
}
