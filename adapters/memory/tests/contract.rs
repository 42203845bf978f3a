//! Every conformance suite of `webchat_ports::contract`, run against the memory
//! adapters with a manual clock (so TTL cases take no real time).

use std::sync::Arc;

use webchat_memory::{
    memory_repositories as repositories, MemoryEventBus, MemoryMessageCache, MemoryPresenceStore,
    MemoryRateLimiter, MemorySessionStore,
};
use webchat_ports::contract::{self, ManualTimeControl, TimeControl};
use webchat_ports::{
    Announcer, CacheThenPublish, EventBus, MessageCache, PresenceStore, RateLimiter, SessionStore,
};

#[tokio::test]
async fn user_repository_conforms() {
    contract::user_repository_contract(|| async { repositories() }).await;
}

#[tokio::test]
async fn chat_repository_conforms() {
    contract::chat_repository_contract(|| async { repositories() }).await;
}

#[tokio::test]
async fn message_repository_conforms() {
    contract::message_repository_contract(|| async { repositories() }).await;
}

#[tokio::test]
async fn session_store_conforms() {
    contract::session_store_contract(|| async {
        let time = ManualTimeControl::new();
        let store: Arc<dyn SessionStore> = Arc::new(MemorySessionStore::new(time.manual_clock()));
        (store, Arc::new(time) as Arc<dyn TimeControl>)
    })
    .await;
}

#[tokio::test]
async fn rate_limiter_conforms() {
    contract::rate_limiter_contract(|| async {
        let time = ManualTimeControl::new();
        let limiter: Arc<dyn RateLimiter> = Arc::new(MemoryRateLimiter::new(time.manual_clock()));
        (limiter, Arc::new(time) as Arc<dyn TimeControl>)
    })
    .await;
}

#[tokio::test]
async fn presence_store_conforms() {
    contract::presence_store_contract(|config| async move {
        let time = ManualTimeControl::new();
        let store: Arc<dyn PresenceStore> =
            Arc::new(MemoryPresenceStore::new(config, time.manual_clock()));
        (store, Arc::new(time) as Arc<dyn TimeControl>)
    })
    .await;
}

#[tokio::test]
async fn message_cache_conforms() {
    contract::message_cache_contract(|config| async move {
        let time = ManualTimeControl::new();
        let cache: Arc<dyn MessageCache> =
            Arc::new(MemoryMessageCache::new(config, time.manual_clock()));
        (cache, Arc::new(time) as Arc<dyn TimeControl>)
    })
    .await;
}

#[tokio::test]
async fn announcer_conforms() {
    contract::announcer_contract(|config| async move {
        let time = ManualTimeControl::new();
        let cache: Arc<dyn MessageCache> =
            Arc::new(MemoryMessageCache::new(config, time.manual_clock()));
        let bus: Arc<dyn EventBus> = Arc::new(MemoryEventBus::new());
        let announcer: Arc<dyn Announcer> =
            Arc::new(CacheThenPublish::new(Arc::clone(&cache), Arc::clone(&bus)));
        (announcer, cache, bus)
    })
    .await;
}

#[tokio::test]
async fn event_bus_conforms() {
    contract::event_bus_contract(|| async { Arc::new(MemoryEventBus::new()) as Arc<dyn EventBus> })
        .await;
}
