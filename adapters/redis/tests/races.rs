//! Multi-step writes are atomic: two "instances" (backends) racing on one user or
//! one counter cannot leave the state half-written.

mod common;

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use uuid::Uuid;
use webchat_domain::{InstanceId, PresenceStatus, RateLimitPolicy, SocketId, UserId};
use webchat_ports::{PresenceConfig, PresenceStore, RateLimiter};
use webchat_redis::{RedisPresenceStore, RedisRateLimiter};

const SOCKETS: usize = 24;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_instances_agree_on_presence() {
    let Some(url) = common::redis_or_skip().await else {
        return;
    };
    let prefix = common::unique_prefix();
    let stores: Vec<Arc<dyn PresenceStore>> = (0..2)
        .map(|_| {
            let backend = common::backend_with_prefix(&url, &prefix);
            Arc::new(RedisPresenceStore::new(backend, PresenceConfig::default()))
                as Arc<dyn PresenceStore>
        })
        .collect();
    let instances = [InstanceId::random(), InstanceId::random()];
    let user = UserId::new();
    let sockets: Vec<(usize, SocketId)> = (0..SOCKETS)
        .map(|i| (i % 2, SocketId::new(&instances[i % 2], Uuid::new_v4())))
        .collect();

    for round in 0..3 {
        let ups = join_all(sockets.iter().map(|(i, s)| stores[*i].set_online(user, s))).await;
        let changed = ups
            .into_iter()
            .map(|r| r.unwrap())
            .filter(|c| c.changed)
            .count();
        assert_eq!(
            changed, 1,
            "round {round}: exactly one racing set_online reports the change"
        );
        assert!(online(&stores[0], user).await);

        let downs = join_all(
            sockets
                .iter()
                .map(|(i, s)| stores[1 - *i].set_offline(user, s)),
        )
        .await;
        let downs: Vec<_> = downs.into_iter().map(|r| r.unwrap()).collect();
        assert_eq!(
            downs.iter().filter(|c| c.changed).count(),
            1,
            "round {round}: exactly one racing set_offline (the last socket) reports the change"
        );
        let last = downs.iter().find(|c| c.changed).unwrap();
        assert_eq!(last.presence.status, PresenceStatus::Offline);
        assert!(
            !online(&stores[1], user).await,
            "offline once every socket went"
        );
        assert!(stores[0].online_users().await.unwrap().is_empty());
    }

    // Half the sockets leave while the other half arrives: the user must end online.
    for (i, s) in &sockets[..SOCKETS / 2] {
        stores[*i].set_online(user, s).await.unwrap();
    }
    let leaving = sockets[..SOCKETS / 2]
        .iter()
        .map(|(i, s)| stores[*i].set_offline(user, s));
    let arriving = sockets[SOCKETS / 2..]
        .iter()
        .map(|(i, s)| stores[*i].set_online(user, s));
    let (left, arrived) = tokio::join!(join_all(leaving), join_all(arriving));
    assert!(left.iter().chain(arrived.iter()).all(|r| r.is_ok()));
    assert!(
        online(&stores[0], user).await,
        "a user with sockets left is online"
    );
    for (i, s) in &sockets[SOCKETS / 2..] {
        stores[*i].set_offline(user, s).await.unwrap();
    }
    assert!(
        !online(&stores[0], user).await,
        "and offline after the last one"
    );
    common::wipe(&url, &prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttle_counters_always_carry_their_window() {
    let Some(url) = common::redis_or_skip().await else {
        return;
    };
    let prefix = common::unique_prefix();
    let limiters: Vec<RedisRateLimiter> = (0..2)
        .map(|_| RedisRateLimiter::new(common::backend_with_prefix(&url, &prefix)))
        .collect();
    let policy = RateLimitPolicy::new("race", 30, Duration::from_secs(30)).unwrap();
    let hits = (0..40).map(|n| limiters[n % 2].hit(&policy, "ip", "/api/x"));
    let decisions: Vec<_> = join_all(hits)
        .await
        .into_iter()
        .map(|d| d.unwrap())
        .collect();
    assert_eq!(
        decisions.iter().filter(|d| d.allowed).count(),
        30,
        "two instances count one window exactly"
    );

    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let key = format!("{prefix}throttle:race:ip:/api/x");
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        ttl > 0 && ttl <= 30_000,
        "the counter has the window as TTL, PTTL {ttl}"
    );

    // A counter left without a TTL (e.g. by an older writer) gets one on the next hit.
    let bare = format!("{prefix}throttle:race:bare:/api/x");
    redis::cmd("SET")
        .arg(&bare)
        .arg(5)
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    let d = limiters[0].hit(&policy, "bare", "/api/x").await.unwrap();
    assert_eq!(d.remaining, 24);
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&bare)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(ttl > 0, "a counter is never left without a TTL, PTTL {ttl}");
    common::wipe(&url, &prefix).await;
}

/// Online or away, as the store says.
async fn online(store: &Arc<dyn PresenceStore>, user: UserId) -> bool {
    store
        .get_presence(user)
        .await
        .unwrap()
        .is_some_and(|p| p.status != PresenceStatus::Offline)
}
