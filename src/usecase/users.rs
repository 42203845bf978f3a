//! Finding other users (to start a chat with them).

use std::sync::Arc;

use webchat_domain::{User, UserId, UsernamePrefix};
use webchat_ports::UserRepository;

use super::{AppError, AppResult};

/// Default and largest number of users one search returns.
pub const DEFAULT_SEARCH: usize = 20;
pub const MAX_SEARCH: usize = 50;

pub struct UserService {
    users: Arc<dyn UserRepository>,
}

impl UserService {
    pub fn new(users: Arc<dyn UserRepository>) -> Self {
        Self { users }
    }

    /// One user (to show a name for an id); 404 when unknown.
    pub async fn get(&self, id: UserId) -> AppResult<User> {
        self.users.get(id).await?.ok_or(AppError::NotFound("user"))
    }

    /// Users whose name starts with `prefix` (without regard to case), by name.
    /// The prefix is 1..32 characters a username may contain.
    pub async fn search(&self, prefix: &str, limit: Option<usize>) -> AppResult<Vec<User>> {
        let limit = limit.unwrap_or(DEFAULT_SEARCH);
        if !(1..=MAX_SEARCH).contains(&limit) {
            return Err(AppError::Validation {
                field: "limit",
                reason: format!("must be 1 to {MAX_SEARCH}"),
            });
        }
        let prefix = UsernamePrefix::parse(prefix)?;
        Ok(self.users.search(prefix.as_str(), limit).await?)
    }
}
