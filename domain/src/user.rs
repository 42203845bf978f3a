use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{DisplayName, UserId, Username};

/// A registered user. `password_hash` is a PHC string (argon2); it never leaves the
/// server: the front door maps users to response types without it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub username: Username,
    pub display_name: DisplayName,
    pub password_hash: String,
    pub created_at: DateTime<Utc>,
}
