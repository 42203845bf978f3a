use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{ChatId, ChatName, UserId};

/// A conversation. Membership lives in the ChatRepository, not here, so a chat with
/// many members stays cheap to pass around.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chat {
    pub id: ChatId,
    pub name: ChatName,
    pub created_by: UserId,
    pub created_at: DateTime<Utc>,
}
