//! What instances tell each other through the EventBus. The gateway turns these into
//! the WebSocket frames of docs/protocol.md.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{ChangeKind, Chat, ChatChange, ChatId, Message, MessageId, PresenceStatus, UserId};

/// Where an event is published. Chat events go to the chat's members' sockets; user
/// events to one user's sockets; presence events to every socket that shares a chat
/// with the user (`Event::Presence::chats` says which chats).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "lowercase")]
pub enum Topic {
    Chat(ChatId),
    User(UserId),
    Presence,
}

/// Message events carry the `pts` their change took in the chat's change sequence
/// (`ChatHead::pts`), which orders them; 0 from a sender that predates it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Event {
    #[serde(rename = "message.created")]
    MessageCreated {
        chat_id: ChatId,
        message: Message,
        #[serde(default)]
        pts: i64,
    },
    #[serde(rename = "message.updated")]
    MessageUpdated {
        chat_id: ChatId,
        message: Message,
        #[serde(default)]
        pts: i64,
    },
    #[serde(rename = "message.deleted")]
    MessageDeleted {
        chat_id: ChatId,
        message_id: MessageId,
        message: Message,
        #[serde(default)]
        pts: i64,
    },
    #[serde(rename = "message.pinned")]
    MessagePinned {
        chat_id: ChatId,
        message: Message,
        #[serde(default)]
        pts: i64,
    },
    #[serde(rename = "message.unpinned")]
    MessageUnpinned {
        chat_id: ChatId,
        message: Message,
        #[serde(default)]
        pts: i64,
    },
    #[serde(rename = "typing")]
    Typing { chat_id: ChatId, user_id: UserId },
    /// A user's presence changed. `chats` are the user's chats: the audience is every
    /// socket subscribed to at least one of them, each receiving one copy.
    #[serde(rename = "presence")]
    Presence {
        user_id: UserId,
        status: PresenceStatus,
        last_seen: DateTime<Utc>,
        chats: Vec<ChatId>,
    },
    /// `user_id` became a member of `chat`; their open sockets subscribe to it.
    #[serde(rename = "chat.joined")]
    ChatJoined {
        user_id: UserId,
        chat: Chat,
        member_ids: Vec<UserId>,
    },
}

impl Event {
    /// The event a change of the log stands for, as a client would have seen it
    /// live (with the message as it is now). `None` for a change whose message was
    /// deleted since: its later `Deleted` change tells.
    pub fn from_change(change: &ChatChange) -> Option<Self> {
        let (chat_id, message, pts) = (change.chat_id, change.message.clone(), change.pts);
        Some(match change.kind {
            ChangeKind::Deleted => Self::MessageDeleted {
                chat_id,
                message_id: message.id,
                message,
                pts,
            },
            _ if change.deleted => return None,
            ChangeKind::Created => Self::MessageCreated {
                chat_id,
                message,
                pts,
            },
            ChangeKind::Edited => Self::MessageUpdated {
                chat_id,
                message,
                pts,
            },
            ChangeKind::Pinned => Self::MessagePinned {
                chat_id,
                message,
                pts,
            },
            ChangeKind::Unpinned => Self::MessageUnpinned {
                chat_id,
                message,
                pts,
            },
        })
    }

    /// The change sequence number of a message event (`None` for the others).
    pub fn pts(&self) -> Option<i64> {
        match self {
            Self::MessageCreated { pts, .. }
            | Self::MessageUpdated { pts, .. }
            | Self::MessageDeleted { pts, .. }
            | Self::MessagePinned { pts, .. }
            | Self::MessageUnpinned { pts, .. } => Some(*pts),
            _ => None,
        }
    }

    /// The topic this event is published on.
    pub fn topic(&self) -> Topic {
        match self {
            Self::MessageCreated { chat_id, .. }
            | Self::MessageUpdated { chat_id, .. }
            | Self::MessageDeleted { chat_id, .. }
            | Self::MessagePinned { chat_id, .. }
            | Self::MessageUnpinned { chat_id, .. }
            | Self::Typing { chat_id, .. } => Topic::Chat(*chat_id),
            Self::Presence { .. } => Topic::Presence,
            Self::ChatJoined { user_id, .. } => Topic::User(*user_id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_with_contract_type_names() {
        let e = Event::Typing {
            chat_id: ChatId::new(),
            user_id: UserId::new(),
        };
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["type"], "typing");
        assert_eq!(serde_json::from_value::<Event>(json).unwrap(), e);
        assert!(matches!(e.topic(), Topic::Chat(_)));
    }
}
