//! Faults caused on purpose: pub/sub connections killed mid-stream, a publish
//! dropped, a `chat.joined` lost, a deleted message inside a gap. Nothing is skipped
//! or reordered on any socket, local or remote.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;
use serde_json::json;
use webchat_domain::{Event, Topic};
use webchat_ports::{EventBus, EventStream, PortResult};

use crate::support::{
    assert_exactly_once_in_order, chat_of, on, users, BusWrap, Cluster, Options, Socket,
};

const PATIENCE: Duration = Duration::from_secs(15);

/// A bus that silently drops the publications `drop` picks (nobody, not even this
/// process's own subscribers, receives them), as a lost pub/sub message would.
struct Dropping {
    inner: Arc<dyn EventBus>,
    drop: Box<dyn Fn(&Event) -> bool + Send + Sync>,
}

#[async_trait]
impl EventBus for Dropping {
    async fn publish(&self, event: &Event) -> PortResult<()> {
        if (self.drop)(event) {
            return Ok(());
        }
        self.inner.publish(event).await
    }
    async fn subscribe(&self, topic: &Topic) -> PortResult<EventStream> {
        self.inner.subscribe(topic).await
    }
    fn reconnects(&self) -> BoxStream<'static, ()> {
        self.inner.reconnects()
    }
}

fn dropping(pick: impl Fn(&Event) -> bool + Send + Sync + Clone + 'static) -> BusWrap {
    Arc::new(move |inner, _| {
        Arc::new(Dropping {
            inner,
            drop: Box::new(pick.clone()),
        }) as Arc<dyn EventBus>
    })
}

fn created_seq(event: &Event) -> Option<i64> {
    match event {
        Event::MessageCreated { message, .. } => Some(message.seq),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pubsub_connections_killed_repeatedly_lose_and_reorder_nothing() {
    let Some(cluster) = Cluster::start_with(Options {
        own_redis: true,
        ..Options::default()
    })
    .await
    else {
        return;
    };
    let url = cluster.own_redis.as_ref().expect("own redis").url();
    let people = users(&[cluster.a(), cluster.b()], 4, "k").await;
    let chat = chat_of(&people).await;
    let mut sockets = Vec::new();
    for (i, (api, _)) in people.iter().enumerate() {
        sockets.push(Socket::connect(&cluster.servers[i % 2], api.token()).await);
    }
    let killer = tokio::spawn(async move {
        let client = redis::Client::open(url).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        for _ in 0..4 {
            tokio::time::sleep(Duration::from_millis(150)).await;
            let killed: redis::RedisResult<i64> = redis::cmd("CLIENT")
                .arg("KILL")
                .arg("TYPE")
                .arg("pubsub")
                .query_async(&mut conn)
                .await;
            assert!(killed.is_ok(), "CLIENT KILL: {killed:?}");
        }
    });
    // Two senders, one per instance, 30 messages each, paced across the kills.
    let senders: Vec<_> = people[..2]
        .iter()
        .enumerate()
        .map(|(i, (api, _))| {
            let api = on(&cluster.servers[i], api);
            let chat = chat.clone();
            tokio::spawn(async move {
                for n in 0..30 {
                    let r = api
                        .post(
                            &format!("/api/chats/{chat}/messages"),
                            json!({"content": format!("s{i} n{n}")}),
                        )
                        .await;
                    assert_eq!(r.status, 201, "{}", r.body);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
        })
        .collect();
    for s in senders {
        s.await.expect("sender");
    }
    killer.await.expect("killer");
    let expected: Vec<i64> = (1..=60).collect();
    for (i, socket) in sockets.iter_mut().enumerate() {
        let seqs = socket.created_in(&chat, 60, PATIENCE).await;
        assert_exactly_once_in_order(&format!("socket {i} on node-{}", i % 2), &seqs, &expected);
    }
    // The reconnects were seen (and counted) by the socket registries.
    let metrics = webchat::metrics::render().expect("the servers serve /metrics");
    let resubscriptions: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("webchat_pubsub_resubscriptions_total "))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    assert!(resubscriptions >= 1.0, "{metrics}");
    for s in sockets {
        s.close().await;
    }
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_publish_is_filled_in_order_even_as_the_last_message() {
    // Instance 0 drops message 3 (a gap the next message reveals) and message 10
    // (the last: only the periodic repair can find it).
    let Some(cluster) = Cluster::start_with(Options {
        wrap: Some(dropping(|e| matches!(created_seq(e), Some(3 | 10)))),
        ..Options::default()
    })
    .await
    else {
        return;
    };
    let people = users(&[cluster.a(), cluster.b()], 2, "d").await;
    let chat = chat_of(&people).await;
    let mut local = Socket::connect(cluster.a(), people[0].0.token()).await;
    let mut remote = Socket::connect(cluster.b(), people[1].0.token()).await;
    let sender = on(cluster.a(), &people[0].0);
    for n in 1..=10 {
        let r = sender
            .post(
                &format!("/api/chats/{chat}/messages"),
                json!({"content": format!("m{n}")}),
            )
            .await;
        assert_eq!(r.status, 201);
    }
    let expected: Vec<i64> = (1..=10).collect();
    for (who, socket) in [("local", &mut local), ("remote", &mut remote)] {
        let seqs = socket.created_in(&chat, 10, PATIENCE).await;
        assert_exactly_once_in_order(who, &seqs, &expected);
    }
    local.close().await;
    remote.close().await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_message_inside_a_gap_does_not_stall_the_chat() {
    // Message 3 and its deletion never cross the bus; message 4 does.
    let lose = Arc::new(AtomicBool::new(false));
    let switch = lose.clone();
    let Some(cluster) = Cluster::start_with(Options {
        wrap: Some(dropping(move |_| switch.load(Ordering::SeqCst))),
        ..Options::default()
    })
    .await
    else {
        return;
    };
    let people = users(&[cluster.a(), cluster.b()], 2, "g").await;
    let chat = chat_of(&people).await;
    let mut remote = Socket::connect(cluster.b(), people[1].0.token()).await;
    let sender = on(cluster.a(), &people[0].0);
    let send = |text: &'static str| {
        let sender = sender.clone();
        let chat = chat.clone();
        async move {
            let r = sender
                .post(
                    &format!("/api/chats/{chat}/messages"),
                    json!({"content": text}),
                )
                .await;
            assert_eq!(r.status, 201);
            r.body["id"].as_str().unwrap().to_owned()
        }
    };
    send("one").await;
    send("two").await;
    lose.store(true, Ordering::SeqCst);
    let third = send("three").await;
    assert_eq!(
        sender
            .delete(&format!("/api/messages/{third}"))
            .await
            .status,
        204
    );
    lose.store(false, Ordering::SeqCst);
    send("four").await;
    let seqs = remote.created_in(&chat, 3, Duration::from_secs(3)).await;
    assert_exactly_once_in_order("remote", &seqs, &[1, 2, 4]);
    let deleted = remote
        .frames
        .iter()
        .find(|f| f["type"] == "message.deleted")
        .expect("the deletion is delivered too");
    assert_eq!(deleted["message"]["id"], third.as_str());
    remote.close().await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_chat_joined_cannot_leave_a_socket_out_of_its_chat() {
    let Some(cluster) = Cluster::start_with(Options {
        wrap: Some(dropping(|e| matches!(e, Event::ChatJoined { .. }))),
        ..Options::default()
    })
    .await
    else {
        return;
    };
    let people = users(&[cluster.a(), cluster.b()], 2, "j").await;
    let mut bob = Socket::connect(cluster.b(), people[1].0.token()).await;
    // Let the socket settle, as one connected for a while would be.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let chat = chat_of(&people).await;
    let joined = bob.expect("chat.joined", Duration::from_secs(12)).await;
    assert_eq!(joined["chat"]["id"], chat.as_str());
    let r = on(cluster.a(), &people[0].0)
        .post(
            &format!("/api/chats/{chat}/messages"),
            json!({"content": "found you"}),
        )
        .await;
    assert_eq!(r.status, 201);
    let seqs = bob.created_in(&chat, 1, Duration::from_secs(5)).await;
    assert_eq!(seqs, vec![1], "the repaired subscription delivers");
    bob.close().await;
    cluster.stop().await;
}
