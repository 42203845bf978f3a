use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use webchat_domain::{ChatId, ClientMsgId, Message, MessageContent, MessageId, NewMessage, UserId};
use webchat_ports::{InsertOutcome, MessageRepository, PortResult};

use crate::lock;

/// Messages in memory, with per-chat seqs assigned under one lock (hence gapless).
#[derive(Debug, Default)]
pub struct MemoryMessageRepository {
    state: Mutex<Messages>,
}

#[derive(Debug, Default)]
struct Messages {
    by_id: HashMap<MessageId, Message>,
    chats: HashMap<ChatId, ChatLog>,
    /// Idempotency keys of stored messages.
    sent: HashMap<SendKey, MessageId>,
}

#[derive(Debug, Default)]
struct ChatLog {
    /// The last seq handed out; deleted messages keep theirs used.
    last_seq: i64,
    by_seq: BTreeMap<i64, MessageId>,
}

type SendKey = (ChatId, UserId, ClientMsgId);

impl MemoryMessageRepository {
    pub fn new() -> Self {
        Self::default()
    }
}

impl Messages {
    fn chat_messages<'a>(&'a self, ids: impl Iterator<Item = &'a MessageId>) -> Vec<Message> {
        ids.filter_map(|id| self.by_id.get(id)).cloned().collect()
    }

    fn change(&mut self, id: MessageId, edit: impl FnOnce(&mut Message)) -> Option<Message> {
        let message = self.by_id.get_mut(&id)?;
        edit(message);
        Some(message.clone())
    }
}

fn send_key(chat: ChatId, sender: UserId, key: &Option<ClientMsgId>) -> Option<SendKey> {
    key.as_ref().map(|k| (chat, sender, k.clone()))
}

#[async_trait]
impl MessageRepository for MemoryMessageRepository {
    #[tracing::instrument(skip(self, message), fields(chat_id = %message.chat_id, message_id = %message.id))]
    async fn insert(&self, message: NewMessage) -> PortResult<InsertOutcome> {
        let mut state = lock(&self.state);
        let key = send_key(message.chat_id, message.sender_id, &message.client_msg_id);
        if let Some(existing) = key.as_ref().and_then(|k| state.sent.get(k)) {
            if let Some(existing) = state.by_id.get(existing) {
                return Ok(InsertOutcome {
                    message: existing.clone(),
                    created: false,
                });
            }
        }
        let log = state.chats.entry(message.chat_id).or_default();
        log.last_seq += 1;
        let seq = log.last_seq;
        log.by_seq.insert(seq, message.id);
        let stored = message.into_message(seq);
        if let Some(key) = key {
            state.sent.insert(key, stored.id);
        }
        state.by_id.insert(stored.id, stored.clone());
        Ok(InsertOutcome {
            message: stored,
            created: true,
        })
    }

    async fn get(&self, id: MessageId) -> PortResult<Option<Message>> {
        Ok(lock(&self.state).by_id.get(&id).cloned())
    }

    async fn page(
        &self,
        chat: ChatId,
        before_seq: Option<i64>,
        limit: usize,
    ) -> PortResult<Vec<Message>> {
        let state = lock(&self.state);
        let Some(log) = state.chats.get(&chat) else {
            return Ok(Vec::new());
        };
        let ids = log
            .by_seq
            .range(..before_seq.unwrap_or(i64::MAX))
            .rev()
            .take(limit)
            .map(|(_, id)| id);
        Ok(state.chat_messages(ids))
    }

    async fn since_seq(
        &self,
        chat: ChatId,
        after_seq: i64,
        limit: usize,
    ) -> PortResult<Vec<Message>> {
        let state = lock(&self.state);
        let Some(log) = state.chats.get(&chat) else {
            return Ok(Vec::new());
        };
        let ids = log
            .by_seq
            .range(after_seq.saturating_add(1)..)
            .take(limit)
            .map(|(_, id)| id);
        Ok(state.chat_messages(ids))
    }

    #[tracing::instrument(skip(self, content))]
    async fn update_content(
        &self,
        id: MessageId,
        content: &MessageContent,
        edited_at: DateTime<Utc>,
    ) -> PortResult<Option<Message>> {
        Ok(lock(&self.state).change(id, |m| {
            m.content = content.as_str().to_owned();
            m.edited_at = Some(edited_at);
        }))
    }

    #[tracing::instrument(skip(self))]
    async fn delete(&self, id: MessageId) -> PortResult<Option<Message>> {
        let mut state = lock(&self.state);
        let Some(message) = state.by_id.remove(&id) else {
            return Ok(None);
        };
        if let Some(log) = state.chats.get_mut(&message.chat_id) {
            log.by_seq.remove(&message.seq);
        }
        if let Some(key) = send_key(message.chat_id, message.sender_id, &message.client_msg_id) {
            state.sent.remove(&key);
        }
        Ok(Some(message))
    }

    #[tracing::instrument(skip(self))]
    async fn set_pinned(
        &self,
        id: MessageId,
        pinned_at: Option<DateTime<Utc>>,
    ) -> PortResult<Option<Message>> {
        Ok(lock(&self.state).change(id, |m| m.pinned_at = pinned_at))
    }

    async fn pinned(&self, chat: ChatId) -> PortResult<Vec<Message>> {
        let state = lock(&self.state);
        let Some(log) = state.chats.get(&chat) else {
            return Ok(Vec::new());
        };
        let mut pinned: Vec<Message> = state
            .chat_messages(log.by_seq.values())
            .into_iter()
            .filter(|m| m.pinned_at.is_some())
            .collect();
        pinned.sort_by_key(|m| std::cmp::Reverse((m.pinned_at, m.seq)));
        Ok(pinned)
    }
}
