//! Redis goes away and comes back while two instances serve: nothing accepted is
//! lost, authentication fails closed meanwhile, and the event bus resubscribes by
//! itself. The test runs its own `redis-server` (never the shared one).

mod common;

use std::time::Duration;

use common::{create_chat, unique, user_id, TestServer, Ws};
use serde_json::json;
use webchat::app::wiring::build_with;
use webchat::config::Config;
use webchat_memory::memory_repositories;
use webchat_redis::testing::OwnRedis;

fn config(url: &str, instance: &str) -> Config {
    let url = url.to_owned();
    let mut config = Config::from_lookup(|k| match k {
        "REDIS_URL" => Some(url.clone()),
        "WEBCHAT_JWT_SECRET" => Some("restart-secret-of-more-than-32-bytes".to_owned()),
        "WEBCHAT_INSTANCE_ID" => Some(instance.to_owned()),
        _ => None,
    })
    .unwrap();
    config.port = 0;
    config
}

async fn wait_healthy(server: &TestServer) {
    for _ in 0..200 {
        if server.client().get("/health").await.status == 200 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("instance did not report healthy after Redis came back");
}

#[tokio::test]
async fn surviving_a_redis_restart() {
    // AOF on, so the restart keeps sessions.
    let Some(mut redis) = OwnRedis::with_args(&["--appendonly", "yes", "--appendfsync", "always"])
    else {
        return;
    };
    let repos = memory_repositories();
    let mut servers = Vec::new();
    let mut backends = Vec::new();
    for instance in ["r-a", "r-b"] {
        let (app, b) = build_with(&config(&redis.url(), instance), repos.clone(), None)
            .await
            .unwrap();
        servers.push(TestServer::start(app).await);
        backends.push(b);
    }
    let (a, b) = (&servers[0], &servers[1]);
    let (alice, _) = a.client().signup(&unique("a")).await;
    let (bob_b, bob_login) = b.client().signup(&unique("b")).await;
    let chat = create_chat(&alice, "restart", &[&user_id(&bob_login)]).await;
    let mut alice_ws = Ws::connect(a.addr, alice.token()).await;
    let mut bob_ws = Ws::connect(b.addr, bob_b.token()).await;
    alice_ws.sync().await;
    bob_ws.sync().await;

    redis.stop();
    // Fail closed: no unverifiable token gets in.
    let r = alice.get("/api/users/me").await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (503, Some("auth_unavailable"))
    );
    let health = a.client().get("/health").await;
    assert_eq!(health.status, 503);
    assert_eq!(health.body["error"]["redis"]["status"], "down");
    let said = health.body["error"]["redis"]["message"].to_string();
    assert!(
        !said.contains("refused") && !said.contains("os error"),
        "no internals: {said}"
    );
    // The open socket still sends: stored, acked, and seen by local sockets.
    alice_ws
        .send_json(json!({"type": "send", "chat_id": chat, "content": "during outage"}))
        .await;
    let frames = alice_ws.expect_each(&["ack", "message.created"]).await;
    assert_eq!(frames[0]["message"]["seq"], 1);

    redis.start().expect("redis restarts");
    wait_healthy(a).await;
    wait_healthy(b).await;
    // Sessions survived (AOF); the bus resubscribed: B's socket hears A again.
    let sent = alice
        .post(
            &format!("/api/chats/{chat}/messages"),
            json!({"content": "after"}),
        )
        .await;
    assert_eq!(sent.status, 201, "{}", sent.body);
    // What was accepted during the outage never crossed pub/sub: B's socket gets it
    // from the change log, before the later message and in order.
    let repaired = bob_ws.expect("message.created").await;
    assert_eq!(repaired["message"]["content"], "during outage");
    let got = bob_ws.expect("message.created").await;
    assert_eq!(got["message"]["content"], "after");
    // And a socket that was away recovers both with since_seq.
    let mut late_ws = Ws::connect(b.addr, bob_b.token()).await;
    late_ws
        .send_json(json!({"type": "join", "chat_id": chat, "since_seq": 0}))
        .await;
    let joined = late_ws.expect("joined").await;
    let contents: Vec<&str> = joined["missed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(contents, ["during outage", "after"]);

    alice_ws.close().await;
    bob_ws.close().await;
    late_ws.close().await;
    for s in servers {
        s.stop().await;
    }
    for b in backends {
        b.shutdown().await;
    }
}
