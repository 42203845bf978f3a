//! In-memory adapters for every webchat port: the embedded default of `cargo run`
//! (no Redis, no PostgreSQL) and the fast backend of use-case tests.
//!
//! Each store keeps its state behind one `std::sync::Mutex` that is never held across
//! an `.await`, so every port call is atomic: that is what makes seqs gapless and
//! rate-limit counts exact under concurrency, as the port contracts demand. Stores
//! whose data expires read time only from the `Clock` they are given and expire
//! entries lazily, on the reads and writes that meet them.
//!
//! | port | adapter |
//! |---|---|
//! | UserRepository, ChatRepository, MessageRepository | [`MemoryUserRepository`], [`MemoryChatRepository`], [`MemoryMessageRepository`] (or [`memory_repositories`]) |
//! | SessionStore | [`MemorySessionStore::new(clock)`](MemorySessionStore::new) |
//! | RateLimiter | [`MemoryRateLimiter::new(clock)`](MemoryRateLimiter::new) |
//! | PresenceStore | [`MemoryPresenceStore::new(config, clock)`](MemoryPresenceStore::new) |
//! | MessageCache | [`MemoryMessageCache::new(config, clock)`](MemoryMessageCache::new) |
//! | EventBus | [`MemoryEventBus::new()`](MemoryEventBus::new): one process only |
//! | Announcer | `webchat_ports::CacheThenPublish::new(cache, bus)` over the two above |
//!
//! Every adapter passes the conformance suites of `webchat_ports::contract`
//! (`tests/contract.rs`).

use std::sync::{Arc, Mutex, MutexGuard};

use webchat_ports::Repositories;

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

/// Fresh, empty in-memory users, chats and messages, standing in for one database.
pub fn memory_repositories() -> Repositories {
    let chats = Arc::new(MemoryChatRepository::new());
    Repositories {
        users: Arc::new(MemoryUserRepository::new()),
        messages: Arc::new(MemoryMessageRepository::new(Arc::clone(&chats))),
        chats,
    }
}

/// Locks `state`, taking over a poisoned lock: the critical sections run no foreign
/// code, so the only panics possible inside them (allocation failure) are not worth
/// turning every later call of a long-running server into a panic too.
fn lock<T>(state: &Mutex<T>) -> MutexGuard<'_, T> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
