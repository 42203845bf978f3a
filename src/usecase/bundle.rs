//! The use cases as one bundle, built over the driven ports. The front doors (REST,
//! WebSocket) see only this; which adapters stand behind the ports is the
//! composition root's business (`crate::app`).

use std::sync::Arc;

use webchat_domain::{InstanceId, RateLimitPolicy};
use webchat_ports::{
    Announcer, CacheThenPublish, ChatRepository, Clock, EventBus, HealthCheck, MessageCache,
    MessageRepository, PresenceStore, RateLimiter, SessionStore, UserRepository,
};

use super::admin::AdminService;
use super::auth::{AuthConfig, AuthService};
use super::chat::ChatService;
use super::events::Publisher;
use super::feed::Feed;
use super::health::HealthService;
use super::message::MessageService;
use super::presence::PresenceService;
use super::throttle::Throttle;
use super::tokens::TokenCodec;
use super::users::UserService;

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
    /// Writes a new message through to the cache and publishes it in one step;
    /// `None`: one after the other over `cache` and `bus`.
    pub announcer: Option<Arc<dyn Announcer>>,
    pub clock: Arc<dyn Clock>,
    /// The backends `/health` reports on (none when everything is in memory).
    pub health: Vec<Arc<dyn HealthCheck>>,
}

/// What the use cases are configured with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Names this process in socket ids.
    pub instance: InstanceId,
    /// The HS256 secret every instance shares.
    pub jwt_secret: Vec<u8>,
    pub auth: AuthConfig,
    pub throttle_default: RateLimitPolicy,
    pub throttle_strict: RateLimitPolicy,
    /// Most members a chat may have (`WEBCHAT_MAX_CHAT_MEMBERS`).
    pub max_chat_members: usize,
}

/// Every use case. Cheap to clone: each is shared behind an `Arc`.
#[derive(Clone)]
pub struct UseCases {
    pub admin: Arc<AdminService>,
    pub auth: Arc<AuthService>,
    pub chats: Arc<ChatService>,
    pub messages: Arc<MessageService>,
    pub presence: Arc<PresenceService>,
    pub throttle: Arc<Throttle>,
    pub users: Arc<UserService>,
    pub health: Arc<HealthService>,
    /// Live events for this instance's sockets.
    pub feed: Arc<Feed>,
}

impl UseCases {
    /// Builds every use case over `ports`.
    pub fn new(ports: Ports, settings: Settings) -> Self {
        let events = Publisher::new(ports.bus.clone());
        let admin = Arc::new(AdminService::new(
            ports.cache.clone(),
            ports.presence.clone(),
            ports.sessions.clone(),
        ));
        let throttle = Arc::new(Throttle::new(
            ports.rate_limiter.clone(),
            settings.throttle_default,
            settings.throttle_strict,
        ));
        let auth = Arc::new(AuthService::new(
            ports.users.clone(),
            ports.sessions.clone(),
            ports.clock.clone(),
            TokenCodec::new(&settings.jwt_secret),
            settings.auth,
            throttle.clone(),
        ));
        let chats = Arc::new(ChatService::new(
            ports.chats.clone(),
            ports.users.clone(),
            ports.messages.clone(),
            ports.clock.clone(),
            events.clone(),
            settings.max_chat_members,
        ));
        let announcer = ports.announcer.clone().unwrap_or_else(|| {
            Arc::new(CacheThenPublish::new(
                ports.cache.clone(),
                ports.bus.clone(),
            ))
        });
        let messages = Arc::new(MessageService::new(
            chats.clone(),
            ports.messages.clone(),
            ports.cache.clone(),
            announcer,
            ports.clock.clone(),
            events.clone(),
        ));
        let presence = Arc::new(PresenceService::new(
            ports.presence.clone(),
            chats.clone(),
            ports.clock.clone(),
            events,
            settings.instance,
        ));
        Self {
            admin,
            auth,
            chats,
            messages,
            presence,
            throttle,
            users: Arc::new(UserService::new(ports.users)),
            health: Arc::new(HealthService::new(ports.health)),
            feed: Arc::new(Feed::new(ports.bus, ports.messages, ports.chats)),
        }
    }
}
