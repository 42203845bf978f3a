//! Chats and membership.

use std::sync::Arc;

use futures::future::join_all;

use webchat_domain::{Chat, ChatHead, ChatId, ChatName, Event, UserId};
use webchat_ports::{AddMember, ChatRepository, Clock, MessageRepository, UserRepository};

use super::events::Publisher;
use super::membership::MembershipMemo;
use super::{list_limit, AppError, AppResult};

/// A chat with its members, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatView {
    pub chat: Chat,
    pub member_ids: Vec<UserId>,
}

/// Most members a chat may be created with in one request.
pub const MAX_INITIAL_MEMBERS: usize = 500;

/// A chat in a user's list, with where its sequences stand (for unread counts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatEntry {
    pub chat: Chat,
    pub head: ChatHead,
}

pub struct ChatService {
    chats: Arc<dyn ChatRepository>,
    users: Arc<dyn UserRepository>,
    messages: Arc<dyn MessageRepository>,
    clock: Arc<dyn Clock>,
    events: Publisher,
    memo: MembershipMemo,
    /// Most members a chat may have.
    max_members: usize,
}

impl ChatService {
    pub fn new(
        chats: Arc<dyn ChatRepository>,
        users: Arc<dyn UserRepository>,
        messages: Arc<dyn MessageRepository>,
        clock: Arc<dyn Clock>,
        events: Publisher,
        max_members: usize,
    ) -> Self {
        Self {
            chats,
            users,
            messages,
            clock,
            events,
            memo: MembershipMemo::default(),
            max_members,
        }
    }

    /// Creates a chat; the creator is a member. Every member's open sockets, on any
    /// instance, are subscribed through `chat.joined`.
    #[tracing::instrument(skip(self, member_ids))]
    pub async fn create(
        &self,
        creator: UserId,
        name: &str,
        member_ids: &[UserId],
    ) -> AppResult<ChatView> {
        let name = ChatName::parse(name)?;
        if member_ids.len() > MAX_INITIAL_MEMBERS {
            return Err(AppError::Validation {
                field: "member_ids",
                reason: format!("at most {MAX_INITIAL_MEMBERS} members"),
            });
        }
        let mut members = vec![creator];
        let mut seen: std::collections::HashSet<UserId> = members.iter().copied().collect();
        for id in member_ids {
            if seen.insert(*id) {
                members.push(*id);
            }
        }
        if members.len() > self.max_members {
            return Err(AppError::ChatFull(self.max_members));
        }
        let lookups = join_all(members[1..].iter().map(|id| self.users.get(*id))).await;
        for (id, found) in members[1..].iter().zip(lookups) {
            if found?.is_none() {
                return Err(AppError::Validation {
                    field: "member_ids",
                    reason: format!("unknown user {id}"),
                });
            }
        }
        let chat = Chat {
            id: ChatId::new(),
            name,
            created_by: creator,
            created_at: self.clock.now(),
        };
        self.chats.create(&chat, &members).await?;
        join_all(members.iter().map(|member| {
            self.events.publish(Event::ChatJoined {
                user_id: *member,
                chat: chat.clone(),
                member_ids: members.clone(),
            })
        }))
        .await;
        Ok(ChatView {
            chat,
            member_ids: members,
        })
    }

    /// One page of the user's chats, by id (`limit` 1..=200, default 100, after
    /// the chat `after`), each with its head.
    pub async fn list(
        &self,
        user: UserId,
        after: Option<ChatId>,
        limit: Option<usize>,
    ) -> AppResult<Vec<ChatEntry>> {
        let limit = list_limit(limit)?;
        let chats = self.chats.chats_page(user, after, limit).await?;
        let ids: Vec<ChatId> = chats.iter().map(|c| c.id).collect();
        let heads = self.messages.heads(&ids).await?;
        Ok(chats
            .into_iter()
            .zip(heads)
            .map(|(chat, head)| ChatEntry { chat, head })
            .collect())
    }

    /// The chat if `user` is a member: 404 when it does not exist, 403 otherwise.
    pub async fn get(&self, user: UserId, id: ChatId) -> AppResult<ChatView> {
        let chat = self
            .chats
            .get(id)
            .await?
            .ok_or(AppError::NotFound("chat"))?;
        let member_ids = self.chats.members(id).await?;
        if !member_ids.contains(&user) {
            return Err(AppError::Forbidden);
        }
        Ok(ChatView { chat, member_ids })
    }

    /// Fails with 403/404 unless `user` is a member of `chat`.
    /// While the repository is down, a membership verified recently still counts,
    /// so what the cache can answer is still answered.
    pub async fn ensure_member(&self, user: UserId, chat: ChatId) -> AppResult<()> {
        match self.chats.is_member(chat, user).await {
            Ok(true) => {
                self.memo.remember(chat, user);
                return Ok(());
            }
            Ok(false) => {}
            Err(e) if e.is_unavailable() && self.memo.vouches(chat, user) => {
                tracing::warn!(error = %e, "chat repository unavailable: membership from memory");
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        }
        match self.chats.get(chat).await? {
            Some(_) => Err(AppError::Forbidden),
            None => Err(AppError::NotFound("chat")),
        }
    }

    /// Why a user may not act in `chat` (after a write refused them): 404 when the
    /// chat does not exist, 403 otherwise.
    pub async fn refusal(&self, chat: ChatId) -> AppError {
        match self.chats.get(chat).await {
            Ok(Some(_)) => AppError::Forbidden,
            Ok(None) => AppError::NotFound("chat"),
            Err(e) => e.into(),
        }
    }

    /// Notes a membership a write just proved (the outage fallback of reads).
    pub fn remember_member(&self, user: UserId, chat: ChatId) {
        self.memo.remember(chat, user);
    }

    /// Adds `new_member` (members only). Adding an existing member changes nothing;
    /// adding one to a chat at its member cap is refused (409 `chat_full`).
    #[tracing::instrument(skip(self))]
    pub async fn add_member(
        &self,
        actor: UserId,
        id: ChatId,
        new_member: UserId,
    ) -> AppResult<ChatView> {
        let view = self.get(actor, id).await?;
        if self.users.get(new_member).await?.is_none() {
            return Err(AppError::NotFound("user"));
        }
        match self
            .chats
            .add_member(id, new_member, self.max_members)
            .await?
        {
            AddMember::Added => {}
            AddMember::AlreadyMember => return Ok(view),
            AddMember::Full => return Err(AppError::ChatFull(self.max_members)),
        }
        let mut member_ids = view.member_ids;
        member_ids.push(new_member);
        self.events
            .publish(Event::ChatJoined {
                user_id: new_member,
                chat: view.chat.clone(),
                member_ids: member_ids.clone(),
            })
            .await;
        Ok(ChatView {
            chat: view.chat,
            member_ids,
        })
    }

    /// The ids of the chats `user` belongs to (socket subscriptions, presence audience).
    pub async fn chat_ids(&self, user: UserId) -> AppResult<Vec<ChatId>> {
        Ok(self.chats.chat_ids_for_user(user).await?)
    }
}
