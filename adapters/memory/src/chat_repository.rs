use std::collections::{BTreeSet, HashMap, HashSet};
use std::ops::Bound;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use webchat_domain::{Chat, ChatId, UserId};
use webchat_ports::{AddMember, ChatRepository, Memberships, PortError, PortResult};

use crate::lock;

/// Chats and their membership in memory.
#[derive(Debug, Default)]
pub struct MemoryChatRepository {
    state: Mutex<Chats>,
}

#[derive(Debug, Default)]
struct Chats {
    by_id: HashMap<ChatId, StoredChat>,
    /// Every user's chats, by id (the order pages walk).
    by_member: HashMap<UserId, BTreeSet<ChatId>>,
    /// Every membership with the time it began, oldest first.
    joined: Vec<(DateTime<Utc>, UserId, ChatId)>,
    /// Counts creations, so chats created in the same instant keep insertion order.
    created: u64,
}

#[derive(Debug)]
struct StoredChat {
    chat: Chat,
    order: u64,
    /// In join order.
    members: Vec<UserId>,
}

impl MemoryChatRepository {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether `user` is a member of `chat` (for the message repository's inserts).
    pub(crate) fn has_member(&self, chat: ChatId, user: UserId) -> bool {
        lock(&self.state)
            .by_id
            .get(&chat)
            .is_some_and(|s| s.members.contains(&user))
    }
}

impl Chats {
    fn join(&mut self, chat: ChatId, user: UserId) -> PortResult<bool> {
        let stored = self.by_id.get_mut(&chat).ok_or(PortError::NotFound)?;
        if stored.members.contains(&user) {
            return Ok(false);
        }
        stored.members.push(user);
        self.by_member.entry(user).or_default().insert(chat);
        self.joined.push((Utc::now(), user, chat));
        Ok(true)
    }
}

#[async_trait]
impl ChatRepository for MemoryChatRepository {
    #[tracing::instrument(skip(self, chat, members), fields(chat_id = %chat.id))]
    async fn create(&self, chat: &Chat, members: &[UserId]) -> PortResult<()> {
        let mut chats = lock(&self.state);
        if chats.by_id.contains_key(&chat.id) {
            return Err(PortError::Conflict(format!("chat {} exists", chat.id)));
        }
        chats.created += 1;
        let order = chats.created;
        chats.by_id.insert(
            chat.id,
            StoredChat {
                chat: chat.clone(),
                order,
                members: Vec::with_capacity(members.len()),
            },
        );
        for member in members {
            chats.join(chat.id, *member)?;
        }
        Ok(())
    }

    async fn get(&self, id: ChatId) -> PortResult<Option<Chat>> {
        Ok(lock(&self.state).by_id.get(&id).map(|s| s.chat.clone()))
    }

    async fn members(&self, chat: ChatId) -> PortResult<Vec<UserId>> {
        let chats = lock(&self.state);
        Ok(chats
            .by_id
            .get(&chat)
            .map(|s| s.members.clone())
            .unwrap_or_default())
    }

    async fn is_member(&self, chat: ChatId, user: UserId) -> PortResult<bool> {
        let chats = lock(&self.state);
        Ok(chats
            .by_id
            .get(&chat)
            .is_some_and(|s| s.members.contains(&user)))
    }

    #[tracing::instrument(skip(self))]
    async fn add_member(
        &self,
        chat: ChatId,
        user: UserId,
        max_members: usize,
    ) -> PortResult<AddMember> {
        // Count and insert under one lock: concurrent adds cannot pass the cap.
        let mut chats = lock(&self.state);
        let stored = chats.by_id.get(&chat).ok_or(PortError::NotFound)?;
        if stored.members.contains(&user) {
            return Ok(AddMember::AlreadyMember);
        }
        if stored.members.len() >= max_members {
            return Ok(AddMember::Full);
        }
        chats.join(chat, user)?;
        Ok(AddMember::Added)
    }

    async fn chats_page(
        &self,
        user: UserId,
        after: Option<ChatId>,
        limit: usize,
    ) -> PortResult<Vec<Chat>> {
        let chats = lock(&self.state);
        let Some(mine) = chats.by_member.get(&user) else {
            return Ok(Vec::new());
        };
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        Ok(mine
            .range((from, Bound::Unbounded))
            .filter_map(|id| chats.by_id.get(id))
            .take(limit)
            .map(|s| s.chat.clone())
            .collect())
    }

    async fn chats_for_user(&self, user: UserId) -> PortResult<Vec<Chat>> {
        let chats = lock(&self.state);
        let mut mine: Vec<&StoredChat> = chats
            .by_member
            .get(&user)
            .into_iter()
            .flatten()
            .filter_map(|id| chats.by_id.get(id))
            .collect();
        mine.sort_by_key(|s| (s.chat.created_at, s.order));
        Ok(mine.into_iter().map(|s| s.chat.clone()).collect())
    }

    async fn memberships_since(
        &self,
        users: &[UserId],
        since: DateTime<Utc>,
    ) -> PortResult<Memberships> {
        let chats = lock(&self.state);
        let users: HashSet<UserId> = users.iter().copied().collect();
        let start = chats.joined.partition_point(|(at, _, _)| *at < since);
        Ok(Memberships {
            added: chats.joined[start..]
                .iter()
                .filter(|(_, user, _)| users.contains(user))
                .map(|(_, user, chat)| (*user, *chat))
                .collect(),
            as_of: Utc::now(),
        })
    }
}
