//! Multi-step writes are atomic: two "instances" (backends) racing on one user, one
//! counter or one chat's cache cannot leave the state half-written or stale.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{edited, history, message, pinned};
use futures::future::join_all;
use uuid::Uuid;
use webchat_domain::{
    ChatId, InstanceId, Message, PresenceStatus, RateLimitPolicy, SocketId, UserId,
};
use webchat_ports::{CacheConfig, MessageCache, PresenceConfig, PresenceStore, RateLimiter};
use webchat_redis::{RedisMessageCache, RedisPresenceStore, RedisRateLimiter};

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
        assert!(stores[0]
            .online_page(None, 10)
            .await
            .unwrap()
            .users
            .is_empty());
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
    let key = format!("{prefix}throttle:race:{{ip}}:/api/x");
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
    let bare = format!("{prefix}throttle:race:{{bare}}:/api/x");
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

/// Rounds per cache race: each runs the racing calls from two instances at once.
const ROUNDS: usize = 60;

/// Two instances' caches over one prefix (a reader and a writer), and the prefix.
fn two_caches(url: &str) -> (Arc<dyn MessageCache>, Arc<dyn MessageCache>, String) {
    let prefix = common::unique_prefix();
    let config = CacheConfig {
        ttl: Duration::from_secs(600),
        read_ttl: Duration::from_secs(300),
    };
    let make = || {
        Arc::new(RedisMessageCache::new(
            common::backend_with_prefix(url, &prefix),
            config.clone(),
        )) as Arc<dyn MessageCache>
    };
    (make(), make(), prefix)
}

/// Lets the other side of a race go first in some rounds.
async fn stagger(round: usize) {
    for _ in 0..round % 4 {
        tokio::task::yield_now().await;
    }
}

fn window_entry(window: &[Message], m: &Message) -> Option<Message> {
    window.iter().find(|w| w.id == m.id).cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_aside_read_racing_an_edit_never_puts_the_older_version_back() {
    let Some(url) = common::redis_or_skip().await else {
        return;
    };
    let (reader, writer, prefix) = two_caches(&url);

    // The reader fetched v1, then the writer's edit (v2) was written through.
    let chat = ChatId::new();
    let v1 = message(chat, 1);
    let v2 = edited(&v1, 2);
    assert_eq!(
        reader.get_cached(v1.id).await.unwrap(),
        None,
        "nothing cached"
    );
    writer.update_cached(&v2).await.unwrap();
    reader.cache_read(std::slice::from_ref(&v1)).await.unwrap();
    assert_eq!(
        reader.get_cached(v1.id).await.unwrap(),
        Some(v2.clone()),
        "a reader that found nothing cached cannot write v1 after the writer's fence"
    );
    // The reader's copy landed first: the edit replaces it.
    let w1 = message(chat, 2);
    let w2 = edited(&w1, 3);
    reader.cache_read(std::slice::from_ref(&w1)).await.unwrap();
    writer.update_cached(&w2).await.unwrap();
    assert_eq!(reader.get_cached(w1.id).await.unwrap(), Some(w2));

    for round in 0..ROUNDS {
        let v1 = message(chat, 10 + round as i64);
        let v2 = edited(&v1, 1000 + round as i64);
        let (read, write) = tokio::join!(
            async {
                stagger(round).await;
                reader.cache_read(std::slice::from_ref(&v1)).await
            },
            async {
                stagger(round + 2).await;
                writer.update_cached(&v2).await
            }
        );
        read.unwrap();
        write.unwrap();
        assert_eq!(
            reader.get_cached(v1.id).await.unwrap(),
            Some(v2),
            "round {round}: the cached copy is the edit, whichever write landed first"
        );
    }
    common::wipe(&url, &prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_up_racing_an_edit_and_a_send_never_installs_a_stale_window() {
    let Some(url) = common::redis_or_skip().await else {
        return;
    };
    let (reader, writer, prefix) = two_caches(&url);
    for round in 0..ROUNDS {
        let chat = ChatId::new();
        let read = history(chat, 5); // what the reader got at pts 5
        if round % 3 == 0 {
            // Some rounds start with a window, so the writes go into it.
            writer.warm_up(chat, &read, 5).await.unwrap();
        }
        let edit = edited(&read[2], 6);
        let mut sent = message(chat, 6);
        sent.version = 7;
        let (warmed, wrote) = tokio::join!(
            async {
                stagger(round).await;
                reader.warm_up(chat, &read, 5).await
            },
            async {
                stagger(round + 1).await;
                writer.update_cached(&edit).await?;
                writer.cache_message(&sent).await
            }
        );
        warmed.unwrap();
        wrote.unwrap();
        if let Some(window) = reader.recent(chat, 100).await.unwrap() {
            assert_eq!(
                window_entry(&window, &edit),
                Some(edit.clone()),
                "round {round}: a window never holds the version before the edit"
            );
            assert_eq!(
                window.first(),
                Some(&sent),
                "round {round}: a window never lacks the send"
            );
        }
    }
    common::wipe(&url, &prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_read_racing_a_pin_or_unpin_never_caches_the_old_set() {
    let Some(url) = common::redis_or_skip().await else {
        return;
    };
    let (reader, writer, prefix) = two_caches(&url);
    for round in 0..ROUNDS {
        let chat = ChatId::new();
        let m = history(chat, 3);
        let was_pinned = round % 2 == 1;
        // What the reader read at pts 5, and the change committed at pts 6.
        let before = pinned(&m[1], was_pinned, 5);
        let after = pinned(&m[1], !was_pinned, 6);
        let read: Vec<Message> = if was_pinned { vec![before] } else { vec![] };
        if round % 3 == 0 {
            writer.cache_pinned(chat, &read, 5).await.unwrap();
        }
        let (cached, changed) = tokio::join!(
            async {
                stagger(round).await;
                reader.cache_pinned(chat, &read, 5).await
            },
            async {
                stagger(round + 1).await;
                writer.update_cached(&after).await
            }
        );
        cached.unwrap();
        changed.unwrap();
        if let Some(set) = reader.pinned(chat).await.unwrap() {
            let expected = if was_pinned {
                vec![]
            } else {
                vec![after.clone()]
            };
            assert_eq!(
                set,
                expected,
                "round {round}: a cached pinned set reflects the {}",
                if was_pinned { "unpin" } else { "pin" }
            );
        }
    }
    common::wipe(&url, &prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_racing_a_pin_or_a_late_send_never_brings_the_message_back() {
    let Some(url) = common::redis_or_skip().await else {
        return;
    };
    let (one, two, prefix) = two_caches(&url);
    for round in 0..ROUNDS {
        // A pin (pts 5) and the delete (pts 6) of seq 2, written through at once.
        let chat = ChatId::new();
        let m = history(chat, 3);
        one.warm_up(chat, &m, 3).await.unwrap();
        one.cache_pinned(chat, &[], 4).await.unwrap();
        let pin = pinned(&m[1], true, 5);
        let (pinning, deleting) = tokio::join!(
            async {
                stagger(round).await;
                one.update_cached(&pin).await
            },
            async {
                stagger(round + 1).await;
                two.delete_cached(chat, pin.id, 6).await
            }
        );
        pinning.unwrap();
        deleting.unwrap();
        assert_eq!(one.get_cached(pin.id).await.unwrap(), None, "round {round}");
        assert_eq!(
            one.pinned(chat).await.unwrap(),
            Some(vec![]),
            "round {round}: the deleted message is not pinned"
        );
        assert_eq!(one.recent(chat, 10).await.unwrap(), None, "round {round}");

        // The send of seq 4 (pts 7) announced late, racing its delete (pts 8) and a
        // read that warms the window right after the delete.
        let mut late = message(chat, 4);
        late.version = 7;
        let after_delete = history(chat, 3);
        // Every third round the send waits for the warm-up: the order that needs the
        // tombstone check after the push.
        let (warmed, warm) = tokio::sync::oneshot::channel::<()>();
        let (sending, deleting) = tokio::join!(
            async {
                if round % 3 == 0 {
                    let _ = warm.await;
                } else {
                    stagger(round).await;
                }
                one.cache_message(&late).await
            },
            async {
                stagger(round + 1).await;
                two.delete_cached(chat, late.id, 8).await?;
                let done = two.warm_up(chat, &after_delete, 8).await;
                let _ = warmed.send(());
                done
            }
        );
        sending.unwrap();
        deleting.unwrap();
        if let Some(window) = one.recent(chat, 10).await.unwrap() {
            assert!(
                window_entry(&window, &late).is_none(),
                "round {round}: a window never holds the deleted message"
            );
        }
    }
    common::wipe(&url, &prefix).await;
}
