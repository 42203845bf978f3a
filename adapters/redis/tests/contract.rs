//! Every conformance suite of `webchat_ports::contract` against the real Redis,
//! each store under its own key prefix.

mod common;

use std::sync::Arc;

use webchat_ports::contract::{
    presence_store_contract, rate_limiter_contract, session_store_contract,
};
use webchat_ports::{PresenceConfig, PresenceStore, RateLimiter, SessionStore};
use webchat_redis::{RedisPresenceStore, RedisRateLimiter, RedisSessionStore};

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
