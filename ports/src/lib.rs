//! webchat's driven ports: one small `#[async_trait]` trait per capability.
//!
//! Use cases hold them as `Arc<dyn Port>`; adapters (memory, Redis, PostgreSQL)
//! implement them. Every trait documents its semantics and errors, and feature
//! `contract` ships a conformance suite per trait that every adapter runs, so "memory
//! behaves like Redis" is tested rather than hoped. Feature `mock` adds mockall mocks.
//!
//! Errors: every method returns [`PortError`]. `Unavailable` means the backend could
//! not be reached or answered with a failure; callers apply the degradation
//! policy (docs/protocol.md) to it. "Not found" is usually an `Ok(None)`/`Ok(false)`, not an error.

pub mod announce;
pub mod cache;
pub mod clock;
pub mod error;
pub mod event_bus;
pub mod health;
pub mod presence;
pub mod rate_limit;
pub mod repository;
pub mod session;

#[cfg(feature = "contract")]
pub mod contract;

pub use announce::{Announced, Announcer, CacheThenPublish};
pub use cache::{CacheConfig, CacheStats, MessageCache, INDEX_LIMIT, RECENT_WINDOW};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::PortError;
pub use event_bus::{EventBus, EventStream};
pub use health::HealthCheck;
pub use presence::{
    OnlinePage, PresenceChange, PresenceConfig, PresenceStore, HEARTBEATS_PER_CLEANUP,
};
pub use rate_limit::RateLimiter;
pub use repository::{
    AddMember, ChangePage, Changed, ChatRepository, InsertOutcome, Memberships, MessageRepository,
    Repositories, UserRepository,
};
pub use session::{Rotation, SessionStore};

#[cfg(feature = "mock")]
pub use {
    announce::MockAnnouncer, cache::MockMessageCache, clock::MockClock, event_bus::MockEventBus,
    health::MockHealthCheck, presence::MockPresenceStore, rate_limit::MockRateLimiter,
    repository::MockChatRepository, repository::MockMessageRepository,
    repository::MockUserRepository, session::MockSessionStore,
};

/// Shorthand for port results.
pub type PortResult<T> = Result<T, PortError>;
