//! The Redis adapters on a Redis Cluster of the test's own (three masters on free
//! ports): every port conformance suite, keys spread over the masters, admin
//! commands that walk every master, and shard subscriptions that survive a slot
//! migration and a node restart.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use webchat_domain::{ChatId, Event, Topic, UserId};
use webchat_ports::contract::{
    announcer_contract, event_bus_contract, message_cache_contract, presence_store_contract,
    rate_limiter_contract, session_store_contract,
};
use webchat_ports::{
    Announcer, CacheConfig, EventBus, EventStream, MessageCache, PresenceConfig, PresenceStore,
    RateLimiter, SessionStore,
};
use webchat_redis::testing::key_slot;
use webchat_redis::{
    RedisAnnouncer, RedisBackend, RedisEventBus, RedisMessageCache, RedisMode, RedisPresenceStore,
    RedisRateLimiter, RedisSessionStore,
};

use common::{cluster_backend, unique_prefix, AcrossProcesses, OwnCluster};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_port_conforms_on_a_cluster() {
    let Some(cluster) = OwnCluster::new(3) else {
        return;
    };
    let cluster = Arc::new(cluster);
    let backend = {
        let cluster = Arc::clone(&cluster);
        move || cluster_backend(&cluster, &unique_prefix())
    };
    assert_eq!(backend().mode(), RedisMode::Cluster);

    let make = backend.clone();
    presence_store_contract(move |config: PresenceConfig| {
        let b = make();
        async move {
            let store: Arc<dyn PresenceStore> = Arc::new(RedisPresenceStore::new(b, config));
            (store, common::real_time())
        }
    })
    .await;
    let make = backend.clone();
    session_store_contract(move || {
        let b = make();
        async move {
            let store: Arc<dyn SessionStore> = Arc::new(RedisSessionStore::new(b));
            (store, common::real_time())
        }
    })
    .await;
    let make = backend.clone();
    rate_limiter_contract(move || {
        let b = make();
        async move {
            let limiter: Arc<dyn RateLimiter> = Arc::new(RedisRateLimiter::new(b));
            (limiter, common::real_time())
        }
    })
    .await;
    let make = backend.clone();
    message_cache_contract(move |config: CacheConfig| {
        let b = make();
        async move {
            let cache: Arc<dyn MessageCache> = Arc::new(RedisMessageCache::new(b, config));
            (cache, common::real_time())
        }
    })
    .await;
    let make = backend.clone();
    announcer_contract(move |config: CacheConfig| {
        let b = make();
        async move {
            let announcer: Arc<dyn Announcer> =
                Arc::new(RedisAnnouncer::new(b.clone(), config.clone()));
            let cache: Arc<dyn MessageCache> = Arc::new(RedisMessageCache::new(b.clone(), config));
            let bus: Arc<dyn EventBus> = Arc::new(RedisEventBus::new(b));
            (announcer, cache, bus)
        }
    })
    .await;
    let make = backend.clone();
    event_bus_contract(move || {
        let b = make();
        async move {
            let bus: Arc<dyn EventBus> = Arc::new(RedisEventBus::new(b));
            bus
        }
    })
    .await;
    let shared = Arc::clone(&cluster);
    event_bus_contract(move || {
        let prefix = unique_prefix();
        let (a, b) = (
            cluster_backend(&shared, &prefix),
            cluster_backend(&shared, &prefix),
        );
        async move {
            let bus: Arc<dyn EventBus> = Arc::new(AcrossProcesses {
                publisher: RedisEventBus::new(a),
                subscriber: RedisEventBus::new(b),
            });
            bus
        }
    })
    .await;
}

/// How many keys each master holds (`DBSIZE`), by node index.
fn keys_per_node(cluster: &OwnCluster) -> Vec<u64> {
    (0..3)
        .map(|i| cluster.cli(i, &["dbsize"]).parse().unwrap_or(0))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_of_ten_thousand_chats_spread_evenly_and_admin_walks_every_master() {
    let Some(cluster) = OwnCluster::new(3) else {
        return;
    };
    let backend = cluster_backend(&cluster, &unique_prefix());
    let cache = RedisMessageCache::new(backend.clone(), CacheConfig::default());
    let presence = RedisPresenceStore::new(backend.clone(), PresenceConfig::default());
    let chats: Vec<ChatId> = (0..10_000).map(|_| ChatId::new()).collect();
    // Each chat: a window (warm_up), a copy and an index (cache_read); and 1,000
    // users online (a record, a socket set, their slots' online sets).
    let messages: Vec<_> = chats.iter().map(|c| common::message(*c, 1)).collect();
    futures::stream::iter(messages.chunks(500))
        .for_each_concurrent(4, |chunk| {
            let cache = cache.clone();
            async move {
                cache.cache_read(chunk).await.expect("cache_read");
                for m in chunk {
                    cache
                        .warm_up(m.chat_id, std::slice::from_ref(m), 1)
                        .await
                        .expect("warm_up");
                }
            }
        })
        .await;
    let instance = webchat_domain::InstanceId::random();
    presence.heartbeat_instance(&instance).await.unwrap();
    for _ in 0..1000 {
        let socket = webchat_domain::SocketId::new(&instance, uuid::Uuid::new_v4());
        presence.set_online(UserId::new(), &socket).await.unwrap();
    }

    let per_node = keys_per_node(&cluster);
    let total: u64 = per_node.iter().sum();
    assert!(
        total >= 30_000,
        "every chat's keys were written: {per_node:?}"
    );
    for (node, keys) in per_node.iter().enumerate() {
        let share = *keys as f64 / total as f64;
        println!("node {node}: {keys} keys ({:.1}%)", share * 100.0);
        assert!(
            share <= 0.40,
            "node {node} holds {:.1}% of the keys: {per_node:?}",
            share * 100.0
        );
    }
    // Every key of one chat on one slot.
    let prefix = backend.key_prefix().to_owned();
    let chat = chats[0];
    let slots: Vec<u16> = ["chat:recent", "chat:changed", "chat:messages"]
        .iter()
        .map(|k| key_slot(&format!("{prefix}{k}:{{{chat}}}")))
        .collect();
    assert!(slots.iter().all(|s| *s == slots[0]), "{slots:?}");

    // Admin: stats and the clear commands see every master's keys.
    let stats = cache.stats().await.expect("stats");
    assert_eq!(stats.total_chats, 10_000);
    assert_eq!(stats.total_cached_messages, 10_000);
    // Online pages merge the slots of every master by id.
    let (mut seen, mut after) = (Vec::new(), None);
    loop {
        let page = presence.online_page(after, 200).await.expect("online page");
        assert_eq!(page.total, 1000, "every page counts everyone online");
        let Some(last) = page.users.last() else { break };
        after = Some(last.user_id);
        seen.extend(page.users.iter().map(|p| p.user_id));
    }
    assert_eq!(seen.len(), 1000, "every online user once");
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "pages in id order");
    let removed = cache.clear_all().await.expect("clear cache");
    assert!(removed >= 30_000, "clear-cache removed {removed}");
    let removed = presence.clear_all().await.expect("clear presence");
    assert!(removed >= 2000, "clear-presence removed {removed}");
    assert_eq!(
        keys_per_node(&cluster),
        vec![0, 0, 0],
        "nothing is left on any master"
    );
}

/// Waits for the next event of `stream`, at most `limit`.
async fn next_within(stream: &mut EventStream, limit: Duration) -> Option<Arc<Event>> {
    tokio::time::timeout(limit, stream.next())
        .await
        .ok()
        .flatten()
}

fn typing(chat: ChatId, n: u128) -> Event {
    Event::Typing {
        chat_id: chat,
        user_id: UserId::from_uuid(uuid::Uuid::from_u128(n)),
    }
}

/// Publishes on A until B's stream delivers one (at most `limit`).
async fn delivered_again(
    bus_a: &RedisEventBus,
    stream: &mut EventStream,
    chat: ChatId,
    limit: Duration,
) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    let mut n = 1_000_000;
    while tokio::time::Instant::now() < deadline {
        n += 1;
        let _ = bus_a.publish(&typing(chat, n)).await;
        if next_within(stream, Duration::from_millis(200))
            .await
            .is_some()
        {
            return true;
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shard_subscriptions_survive_a_slot_migration_and_a_node_restart() {
    let Some(mut cluster) = OwnCluster::new(3) else {
        return;
    };
    let prefix = unique_prefix();
    let (a, b): (RedisBackend, RedisBackend) = (
        cluster_backend(&cluster, &prefix),
        cluster_backend(&cluster, &prefix),
    );
    let (bus_a, bus_b) = (RedisEventBus::new(a.clone()), RedisEventBus::new(b.clone()));
    let mut notices = bus_b.reconnects();
    // One chat per master, so each fault hits a subscribed channel.
    let mut chats: HashMap<usize, ChatId> = HashMap::new();
    while chats.len() < 3 {
        let chat = ChatId::new();
        let slot = key_slot(&format!("{prefix}chat:{{{chat}}}"));
        chats.entry(cluster.owner(slot)).or_insert(chat);
    }
    let mut streams = Vec::new();
    for node in 0..3 {
        streams.push(bus_b.subscribe(&Topic::Chat(chats[&node])).await.unwrap());
    }
    for node in 0..3 {
        bus_a.publish(&typing(chats[&node], 1)).await.unwrap();
        assert!(next_within(&mut streams[node], Duration::from_secs(5))
            .await
            .is_some());
    }

    // The slot of node 0's chat moves to node 1: the server drops the shard
    // subscription, and B subscribes it again on its new master.
    let moved = chats[&0];
    let slot = key_slot(&format!("{prefix}chat:{{{moved}}}"));
    // Blocking redis-cli calls, on this thread: the runtime's other worker keeps
    // the connections served meanwhile.
    tokio::task::block_in_place(|| cluster.migrate_slot(slot, 1));
    assert_eq!(cluster.owner(slot), 1);
    assert!(
        delivered_again(&bus_a, &mut streams[0], moved, Duration::from_secs(5)).await,
        "events of a chat whose slot moved reach the subscriber again within 5 s"
    );
    assert!(
        tokio::time::timeout(Duration::from_secs(5), notices.next())
            .await
            .is_ok(),
        "the lost subscription is announced as a reconnect (gaps are filled)"
    );

    // Node 2 restarts (its data kept in its append-only file).
    tokio::task::block_in_place(|| {
        cluster.stop(2);
        std::thread::sleep(Duration::from_millis(500));
        cluster.start(2).expect("node 2 restarts");
        cluster
            .wait_ok(Duration::from_secs(20))
            .expect("cluster ok again");
    });
    assert!(
        delivered_again(&bus_a, &mut streams[2], chats[&2], Duration::from_secs(10)).await,
        "events of a chat on a restarted master reach the subscriber again"
    );
    for node in [0, 1] {
        assert!(
            delivered_again(
                &bus_a,
                &mut streams[node],
                chats[&node],
                Duration::from_secs(5)
            )
            .await,
            "the other masters' chats still deliver"
        );
    }
    a.shutdown().await;
    b.shutdown().await;
}

/// The cap's last step (deleting the ended sessions' keys, on other slots than the
/// index) lost: a session the index no longer holds cannot refresh, and its key goes
/// with the attempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_dropped_from_its_index_cannot_refresh_on_a_cluster() {
    let Some(cluster) = OwnCluster::new(3) else {
        return;
    };
    let prefix = unique_prefix();
    let store = RedisSessionStore::new(cluster_backend(&cluster, &prefix));
    let now = chrono::Utc::now();
    let user = UserId::new();
    let session = webchat_domain::UserSession {
        id: webchat_domain::SessionId::new(),
        user_id: user,
        created_at: now,
        expires_at: now + chrono::Duration::hours(1),
        ip: None,
        user_agent: None,
        refresh_token_hash: "old".to_owned(),
    };
    assert_eq!(store.create(&session, 100).await.unwrap(), 0);
    // What session_cap.lua does to a session it ends, without the UNLINK after it.
    let index = format!("{prefix}user:sessions:{{{user}}}");
    let removed = cluster.cli(0, &["-c", "ZREM", &index, &session.id.to_string()]);
    assert_eq!(removed, "1", "the entry was indexed");
    assert!(store.get(session.id).await.unwrap().is_some());

    let next = webchat_domain::UserSession {
        refresh_token_hash: "new".to_owned(),
        ..session.clone()
    };
    assert!(
        !store.rotate(&next, "old").await.unwrap(),
        "a session its index does not hold cannot refresh"
    );
    assert_eq!(
        store.get(session.id).await.unwrap(),
        None,
        "and it ends with the attempt"
    );
}
