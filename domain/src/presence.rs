use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{SocketId, UserId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PresenceStatus {
    Online,
    Away,
    Offline,
}

impl PresenceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Away => "away",
            Self::Offline => "offline",
        }
    }
}

/// What is known of a user's presence (the seed's UserPresence). `socket_id` is the
/// socket that last changed it, when one did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserPresence {
    pub user_id: UserId,
    pub status: PresenceStatus,
    pub last_seen: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket_id: Option<SocketId>,
}

impl UserPresence {
    /// The answer for a user never seen (or whose record expired).
    pub fn unknown(user_id: UserId, now: DateTime<Utc>) -> Self {
        Self {
            user_id,
            status: PresenceStatus::Offline,
            last_seen: now,
            socket_id: None,
        }
    }
}
