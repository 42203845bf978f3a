//! Every conformance suite of `webchat_ports::contract` against the real Redis,
//! each store under its own key prefix.

mod common;

use std::sync::Arc;

use webchat_ports::contract::{
    announcer_contract, event_bus_contract, message_cache_contract, presence_store_contract,
    rate_limiter_contract, session_store_contract,
};
use webchat_ports::{
    Announcer, CacheConfig, EventBus, MessageCache, PresenceConfig, PresenceStore, RateLimiter,
    SessionStore,
};
use webchat_redis::{
    RedisAnnouncer, RedisEventBus, RedisMessageCache, RedisPresenceStore, RedisRateLimiter,
    RedisSessionStore,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_store_conforms() {
    let Some(url) = common::redis_or_skip().await else {
        return;
    };
    let isolation = common::Isolation::new(&url);
    presence_store_contract(|config: PresenceConfig| {
        let isolation = Arc::clone(&isolation);
        async move {
            let store: Arc<dyn PresenceStore> =
                Arc::new(RedisPresenceStore::new(isolation.backend(), config));
            (store, common::real_time())
        }
    })
    .await;
    isolation.wipe().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_store_conforms() {
    let Some(url) = common::redis_or_skip().await else {
        return;
    };
    let isolation = common::Isolation::new(&url);
    session_store_contract(|| {
        let isolation = Arc::clone(&isolation);
        async move {
            let store: Arc<dyn SessionStore> =
                Arc::new(RedisSessionStore::new(isolation.backend()));
            (store, common::real_time())
        }
    })
    .await;
    isolation.wipe().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limiter_conforms() {
    let Some(url) = common::redis_or_skip().await else {
        return;
    };
    let isolation = common::Isolation::new(&url);
    rate_limiter_contract(|| {
        let isolation = Arc::clone(&isolation);
        async move {
            let limiter: Arc<dyn RateLimiter> =
                Arc::new(RedisRateLimiter::new(isolation.backend()));
            (limiter, common::real_time())
        }
    })
    .await;
    isolation.wipe().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_cache_conforms() {
    let Some(url) = common::redis_or_skip().await else {
        return;
    };
    let isolation = common::Isolation::new(&url);
    message_cache_contract(|config: CacheConfig| {
        let isolation = Arc::clone(&isolation);
        async move {
            let cache: Arc<dyn MessageCache> =
                Arc::new(RedisMessageCache::new(isolation.backend(), config));
            (cache, common::real_time())
        }
    })
    .await;
    isolation.wipe().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announcer_conforms() {
    let Some(url) = common::redis_or_skip().await else {
        return;
    };
    let isolation = common::Isolation::new(&url);
    announcer_contract(|config: CacheConfig| {
        let isolation = Arc::clone(&isolation);
        async move {
            let backend = isolation.backend();
            let announcer: Arc<dyn Announcer> =
                Arc::new(RedisAnnouncer::new(backend.clone(), config.clone()));
            let cache: Arc<dyn MessageCache> =
                Arc::new(RedisMessageCache::new(backend.clone(), config));
            let bus: Arc<dyn EventBus> = Arc::new(RedisEventBus::new(backend));
            (announcer, cache, bus)
        }
    })
    .await;
    isolation.wipe().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_bus_conforms() {
    let Some(url) = common::redis_or_skip().await else {
        return;
    };
    let isolation = common::Isolation::new(&url);
    event_bus_contract(|| {
        let isolation = Arc::clone(&isolation);
        async move {
            let bus: Arc<dyn EventBus> = Arc::new(RedisEventBus::new(isolation.backend()));
            bus
        }
    })
    .await;
    isolation.wipe().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_bus_conforms_across_processes() {
    let Some(url) = common::redis_or_skip().await else {
        return;
    };
    event_bus_contract(|| {
        let url = url.clone();
        async move {
            let prefix = common::unique_prefix();
            let bus: Arc<dyn EventBus> = Arc::new(common::AcrossProcesses {
                publisher: RedisEventBus::new(common::backend_with_prefix(&url, &prefix)),
                subscriber: RedisEventBus::new(common::backend_with_prefix(&url, &prefix)),
            });
            bus
        }
    })
    .await;
}
