//! The per-chat change sequence (`pts`, as Telegram calls it): every create, edit,
//! delete, pin and unpin of a message in a chat takes the chat's next pts, gapless
//! and in commit order, so instances can deliver changes in order and spot gaps, and
//! a client that was away can ask what changed since the last pts it saw.

use serde::{Deserialize, Serialize};

use crate::{ChatId, Message};

/// What a change did to its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Created,
    Edited,
    Deleted,
    Pinned,
    Unpinned,
}

impl ChangeKind {
    /// The stored code of the kind (one byte in the change log).
    pub fn code(self) -> i16 {
        match self {
            Self::Created => 1,
            Self::Edited => 2,
            Self::Deleted => 3,
            Self::Pinned => 4,
            Self::Unpinned => 5,
        }
    }

    pub fn from_code(code: i16) -> Option<Self> {
        Some(match code {
            1 => Self::Created,
            2 => Self::Edited,
            3 => Self::Deleted,
            4 => Self::Pinned,
            5 => Self::Unpinned,
            _ => return None,
        })
    }
}

/// Where a chat's sequences stand: its last message seq and its last change pts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct ChatHead {
    pub seq: i64,
    pub pts: i64,
}

/// One entry of a chat's change log, with the message as it is now (a deleted
/// message as its tombstone: same id, chat, sender and seq, empty content).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatChange {
    pub chat_id: ChatId,
    pub pts: i64,
    pub kind: ChangeKind,
    pub message: Message,
    /// True when the message has been deleted since (or by) this change.
    pub deleted: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_codes() {
        for kind in [
            ChangeKind::Created,
            ChangeKind::Edited,
            ChangeKind::Deleted,
            ChangeKind::Pinned,
            ChangeKind::Unpinned,
        ] {
            assert_eq!(ChangeKind::from_code(kind.code()), Some(kind));
        }
        assert_eq!(ChangeKind::from_code(0), None);
    }
}
