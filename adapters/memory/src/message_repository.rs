use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use webchat_domain::{
    ChangeKind, ChatChange, ChatHead, ChatId, ClientMsgId, Message, MessageContent, MessageId,
    NewMessage, UserId,
};
use webchat_ports::{ChangePage, Changed, InsertOutcome, MessageRepository, PortError, PortResult};

use crate::{lock, MemoryChatRepository};

/// Messages in memory, with per-chat seqs and pts assigned under one lock (hence
/// gapless and in commit order). Inserts check membership in the chats it is given,
/// as the database's insert does.
#[derive(Debug)]
pub struct MemoryMessageRepository {
    state: Mutex<Messages>,
    chats: Arc<MemoryChatRepository>,
}

#[derive(Debug, Default)]
struct Messages {
    by_id: HashMap<MessageId, Stored>,
    chats: HashMap<ChatId, ChatLog>,
    /// Idempotency keys of live messages.
    sent: HashMap<SendKey, MessageId>,
}

#[derive(Debug, Clone)]
struct Stored {
    message: Message,
    deleted: bool,
}

#[derive(Debug, Default)]
struct ChatLog {
    /// The last seq and pts handed out; deleted messages keep theirs used.
    head: ChatHead,
    /// Live messages by seq.
    by_seq: BTreeMap<i64, MessageId>,
    /// The change log: pts -> (kind, message).
    changes: BTreeMap<i64, (ChangeKind, MessageId)>,
}

type SendKey = (ChatId, UserId, ClientMsgId);

impl MemoryMessageRepository {
    pub fn new(chats: Arc<MemoryChatRepository>) -> Self {
        Self {
            state: Mutex::default(),
            chats,
        }
    }
}

impl Messages {
    fn live<'a>(&'a self, ids: impl Iterator<Item = &'a MessageId>) -> Vec<Message> {
        ids.filter_map(|id| self.by_id.get(id))
            .filter(|s| !s.deleted)
            .map(|s| s.message.clone())
            .collect()
    }

    /// Applies `edit` to a live message and records the change under the chat's
    /// next pts.
    fn change(
        &mut self,
        id: MessageId,
        kind: ChangeKind,
        edit: impl FnOnce(&mut Message),
    ) -> Option<Changed> {
        let chat = self.by_id.get(&id).filter(|s| !s.deleted)?.message.chat_id;
        let log = self.chats.entry(chat).or_default();
        log.head.pts += 1;
        let pts = log.head.pts;
        log.changes.insert(pts, (kind, id));
        let stored = self.by_id.get_mut(&id)?;
        let before = stored.message.clone();
        edit(&mut stored.message);
        stored.message.version = pts;
        let after = stored.message.clone();
        if kind == ChangeKind::Deleted {
            stored.deleted = true;
        }
        let log = self.chats.entry(chat).or_default();
        if kind == ChangeKind::Deleted {
            log.by_seq.remove(&after.seq);
            if let Some(key) = send_key(after.chat_id, after.sender_id, &after.client_msg_id) {
                self.sent.remove(&key);
            }
            return Some(Changed {
                message: before,
                pts,
            });
        }
        Some(Changed {
            message: after,
            pts,
        })
    }
}

fn send_key(chat: ChatId, sender: UserId, key: &Option<ClientMsgId>) -> Option<SendKey> {
    key.as_ref().map(|k| (chat, sender, k.clone()))
}

#[async_trait]
impl MessageRepository for MemoryMessageRepository {
    #[tracing::instrument(skip(self, message), fields(chat_id = %message.chat_id, message_id = %message.id))]
    async fn insert(&self, message: NewMessage) -> PortResult<InsertOutcome> {
        if !self.chats.has_member(message.chat_id, message.sender_id) {
            return Err(PortError::NotFound);
        }
        let mut state = lock(&self.state);
        let key = send_key(message.chat_id, message.sender_id, &message.client_msg_id);
        if let Some(existing) = key.as_ref().and_then(|k| state.sent.get(k)) {
            if let Some(existing) = state.by_id.get(existing) {
                return Ok(InsertOutcome {
                    message: existing.message.clone(),
                    created: false,
                    pts: 0,
                });
            }
        }
        let log = state.chats.entry(message.chat_id).or_default();
        log.head.seq += 1;
        log.head.pts += 1;
        let (seq, pts) = (log.head.seq, log.head.pts);
        log.by_seq.insert(seq, message.id);
        log.changes.insert(pts, (ChangeKind::Created, message.id));
        let stored = message.into_message(seq, pts);
        if let Some(key) = key {
            state.sent.insert(key, stored.id);
        }
        state.by_id.insert(
            stored.id,
            Stored {
                message: stored.clone(),
                deleted: false,
            },
        );
        Ok(InsertOutcome {
            message: stored,
            created: true,
            pts,
        })
    }

    async fn get(&self, id: MessageId) -> PortResult<Option<Message>> {
        Ok(lock(&self.state)
            .by_id
            .get(&id)
            .filter(|s| !s.deleted)
            .map(|s| s.message.clone()))
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
        Ok(state.live(ids))
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
        Ok(state.live(ids))
    }

    #[tracing::instrument(skip(self, content))]
    async fn update_content(
        &self,
        id: MessageId,
        content: &MessageContent,
        edited_at: DateTime<Utc>,
    ) -> PortResult<Option<Changed>> {
        Ok(lock(&self.state).change(id, ChangeKind::Edited, |m| {
            m.content = content.as_str().to_owned();
            m.edited_at = Some(edited_at);
        }))
    }

    #[tracing::instrument(skip(self))]
    async fn delete(&self, id: MessageId) -> PortResult<Option<Changed>> {
        Ok(lock(&self.state).change(id, ChangeKind::Deleted, |m| {
            m.content.clear();
            m.pinned_at = None;
        }))
    }

    #[tracing::instrument(skip(self))]
    async fn set_pinned(
        &self,
        id: MessageId,
        pinned_at: Option<DateTime<Utc>>,
    ) -> PortResult<Option<Changed>> {
        let kind = match pinned_at {
            Some(_) => ChangeKind::Pinned,
            None => ChangeKind::Unpinned,
        };
        Ok(lock(&self.state).change(id, kind, |m| m.pinned_at = pinned_at))
    }

    async fn pinned(&self, chat: ChatId) -> PortResult<Vec<Message>> {
        let state = lock(&self.state);
        let Some(log) = state.chats.get(&chat) else {
            return Ok(Vec::new());
        };
        let mut pinned: Vec<Message> = state
            .live(log.by_seq.values())
            .into_iter()
            .filter(|m| m.pinned_at.is_some())
            .collect();
        pinned.sort_by_key(|m| std::cmp::Reverse((m.pinned_at, m.seq)));
        Ok(pinned)
    }

    async fn changes_since(
        &self,
        chat: ChatId,
        after_pts: i64,
        limit: usize,
    ) -> PortResult<ChangePage> {
        let state = lock(&self.state);
        let Some(log) = state.chats.get(&chat) else {
            return Ok(ChangePage::default());
        };
        let changes = log
            .changes
            .range(after_pts.saturating_add(1)..)
            .take(limit)
            .filter_map(|(pts, (kind, id))| {
                let stored = state.by_id.get(id)?;
                Some(ChatChange {
                    chat_id: chat,
                    pts: *pts,
                    kind: *kind,
                    message: stored.message.clone(),
                    deleted: stored.deleted,
                })
            })
            .collect();
        Ok(ChangePage {
            changes,
            head: log.head,
        })
    }

    async fn heads(&self, chats: &[ChatId]) -> PortResult<Vec<ChatHead>> {
        let state = lock(&self.state);
        Ok(chats
            .iter()
            .map(|c| state.chats.get(c).map(|log| log.head).unwrap_or_default())
            .collect())
    }
}
