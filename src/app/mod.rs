//! The composition root: the only place that names concrete adapters.

pub mod wiring;

use std::sync::Arc;

use webchat_domain::InstanceId;
use webchat_memory::{
    MemoryChatRepository, MemoryEventBus, MemoryMessageCache, MemoryMessageRepository,
    MemoryPresenceStore, MemoryRateLimiter, MemorySessionStore, MemoryUserRepository,
};
use webchat_ports::{
    CacheConfig, ChatRepository, Clock, EventBus, HealthCheck, MessageCache, MessageRepository,
    PresenceConfig, PresenceStore, RateLimiter, SessionStore, SystemClock, UserRepository,
};

use crate::config::Config;
use crate::usecase::admin::AdminService;
use crate::usecase::auth::{AuthConfig, AuthService};
use crate::usecase::chat::ChatService;
use crate::usecase::events::Publisher;
use crate::usecase::message::MessageService;
use crate::usecase::presence::PresenceService;
use crate::usecase::throttle::Throttle;
use crate::usecase::tokens::{random_hex, TokenCodec};

/// Every driven port the use cases need.
#[derive(Clone)]
pub struct Ports {
    pub users: Arc<dyn UserRepository>,
    pub chats: Arc<dyn ChatRepository>,
    pub messages: Arc<dyn MessageRepository>,
    pub presence: Arc<dyn PresenceStore>,
    pub sessions: Arc<dyn SessionStore>,
    pub rate_limiter: Arc<dyn RateLimiter>,
    pub cache: Arc<dyn MessageCache>,
    pub bus: Arc<dyn EventBus>,
    pub clock: Arc<dyn Clock>,
}

/// The durable repositories (users, chats, messages). The default is in memory;
/// one set can be shared between App instances in a process to stand in for one
/// database.
#[derive(Clone)]
pub struct Repositories {
    pub users: Arc<dyn UserRepository>,
    pub chats: Arc<dyn ChatRepository>,
    pub messages: Arc<dyn MessageRepository>,
}

impl Default for Repositories {
    fn default() -> Self {
        Self {
            users: Arc::new(MemoryUserRepository::new()),
            chats: Arc::new(MemoryChatRepository::new()),
            messages: Arc::new(MemoryMessageRepository::new()),
        }
    }
}

impl Ports {
    /// Every port in memory, over `repos` and `clock`.
    pub fn in_memory(repos: Repositories, clock: Arc<dyn Clock>) -> Self {
        Self {
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
            clock,
        }
    }
}

/// The application: use cases wired over ports.
#[derive(Clone)]
pub struct App {
    pub admin: Arc<AdminService>,
    pub auth: Arc<AuthService>,
    pub chats: Arc<ChatService>,
    pub messages: Arc<MessageService>,
    pub presence: Arc<PresenceService>,
    pub throttle: Arc<Throttle>,
    pub bus: Arc<dyn EventBus>,
    pub health: Vec<Arc<dyn HealthCheck>>,
    pub instance: InstanceId,
    /// One line naming every backend in use, for the startup log.
    pub backends: String,
}

impl App {
    /// Builds the use cases over `ports`.
    pub fn from_ports(
        ports: Ports,
        config: &Config,
        jwt_secret: &[u8],
        health: Vec<Arc<dyn HealthCheck>>,
        backends: String,
    ) -> Self {
        let events = Publisher::new(ports.bus.clone());
        let admin = Arc::new(AdminService::new(
            ports.cache.clone(),
            ports.presence.clone(),
            ports.sessions.clone(),
        ));
        let auth = Arc::new(AuthService::new(
            ports.users.clone(),
            ports.sessions.clone(),
            ports.clock.clone(),
            TokenCodec::new(jwt_secret),
            AuthConfig::default(),
        ));
        let chats = Arc::new(ChatService::new(
            ports.chats.clone(),
            ports.users.clone(),
            ports.clock.clone(),
            events.clone(),
        ));
        let messages = Arc::new(MessageService::new(
            chats.clone(),
            ports.messages.clone(),
            ports.cache.clone(),
            ports.clock.clone(),
            events.clone(),
        ));
        let presence = Arc::new(PresenceService::new(
            ports.presence.clone(),
            chats.clone(),
            ports.clock.clone(),
            events,
            config.instance_id.clone(),
        ));
        let throttle = Arc::new(Throttle::new(
            ports.rate_limiter.clone(),
            config.throttle_default.clone(),
            config.throttle_strict.clone(),
        ));
        Self {
            admin,
            auth,
            chats,
            messages,
            presence,
            throttle,
            bus: ports.bus,
            health,
            instance: config.instance_id.clone(),
            backends,
        }
    }

    /// Starts the periodic jobs (presence heartbeat and cleanup).
    pub fn spawn_background(
        &self,
        cleanup_every: std::time::Duration,
    ) -> tokio::task::JoinHandle<()> {
        let presence = self.presence.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(cleanup_every);
            loop {
                tick.tick().await;
                presence.maintain().await;
            }
        })
    }

    /// Everything in memory: the embedded default.
    pub fn in_memory(config: &Config) -> Self {
        Self::in_memory_with(config, Repositories::default())
    }

    /// In memory over given repositories (tests share them between instances).
    pub fn in_memory_with(config: &Config, repos: Repositories) -> Self {
        let secret = config.jwt_secret.clone().unwrap_or_else(|| random_hex(32));
        Self::from_ports(
            Ports::in_memory(repos, Arc::new(SystemClock)),
            config,
            secret.as_bytes(),
            Vec::new(),
            "repositories=memory presence=memory sessions=memory rate_limits=memory cache=memory events=memory".into(),
        )
    }
}
