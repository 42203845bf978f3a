//! Two webchat instances on a Redis Cluster of the test's own (three masters on
//! free ports, `REDIS_CLUSTER_NODES`): they behave as one server (delivery across
//! instances, presence, sessions, throttling, ordered delivery, admin), and a
//! slot migrated and a master restarted in the middle of a stream of sends lose
//! nothing that was acknowledged.

#[path = "common/mod.rs"]
mod common;
#[allow(dead_code)]
#[path = "delivery/support.rs"]
mod support;

use std::time::Duration;

use common::{create_chat, unique, user_id, TestServer, Ws};
use futures::future::join_all;
use serde_json::json;
use webchat::app::wiring::{build_with, Backends};
use webchat::config::Config;
use webchat_memory::memory_repositories;
use webchat_redis::testing::{key_slot, unique_prefix, OwnCluster};

use support::{assert_exactly_once_in_order, chat_of, on, users, Socket};

/// How long a test waits for a frame that should come.
pub const WAIT: Duration = Duration::from_secs(5);

fn config(nodes: &str, prefix: &str, instance: &str, strict: &str) -> Config {
    let mut config = Config::from_lookup(|k| {
        Some(match k {
            "REDIS_CLUSTER_NODES" => nodes.to_owned(),
            "WEBCHAT_KEY_PREFIX" => prefix.to_owned(),
            "WEBCHAT_JWT_SECRET" => "cluster-test-secret-of-more-than-32-bytes".to_owned(),
            "WEBCHAT_INSTANCE_ID" => instance.to_owned(),
            "WEBCHAT_THROTTLE_STRICT" => strict.to_owned(),
            "WEBCHAT_THROTTLE_DEFAULT" => "100000/60".to_owned(),
            _ => return None,
        })
    })
    .expect("valid test configuration");
    config.port = 0;
    config
}

struct Instances {
    a: TestServer,
    b: TestServer,
    backends: Vec<Backends>,
    prefix: String,
    line: String,
}

impl Instances {
    async fn start(cluster: &OwnCluster, strict: &str) -> Self {
        let prefix = unique_prefix();
        let repos = memory_repositories();
        let mut servers = Vec::new();
        let mut backends = Vec::new();
        let mut line = String::new();
        for instance in ["cl-a", "cl-b"] {
            let config = config(&cluster.nodes_var(), &prefix, instance, strict);
            let (app, b) = build_with(&config, repos.clone(), None)
                .await
                .expect("instance builds");
            line = app.backends.clone();
            servers.push(TestServer::start(app).await);
            backends.push(b);
        }
        let b = servers.pop().unwrap();
        let a = servers.pop().unwrap();
        Self {
            a,
            b,
            backends,
            prefix,
            line,
        }
    }

    async fn stop(self) {
        self.a.stop().await;
        self.b.stop().await;
        for b in &self.backends {
            b.shutdown().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_a_cluster_behave_as_one() {
    let Some(cluster) = OwnCluster::new(3) else {
        return;
    };
    let node = Instances::start(&cluster, "10/60").await;
    assert!(
        node.line.contains("redis_mode=cluster"),
        "the startup line names the Redis mode: {}",
        node.line
    );

    // Delivery across instances, and chat.joined through a user's shard channel.
    let (alice_a, _) = node.a.client().signup(&unique("a")).await;
    let (bob_b, bob_login) = node.b.client().signup(&unique("b")).await;
    let mut bob_ws = Ws::connect(node.b.addr, bob_b.token()).await;
    bob_ws.sync().await;
    let chat = create_chat(&alice_a, "cluster", &[&user_id(&bob_login)]).await;
    assert_eq!(
        bob_ws.expect("chat.joined").await["chat"]["id"],
        chat.as_str()
    );
    let sent = alice_a
        .post(
            &format!("/api/chats/{chat}/messages"),
            json!({"content": "across"}),
        )
        .await;
    assert_eq!(sent.status, 201);
    assert_eq!(
        bob_ws.expect("message.created").await["message"]["id"],
        sent.body["id"]
    );

    // Presence: Alice's socket on A sees Bob (on B) come and go.
    let mut alice_ws = Ws::connect(node.a.addr, alice_a.token()).await;
    alice_ws.sync().await;
    let online = alice_a.get("/api/users/online").await;
    assert!(
        online.body["users"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["user_id"] == user_id(&bob_login).as_str()),
        "B's user is online as seen from A: {}",
        online.body
    );
    bob_ws.close().await;
    let gone = alice_ws.expect("presence").await;
    assert_eq!(gone["status"], "offline");
    let back = Ws::connect(node.b.addr, bob_b.token()).await;
    assert_eq!(alice_ws.expect("presence").await["status"], "online");
    back.close().await;

    // Throttling: sends through A and B count against one window.
    let path = format!("/api/chats/{chat}/messages");
    let alice_b = on(&node.b, &alice_a);
    for i in 0..9 {
        let api = if i % 2 == 0 { &alice_a } else { &alice_b };
        assert_eq!(
            api.post(&path, json!({"content": format!("{i}")}))
                .await
                .status,
            201
        );
    }
    let refused = alice_b.post(&path, json!({"content": "11th"})).await;
    assert_eq!(refused.status, 429, "A and B count together");

    // Sessions: a logout on A is a logout on B.
    assert_eq!(alice_b.get("/api/users/me").await.status, 200);
    assert_eq!(alice_a.post_empty("/api/auth/logout").await.status, 204);
    assert_eq!(
        alice_b.get("/api/users/me").await.status,
        401,
        "revoked everywhere"
    );

    // Admin: stats and the clear commands reach every master. A read by id caches
    // a copy and indexes it under its chat.
    let id = sent.body["id"].as_str().unwrap();
    assert_eq!(bob_b.get(&format!("/api/messages/{id}")).await.status, 200);
    let admin = &node.a.app.admin;
    let stats = admin.stats().await.expect("stats");
    assert!(stats.total_chats >= 1, "{stats:?}");
    assert!(admin.clear_cache().await.expect("clear-cache") >= 1);
    assert_eq!(admin.stats().await.expect("stats").total_chats, 0);
    assert!(admin.clear_presence().await.expect("clear-presence") >= 1);
    assert!(admin.clear_sessions().await.expect("clear-sessions") >= 1);
    assert_eq!(
        bob_b.get("/api/users/me").await.status,
        401,
        "sessions cleared on every master"
    );
    alice_ws.close().await;
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_senders_on_two_instances_on_a_cluster_deliver_once_in_order() {
    let Some(cluster) = OwnCluster::new(3) else {
        return;
    };
    let node = Instances::start(&cluster, "100000/60").await;
    const SENDERS: usize = 4;
    const EACH: usize = 30;
    let servers = [&node.a, &node.b];
    let people = users(&servers, SENDERS, "r").await;
    let chat = chat_of(&people).await;
    let mut sockets = Vec::new();
    for (i, (api, _)) in people.iter().enumerate() {
        sockets.push(Socket::connect(servers[i % 2], api.token()).await);
    }
    let total = SENDERS * EACH;
    let expected: Vec<i64> = (1..=total as i64).collect();
    let results = join_all(sockets.into_iter().enumerate().map(|(i, mut socket)| {
        let chat = chat.clone();
        async move {
            for n in 0..EACH {
                socket.send(&chat, &format!("s{i} n{n}")).await;
            }
            let seqs = socket
                .created_in(&chat, total, Duration::from_secs(30))
                .await;
            (i, seqs, socket)
        }
    }))
    .await;
    for (i, seqs, socket) in results {
        assert_exactly_once_in_order(&format!("socket {i}"), &seqs, &expected);
        socket.close().await;
    }
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_migrated_and_a_master_restarted_mid_stream_lose_nothing_acknowledged() {
    let Some(mut cluster) = OwnCluster::new(3) else {
        return;
    };
    let node = Instances::start(&cluster, "100000/60").await;
    let people = users(&[&node.a, &node.b], 3, "f").await;
    let chat = chat_of(&people).await;
    let senders = vec![on(&node.a, &people[0].0), on(&node.b, &people[0].0)];
    let mut on_a = Socket::connect(&node.a, people[1].0.token()).await;
    let mut on_b = Socket::connect(&node.b, people[2].0.token()).await;
    let slot = key_slot(&format!("{}chat:{{{chat}}}", node.prefix));

    let mut acked = common::send_alternating(&senders, &chat, 20, Duration::from_millis(10)).await;
    // The chat's slot moves to another master while messages keep coming.
    let to = (cluster.owner(slot) + 1) % 3;
    let moving = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        tokio::task::block_in_place(|| cluster.migrate_slot(slot, to));
    };
    let (sent, ()) = tokio::join!(
        common::send_alternating(&senders, &chat, 40, Duration::from_millis(10)),
        moving
    );
    acked += sent;
    assert_eq!(cluster.owner(slot), to);

    // The master now serving the chat restarts while messages keep coming.
    let owner = cluster.owner(slot);
    tokio::task::block_in_place(|| cluster.stop(owner));
    acked += common::send_alternating(&senders, &chat, 10, Duration::from_millis(50)).await;
    tokio::task::block_in_place(|| {
        cluster.start(owner).expect("master restarts");
        cluster
            .wait_ok(Duration::from_secs(20))
            .expect("cluster ok");
    });
    acked += common::send_alternating(&senders, &chat, 20, Duration::from_millis(10)).await;
    assert!(acked >= 80, "most sends were acknowledged: {acked}");

    let expected: Vec<i64> = (1..=acked as i64).collect();
    for (who, socket) in [("socket on A", &mut on_a), ("socket on B", &mut on_b)] {
        let seqs = socket
            .created_in(&chat, acked, Duration::from_secs(15))
            .await;
        assert_exactly_once_in_order(who, &seqs, &expected);
    }
    on_a.close().await;
    on_b.close().await;
    node.stop().await;
}
