use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;
use webchat_domain::{User, UserId, Username};
use webchat_ports::{PortError, PortResult, UserRepository};

use crate::lock;

/// Users in memory; names are unique without regard to ASCII case.
#[derive(Debug, Default)]
pub struct MemoryUserRepository {
    state: Mutex<Users>,
}

#[derive(Debug, Default)]
struct Users {
    by_id: HashMap<UserId, User>,
    /// Lowercased username -> id, ordered for prefix search.
    by_name: BTreeMap<String, UserId>,
}

fn name_key(username: &Username) -> String {
    username.as_str().to_ascii_lowercase()
}

impl MemoryUserRepository {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl UserRepository for MemoryUserRepository {
    #[tracing::instrument(skip(self, user), fields(user_id = %user.id))]
    async fn create(&self, user: &User) -> PortResult<()> {
        let mut users = lock(&self.state);
        let key = name_key(&user.username);
        if users.by_name.contains_key(&key) {
            return Err(PortError::Conflict(format!(
                "username {} is taken",
                user.username
            )));
        }
        if users.by_id.contains_key(&user.id) {
            return Err(PortError::Conflict(format!("user {} exists", user.id)));
        }
        users.by_name.insert(key, user.id);
        users.by_id.insert(user.id, user.clone());
        Ok(())
    }

    async fn get(&self, id: UserId) -> PortResult<Option<User>> {
        Ok(lock(&self.state).by_id.get(&id).cloned())
    }

    async fn find_by_username(&self, username: &Username) -> PortResult<Option<User>> {
        let users = lock(&self.state);
        Ok(users
            .by_name
            .get(&name_key(username))
            .and_then(|id| users.by_id.get(id))
            .cloned())
    }

    #[tracing::instrument(skip(self, password_hash))]
    async fn set_password_hash(&self, id: UserId, password_hash: &str) -> PortResult<()> {
        let mut users = lock(&self.state);
        let user = users.by_id.get_mut(&id).ok_or(PortError::NotFound)?;
        password_hash.clone_into(&mut user.password_hash);
        Ok(())
    }

    async fn search(&self, prefix: &str, limit: usize) -> PortResult<Vec<User>> {
        let users = lock(&self.state);
        let prefix = prefix.to_ascii_lowercase();
        Ok(users
            .by_name
            .range(prefix.clone()..)
            .take_while(|(name, _)| name.starts_with(&prefix))
            .filter_map(|(_, id)| users.by_id.get(id).cloned())
            .take(limit)
            .collect())
    }
}
