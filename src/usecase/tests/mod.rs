//! Use-case tests: memory adapters for behaviour, mockall mocks where a failure must
//! be injected.

mod auth;
mod chat;
mod database_down;
mod degradation;
mod message;
mod message_cache;
mod message_writes;
mod presence;
mod races_auth_presence;
mod races_cache;
mod sessions;
mod throttle;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use webchat_domain::{
    Chat, ChatId, ChatName, DisplayName, Event, PresenceStatus, SessionId, TokenFingerprint, Topic,
    User, UserId, UserSession, Username,
};
use webchat_memory::memory_repositories;
use webchat_ports::{Clock, EventBus, EventStream, ManualClock, Repositories, SessionStore};

use crate::app::{memory_ports, settings};
use crate::config::Config;
use crate::usecase::{Ports, Settings, UseCases};

pub(super) const SECRET: &[u8] = b"secret";

/// An App over memory adapters and a clock the test moves, with the repositories
/// kept at hand so a test can reach behind the use cases.
pub(super) struct Fixture {
    pub app: UseCases,
    pub bus: Arc<dyn EventBus>,
    pub clock: Arc<ManualClock>,
    pub repos: Repositories,
    pub sessions: Arc<dyn SessionStore>,
}

impl Fixture {
    pub fn new() -> Self {
        Self::with_ports(|ports| ports)
    }

    /// The memory App with some ports swapped (for mocks).
    pub fn with_ports(swap: impl FnOnce(Ports) -> Ports) -> Self {
        Self::build(swap, |_| {})
    }

    /// The memory App with some settings changed.
    pub fn with_settings(change: impl FnOnce(&mut Settings)) -> Self {
        Self::build(|ports| ports, change)
    }

    fn build(swap: impl FnOnce(Ports) -> Ports, change: impl FnOnce(&mut Settings)) -> Self {
        let clock = Arc::new(ManualClock::default());
        let repos = memory_repositories();
        let ports = swap(memory_ports(repos.clone(), clock.clone()));
        let sessions = ports.sessions.clone();
        let bus = ports.bus.clone();
        let mut settings = settings(&Config::for_tests(), SECRET);
        change(&mut settings);
        let app = UseCases::new(ports, settings);
        Self {
            app,
            bus,
            clock,
            repos,
            sessions,
        }
    }

    /// A user stored directly in the repository: no password hashing, for tests
    /// that never log in.
    pub async fn user(&self, name: &str) -> UserId {
        let user = User {
            id: UserId::new(),
            username: Username::parse(name).unwrap(),
            display_name: DisplayName::parse(name).unwrap(),
            password_hash: "not-a-hash".into(),
            created_at: self.clock.now(),
        };
        self.repos.users.create(&user).await.unwrap();
        user.id
    }

    /// Whether the session store refuses `token`, probed with a live session of
    /// its own (a refused token is refused whatever session it names).
    pub async fn blacklisted(&self, token: &TokenFingerprint) -> bool {
        let now = self.clock.now();
        let probe = UserSession {
            id: SessionId::new(),
            user_id: UserId::new(),
            created_at: now,
            expires_at: now + chrono::Duration::hours(1),
            ip: None,
            user_agent: None,
            refresh_token_hash: "probe".into(),
        };
        self.sessions.create(&probe, 100).await.unwrap();
        let refused = self
            .sessions
            .authorize(probe.id, token)
            .await
            .unwrap()
            .is_none();
        self.sessions.delete(probe.id).await.unwrap();
        refused
    }

    /// A chat of `owner` and `others`.
    pub async fn chat(&self, owner: UserId, others: &[UserId]) -> ChatId {
        self.app
            .chats
            .create(owner, "room", others)
            .await
            .unwrap()
            .chat
            .id
    }

    pub async fn subscribe(&self, topic: Topic) -> EventStream {
        self.bus.subscribe(&topic).await.unwrap()
    }

    /// Publishes a marker on `topic`: when the next event a subscriber reads is the
    /// marker, nothing was published in between (the memory bus keeps order).
    pub async fn mark(&self, topic: &Topic) -> Event {
        let marker = match topic {
            Topic::Chat(chat) => Event::Typing {
                chat_id: *chat,
                user_id: UserId::new(),
            },
            Topic::User(user) => Event::ChatJoined {
                user_id: *user,
                chat: Chat {
                    id: ChatId::new(),
                    name: ChatName::parse("marker").unwrap(),
                    created_by: *user,
                    created_at: self.clock.now(),
                },
                member_ids: vec![],
            },
            Topic::Presence => Event::Presence {
                user_id: UserId::new(),
                status: PresenceStatus::Online,
                last_seen: self.clock.now(),
                chats: vec![],
            },
        };
        self.bus.publish(&marker).await.unwrap();
        marker
    }

    /// Asserts that nothing was published on `topic` since `events` last read.
    pub async fn assert_quiet(&self, events: &mut EventStream, topic: &Topic) {
        let marker = self.mark(topic).await;
        assert_eq!(
            next(events).await,
            marker,
            "an unexpected event was published"
        );
    }
}

/// The next event, failing the test after a second.
pub(super) async fn next(events: &mut EventStream) -> Event {
    let event = tokio::time::timeout(Duration::from_secs(1), events.next())
        .await
        .expect("no event within a second")
        .expect("event stream ended");
    Arc::unwrap_or_clone(event)
}

pub(super) fn advance(clock: &ManualClock, secs: u64) {
    clock.advance(Duration::from_secs(secs));
}
