//! In-memory adapters for every webchat port: the embedded default of `cargo run`
//! (no Redis, no PostgreSQL) and the fast backend of use-case tests.
//!
//! Each store keeps its state behind one `std::sync::Mutex` that is never held across
//! an `.await`, so every port call is atomic: that is what makes seqs gapless and
//! rate-limit counts exact under concurrency, as the port contracts demand. Stores
//! whose data expires read time only from the `Clock` they are given and expire
//! entries lazily, on the reads and writes that meet them.

use std::sync::{Arc, Mutex, MutexGuard};

mod chat_repository;
mod event_bus;
mod message_cache;
mod message_repository;
mod presence_store;
mod rate_limiter;
mod session_store;
mod user_repository;

pub use chat_repository::MemoryChatRepository;
pub use event_bus::MemoryEventBus;
pub use message_cache::MemoryMessageCache;
pub use message_repository::MemoryMessageRepository;
pub use presence_store::MemoryPresenceStore;
pub use rate_limiter::MemoryRateLimiter;
pub use session_store::MemorySessionStore;
pub use user_repository::MemoryUserRepository;

/// Fresh, empty in-memory users, chats and messages.
pub fn memory_repositories() -> (
    Arc<MemoryUserRepository>,
    Arc<MemoryChatRepository>,
    Arc<MemoryMessageRepository>,
) {
    (
        Arc::new(MemoryUserRepository::new()),
        Arc::new(MemoryChatRepository::new()),
        Arc::new(MemoryMessageRepository::new()),
    )
}

/// Locks `state`. A panic while holding one of these locks cannot leave the state
/// half-written in a way later calls would misread (each call writes its changes
/// last), so a poisoned lock is taken over rather than propagated.
fn lock<T>(state: &Mutex<T>) -> MutexGuard<'_, T> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
