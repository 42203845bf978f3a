//! The composition root: the only place that names concrete adapters. It picks
//! them from the configuration and builds the use cases over them.

pub mod wiring;

use std::sync::Arc;

use webchat_memory::{
    memory_repositories, MemoryEventBus, MemoryMessageCache, MemoryPresenceStore,
    MemoryRateLimiter, MemorySessionStore,
};
use webchat_ports::{
    CacheConfig, Clock, PresenceConfig, Repositories, SystemClock, HEARTBEATS_PER_CLEANUP,
};

use crate::config::Config;
use crate::usecase::auth::AuthConfig;
use crate::usecase::tokens::random_hex;
use crate::usecase::{Ports, Settings, UseCases};

/// The application: the use cases over the adapters the configuration asked for.
#[derive(Clone)]
pub struct App {
    pub usecases: UseCases,
    /// One line naming every backend in use, for the startup log.
    pub backends: String,
}

/// Every port in memory, over `repos` and `clock`.
pub fn memory_ports(repos: Repositories, clock: Arc<dyn Clock>) -> Ports {
    Ports {
        users: repos.users,
        chats: repos.chats,
        messages: repos.messages,
        presence: Arc::new(MemoryPresenceStore::new(
            PresenceConfig::default(),
            clock.clone(),
        )),
        sessions: Arc::new(MemorySessionStore::new(clock.clone())),
        rate_limiter: Arc::new(MemoryRateLimiter::new(clock.clone())),
        cache: Arc::new(MemoryMessageCache::new(
            CacheConfig::default(),
            clock.clone(),
        )),
        bus: Arc::new(MemoryEventBus::new()),
        announcer: None,
        clock,
        health: Vec::new(),
    }
}

/// The use-case settings `config` describes, signing tokens with `jwt_secret`.
pub fn settings(config: &Config, jwt_secret: &[u8]) -> Settings {
    Settings {
        instance: config.instance_id.clone(),
        jwt_secret: jwt_secret.to_vec(),
        auth: AuthConfig::default(),
        throttle_default: config.throttle_default.clone(),
        throttle_strict: config.throttle_strict.clone(),
        max_chat_members: config.max_chat_members,
    }
}

impl App {
    /// Everything in memory: the embedded default.
    pub fn in_memory(config: &Config) -> Self {
        Self::in_memory_with(config, memory_repositories())
    }

    /// In memory over given repositories (tests share them between instances).
    pub fn in_memory_with(config: &Config, repos: Repositories) -> Self {
        let secret = config.jwt_secret.clone().unwrap_or_else(|| random_hex(32));
        Self {
            usecases: UseCases::new(
                memory_ports(repos, Arc::new(SystemClock)),
                settings(config, secret.as_bytes()),
            ),
            backends: "repositories=memory presence=memory sessions=memory rate_limits=memory cache=memory events=memory".into(),
        }
    }

    /// Starts the periodic jobs: the presence cleanup every `cleanup_every` (with a
    /// heartbeat), and heartbeats in between, [`HEARTBEATS_PER_CLEANUP`] per interval
    /// in all, so an instance's mark (living one interval) never lapses while it runs.
    pub fn spawn_background(
        &self,
        cleanup_every: std::time::Duration,
    ) -> tokio::task::JoinHandle<()> {
        let presence = self.usecases.presence.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(cleanup_every / HEARTBEATS_PER_CLEANUP);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut n = 0;
            loop {
                tick.tick().await;
                if n == 0 {
                    presence.maintain().await;
                } else {
                    presence.heartbeat().await;
                }
                n = (n + 1) % HEARTBEATS_PER_CLEANUP;
            }
        })
    }
}
