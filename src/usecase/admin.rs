//! The seed's maintenance calls (`webchat admin ...`).

use std::sync::Arc;

use webchat_ports::{CacheStats, MessageCache, PresenceStore, SessionStore};

use super::AppResult;

pub struct AdminService {
    cache: Arc<dyn MessageCache>,
    presence: Arc<dyn PresenceStore>,
    sessions: Arc<dyn SessionStore>,
}

impl AdminService {
    pub fn new(
        cache: Arc<dyn MessageCache>,
        presence: Arc<dyn PresenceStore>,
        sessions: Arc<dyn SessionStore>,
    ) -> Self {
        Self {
            cache,
            presence,
            sessions,
        }
    }

    pub async fn stats(&self) -> AppResult<CacheStats> {
        Ok(self.cache.stats().await?)
    }

    pub async fn clear_cache(&self) -> AppResult<u64> {
        Ok(self.cache.clear_all().await?)
    }

    pub async fn clear_presence(&self) -> AppResult<u64> {
        Ok(self.presence.clear_all().await?)
    }

    pub async fn clear_sessions(&self) -> AppResult<u64> {
        Ok(self.sessions.clear_all().await?)
    }
}
