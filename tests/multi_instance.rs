//! Two webchat instances sharing one Redis (and, standing in for one database, one
//! set of repositories) behave as one server.

mod common;

use std::time::Duration;

use common::{
    create_chat, direct_login, redis_instance_config, redis_or_skip, unique, unique_prefix,
    user_id, walk_pages, TestServer, Ws,
};
use redis::AsyncCommands;
use serde_json::{json, Value};
use webchat::app::wiring::{build_with, Backends};
use webchat_memory::memory_repositories;

struct Cluster {
    a: TestServer,
    b: TestServer,
    backends: Vec<Backends>,
    prefix: String,
}

impl Cluster {
    async fn start() -> Option<Self> {
        redis_or_skip().await?;
        let prefix = unique_prefix();
        let repos = memory_repositories();
        let mut servers = Vec::new();
        let mut backends = Vec::new();
        for instance in ["node-a", "node-b"] {
            let config = redis_instance_config(&prefix, instance);
            let (app, b) = build_with(&config, repos.clone(), None)
                .await
                .expect("instance builds");
            servers.push(TestServer::start(app).await);
            backends.push(b);
        }
        let b = servers.pop().unwrap();
        let a = servers.pop().unwrap();
        Some(Self {
            a,
            b,
            backends,
            prefix,
        })
    }

    async fn stop(self) {
        self.a.stop().await;
        self.b.stop().await;
        for b in &self.backends {
            b.shutdown().await;
        }
    }
}

#[tokio::test]
async fn a_message_sent_to_b_reaches_a_socket_on_a_and_recovers_on_b() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let (alice_b, _) = cluster.b.client().signup(&unique("a")).await;
    let bob_login = cluster.a.client().signup(&unique("b")).await.1;
    let bob_a = cluster
        .a
        .client()
        .with_token(bob_login["access_token"].as_str().unwrap());
    let chat = create_chat(&alice_b, "x", &[&user_id(&bob_login)]).await;

    let mut bob_ws = Ws::connect(cluster.a.addr, bob_a.token()).await;
    bob_ws.sync().await;
    let sent = alice_b
        .post(
            &format!("/api/chats/{chat}/messages"),
            json!({"content": "across"}),
        )
        .await;
    assert_eq!(sent.status, 201);
    let got = bob_ws.expect("message.created").await;
    assert_eq!(got["message"]["id"], sent.body["id"]);
    bob_ws.close().await;

    // Messages sent through A are recovered by a socket on B.
    let alice_a = cluster.a.client().with_token(alice_b.token());
    for i in 0..3 {
        alice_a
            .post(
                &format!("/api/chats/{chat}/messages"),
                json!({"content": format!("m{i}")}),
            )
            .await;
    }
    let mut on_b = Ws::connect(cluster.b.addr, bob_a.token()).await;
    on_b.send_json(json!({"type": "join", "chat_id": chat, "since_seq": 1}))
        .await;
    let joined = on_b.expect("joined").await;
    let contents: Vec<&str> = joined["missed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(contents, ["m0", "m1", "m2"]);
    on_b.close().await;
    cluster.stop().await;
}

#[tokio::test]
async fn chat_joined_and_ws_sends_cross_instances() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let (alice_a, _) = cluster.a.client().signup(&unique("a")).await;
    let (bob_b, bob_login) = cluster.b.client().signup(&unique("b")).await;
    let mut bob_ws = Ws::connect(cluster.b.addr, bob_b.token()).await;
    bob_ws.sync().await;
    let chat = create_chat(&alice_a, "new", &[&user_id(&bob_login)]).await;
    let joined = bob_ws.expect("chat.joined").await;
    assert_eq!(joined["chat"]["id"], chat.as_str());

    let mut alice_ws = Ws::connect(cluster.a.addr, alice_a.token()).await;
    alice_ws.sync().await;
    bob_ws
        .send_json(json!({"type": "send", "chat_id": chat, "content": "hi", "client_msg_id": "k1"}))
        .await;
    bob_ws.expect("ack").await;
    let got = alice_ws.expect("message.created").await;
    assert_eq!(got["message"]["content"], "hi");
    bob_ws
        .send_json(json!({"type": "typing", "chat_id": chat}))
        .await;
    assert_eq!(alice_ws.expect("typing").await["chat_id"], chat.as_str());
    alice_ws.close().await;
    bob_ws.close().await;
    cluster.stop().await;
}

#[tokio::test]
async fn presence_of_a_user_on_a_is_seen_through_b_until_the_socket_closes() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let (alice_a, alice_login) = cluster.a.client().signup(&unique("a")).await;
    let (bob_b, bob_login) = cluster.b.client().signup(&unique("b")).await;
    create_chat(&alice_a, "p", &[&user_id(&bob_login)]).await;
    let alice_id = user_id(&alice_login);
    let mut watcher = Ws::connect(cluster.b.addr, bob_b.token()).await;
    watcher.sync().await;

    let socket = Ws::connect(cluster.a.addr, alice_a.token()).await;
    let ev = watcher.expect("presence").await;
    assert_eq!(
        (ev["user_id"].as_str(), ev["status"].as_str()),
        (Some(alice_id.as_str()), Some("online"))
    );
    let seen = bob_b.get(&format!("/api/users/{alice_id}/presence")).await;
    assert_eq!(seen.body["status"], "online");
    let online = bob_b.get("/api/users/online").await;
    assert!(online.body["users"]
        .as_array()
        .unwrap()
        .iter()
        .any(|u| u["user_id"] == alice_id.as_str()));

    socket.close().await;
    let ev = watcher.expect("presence").await;
    assert_eq!(ev["status"], "offline");
    watcher
        .expect_no("presence", Duration::from_millis(300))
        .await;
    for server in [&cluster.a, &cluster.b] {
        let p = server
            .client()
            .with_token(bob_b.token())
            .get(&format!("/api/users/{alice_id}/presence"))
            .await;
        assert_eq!(p.body["status"], "offline");
    }
    watcher.close().await;
    cluster.stop().await;
}

#[tokio::test]
async fn the_socket_cap_counts_the_users_sockets_on_every_instance() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let (alice, _) = cluster.a.client().signup(&unique("a")).await;
    let mut sockets = Vec::new();
    for server in [&cluster.a, &cluster.b] {
        for _ in 0..10 {
            let mut socket = Ws::connect(server.addr, alice.token()).await;
            // Answered: the socket is registered in the presence store.
            socket.sync().await;
            sockets.push(socket);
        }
    }
    for server in [&cluster.a, &cluster.b] {
        assert_eq!(
            Ws::refused(server.addr, alice.token()).await,
            429,
            "ten sockets here and ten on the other instance make twenty"
        );
    }
    // One closed on B frees a place on A.
    sockets.pop().expect("a socket on B").close().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let last = loop {
        let url = format!("ws://{}/ws?token={}", cluster.a.addr, alice.token());
        match tokio_tungstenite::connect_async(url).await {
            Ok((stream, _)) => break stream,
            Err(e) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "no place freed: {e}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    drop(last);
    for socket in sockets {
        socket.close().await;
    }
    cluster.stop().await;
}

#[tokio::test]
async fn throttle_and_logout_are_shared_by_every_instance() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let (alice_a, _) = cluster.a.client().signup(&unique("a")).await;
    let alice_b = cluster.b.client().with_token(alice_a.token());
    let chat = create_chat(&alice_a, "t", &[]).await;
    let path = format!("/api/chats/{chat}/messages");
    for i in 0..10 {
        let api = if i % 2 == 0 { &alice_a } else { &alice_b };
        let r = api.post(&path, json!({"content": format!("{i}")})).await;
        assert_eq!(r.status, 201, "send {i}");
    }
    let r = alice_b.post(&path, json!({"content": "11th"})).await;
    assert_eq!(r.status, 429, "A and B count together");
    assert!(r.header("retry-after").is_some());

    assert_eq!(alice_b.get("/api/users/me").await.status, 200);
    assert_eq!(alice_a.post_empty("/api/auth/logout").await.status, 204);
    assert_eq!(
        alice_b.get("/api/users/me").await.status,
        401,
        "revoked everywhere"
    );
    assert_eq!(Ws::refused(cluster.b.addr, alice_a.token()).await, 401);
    cluster.stop().await;
}

#[tokio::test]
async fn a_refresh_token_reused_on_another_instance_ends_the_session_everywhere() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let name = unique("reuse");
    let (_, login) = cluster.a.client().signup(&name).await;
    let (sibling, _) = cluster.b.client().login_as(&name).await;
    let stolen = json!({"refresh_token": login["refresh_token"]});
    let thief = cluster
        .a
        .client()
        .post("/api/auth/refresh", stolen.clone())
        .await;
    assert_eq!(thief.status, 200, "{}", thief.body);
    let reuse = cluster.b.client().post("/api/auth/refresh", stolen).await;
    assert_eq!(
        (reuse.status, reuse.body["error"].as_str()),
        (401, Some("invalid_token"))
    );
    let thief_access = thief.body["access_token"].as_str().unwrap();
    for server in [&cluster.a, &cluster.b] {
        let api = server.client();
        assert_eq!(
            api.with_token(thief_access)
                .get("/api/users/me")
                .await
                .status,
            401
        );
        let r = api
            .post(
                "/api/auth/refresh",
                json!({"refresh_token": thief.body["refresh_token"]}),
            )
            .await;
        assert_eq!(r.status, 401, "the thief's refresh token is refused");
    }
    assert_eq!(sibling.get("/api/users/me").await.status, 200);
    cluster.stop().await;
}

/// the key table of docs/protocol.md: type, and whether a TTL is required.
fn expected(key: &str) -> Option<(&'static str, bool)> {
    // The longer name first: `users:online:by_id` also starts with `users:online`.
    let rules: [(&str, &str, bool); 15] = [
        ("user:presence:", "string", true),
        ("users:online:by_id", "zset", false),
        ("users:online", "set", false),
        ("user:sockets:", "set", true),
        ("session:", "string", true),
        ("user:sessions:", "zset", true),
        ("token:blacklist:", "string", true),
        ("throttle:", "string", true),
        ("message:", "string", true),
        ("chat:messages:", "zset", true),
        ("chat:recent:", "list", true),
        ("chat:pinned:", "hash", true),
        ("chat:changed:", "string", true),
        ("instance:", "string", true),
        ("instances", "zset", false),
    ];
    rules
        .iter()
        .find(|(p, _, _)| key.starts_with(p))
        .map(|(_, t, ttl)| (*t, *ttl))
}

#[tokio::test]
async fn every_key_has_the_contract_type_and_ttl() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let Some(mut redis) = redis_or_skip().await else {
        return;
    };
    let (alice, _) = cluster.a.client().signup(&unique("a")).await;
    let (bob, bob_login) = cluster.b.client().signup(&unique("b")).await;
    let chat = create_chat(&alice, "keys", &[&user_id(&bob_login)]).await;
    let ws = Ws::connect(cluster.b.addr, bob.token()).await;
    let m = alice
        .post(
            &format!("/api/chats/{chat}/messages"),
            json!({"content": "k"}),
        )
        .await;
    let id = m.body["id"].as_str().unwrap();
    alice.get(&format!("/api/chats/{chat}/messages")).await;
    alice.post_empty(&format!("/api/messages/{id}/pin")).await;
    alice.get(&format!("/api/chats/{chat}/pinned")).await;
    // Both instances heart-beat (as their background job does), then one cleans up:
    // bob's socket on B is alive, so nothing is dropped.
    cluster.b.app.presence.maintain().await;
    cluster.a.app.presence.maintain().await;
    bob.post_empty("/api/auth/logout").await;

    let mut keys: Vec<String> = Vec::new();
    let mut iter: redis::AsyncIter<String> = redis
        .scan_match(format!("{}*", cluster.prefix))
        .await
        .unwrap();
    while let Some(k) = futures::StreamExt::next(&mut iter).await {
        keys.push(k.expect("scan"));
    }
    drop(iter);
    for key in &keys {
        let short = key.strip_prefix(&cluster.prefix).unwrap();
        let (ty, needs_ttl) = expected(short).unwrap_or_else(|| panic!("unexpected key {short}"));
        let actual: String = redis::cmd("TYPE")
            .arg(key)
            .query_async(&mut redis)
            .await
            .unwrap();
        assert_eq!(actual, ty, "type of {short}");
        let ttl: i64 = redis.ttl(key).await.unwrap();
        if needs_ttl {
            assert!(ttl > 0, "{short} must expire, ttl {ttl}");
        }
    }
    for family in [
        "presence",
        "online",
        "sockets",
        "sessions",
        "blacklist",
        "recent",
        "pinned",
    ] {
        assert!(
            keys.iter().any(|k| k.contains(family)),
            "scenario should have written a {family} key; got {keys:?}"
        );
    }
    ws.close().await;
    cluster.stop().await;
}

#[tokio::test]
async fn the_cleanup_job_drops_sockets_of_an_instance_that_stopped_heart_beating() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let (alice_a, alice_login) = cluster.a.client().signup(&unique("a")).await;
    let (bob_b, bob_login) = cluster.b.client().signup(&unique("b")).await;
    create_chat(&alice_a, "crash", &[&user_id(&bob_login)]).await;
    let alice_id = user_id(&alice_login);
    let mut watcher = Ws::connect(cluster.b.addr, bob_b.token()).await;
    watcher.sync().await;
    // Alice is on A, and A has (like a crashed process) never heart-beaten.
    let alice_ws = Ws::connect(cluster.a.addr, alice_a.token()).await;
    assert_eq!(watcher.expect("presence").await["status"], "online");

    cluster.b.app.presence.maintain().await;
    let ev = watcher.expect("presence").await;
    assert_eq!(
        (ev["user_id"].as_str(), ev["status"].as_str()),
        (Some(alice_id.as_str()), Some("offline"))
    );
    let p = bob_b.get(&format!("/api/users/{alice_id}/presence")).await;
    assert_eq!(p.body["status"], "offline");
    // Bob's own socket lives on B, which heart-beats: he stays online.
    let me = bob_b
        .get(&format!("/api/users/{}/presence", user_id(&bob_login)))
        .await;
    assert_eq!(me.body["status"], "online");
    alice_ws.close().await;
    watcher.close().await;
    cluster.stop().await;
}

/// Runs `webchat admin ...` against the cluster's Redis; returns stdout.
fn admin(prefix: &str, action: &str) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_webchat"))
        .args(["admin", action])
        .env_clear()
        .env("REDIS_URL", common::redis_url())
        .env("WEBCHAT_KEY_PREFIX", prefix)
        .env("RUST_LOG", "warn")
        .output()
        .expect("webchat admin runs");
    assert!(
        out.status.success(),
        "admin {action}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn admin_commands_act_on_the_shared_redis() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let (alice, _) = cluster.a.client().signup(&unique("a")).await;
    let chat = create_chat(&alice, "adm", &[]).await;
    for i in 0..3 {
        alice
            .post(
                &format!("/api/chats/{chat}/messages"),
                json!({"content": format!("{i}")}),
            )
            .await;
    }
    // The cache keeps copies of what is read by id (sends only reach the window).
    let page = alice.get(&format!("/api/chats/{chat}/messages")).await;
    for m in page.body.as_array().unwrap() {
        alice
            .get(&format!("/api/messages/{}", m["id"].as_str().unwrap()))
            .await;
    }
    let ws = Ws::connect(cluster.a.addr, alice.token()).await;
    let stats: serde_json::Value =
        serde_json::from_str(admin(&cluster.prefix, "stats").trim()).unwrap();
    assert_eq!(stats["total_cached_messages"], 3, "{stats}");
    assert_eq!(stats["total_chats"], 1, "{stats}");

    admin(&cluster.prefix, "clear-cache");
    let stats: serde_json::Value =
        serde_json::from_str(admin(&cluster.prefix, "stats").trim()).unwrap();
    assert_eq!(stats["total_cached_messages"], 0);
    let history = alice.get(&format!("/api/chats/{chat}/messages")).await;
    assert_eq!(
        history.body.as_array().unwrap().len(),
        3,
        "history still served"
    );

    assert_eq!(alice.get("/api/users/online").await.body["count"], 1);
    admin(&cluster.prefix, "clear-presence");
    assert_eq!(alice.get("/api/users/online").await.body["count"], 0);

    admin(&cluster.prefix, "clear-sessions");
    assert_eq!(
        alice.get("/api/users/me").await.status,
        401,
        "sessions cleared"
    );
    ws.close().await;
    cluster.stop().await;
}

/// `GET /api/users/online` on Redis: users connected to either instance, walked
/// page by page from one instance, each once, by id; `count` is the total.
#[tokio::test]
async fn online_users_page_by_id_across_instances() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let mut sockets = Vec::new();
    let mut ids = Vec::new();
    let mut token = String::new();
    for i in 0..7 {
        let server = if i % 2 == 0 { &cluster.a } else { &cluster.b };
        let (t, id) = direct_login(&server.app, &unique("o")).await;
        let mut ws = Ws::connect(server.addr, &t).await;
        ws.sync().await;
        sockets.push(ws);
        ids.push(id);
        token = t;
    }
    ids.sort();
    let api = cluster.a.client().with_token(&token);
    let users = |v: &Value| v["users"].as_array().unwrap().clone();
    for limit in [Some(2), Some(3), None] {
        let walked = walk_pages(&api, "/api/users/online", limit, users, "user_id").await;
        assert_eq!(walked, ids, "limit {limit:?}");
    }
    let page = api
        .get(&format!("/api/users/online?limit=2&after={}", ids[4]))
        .await;
    assert_eq!(page.body["count"], 7);
    assert_eq!(users(&page.body).len(), 2);
    for ws in sockets {
        ws.close().await;
    }
    cluster.stop().await;
}
