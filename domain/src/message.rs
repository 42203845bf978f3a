use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{ChatId, ClientMsgId, MessageContent, MessageId, UserId};

/// A stored message. `seq` is assigned by the MessageRepository: per chat, starting at
/// 1, gapless and strictly increasing in insertion order. It orders history and drives
/// recovery after a reconnect (`since_seq`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub id: MessageId,
    pub chat_id: ChatId,
    pub sender_id: UserId,
    pub content: String,
    pub seq: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_msg_id: Option<ClientMsgId>,
    pub created_at: DateTime<Utc>,
    pub edited_at: Option<DateTime<Utc>>,
    pub pinned_at: Option<DateTime<Utc>>,
    /// The `pts` of the message's latest change (its creation, edit, pin...): a copy
    /// with a higher version is newer. Internal: clients never see it.
    #[serde(default)]
    pub version: i64,
}

/// A message about to be stored: everything but the `seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    pub id: MessageId,
    pub chat_id: ChatId,
    pub sender_id: UserId,
    pub content: MessageContent,
    pub client_msg_id: Option<ClientMsgId>,
    pub created_at: DateTime<Utc>,
}

impl NewMessage {
    /// The stored form once the repository has assigned `seq` (and `pts`, its
    /// version).
    pub fn into_message(self, seq: i64, pts: i64) -> Message {
        Message {
            id: self.id,
            chat_id: self.chat_id,
            sender_id: self.sender_id,
            content: self.content.into_inner(),
            seq,
            client_msg_id: self.client_msg_id,
            created_at: self.created_at,
            edited_at: None,
            pinned_at: None,
            version: pts,
        }
    }
}
