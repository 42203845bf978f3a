//! Costly WebSocket frames and sockets are bounded per user, not per socket: the
//! socket cap, and `join` / `status` sharing the user's budgets with REST.

mod common;

use std::time::Duration;

use common::{create_chat, unique, TestServer, Ws};
use serde_json::json;
use webchat::app::App;
use webchat::config::Config;
use webchat::http::HttpOptions;
use webchat_domain::RateLimitPolicy;

#[tokio::test]
async fn the_twenty_first_socket_of_a_user_is_refused_with_429() {
    let server = TestServer::memory().await;
    let (alice, _) = server.client().signup(&unique("a")).await;
    let (bob, _) = server.client().signup(&unique("b")).await;
    let mut sockets = Vec::new();
    for _ in 0..20 {
        sockets.push(Ws::connect(server.addr, alice.token()).await);
    }
    assert_eq!(
        Ws::refused(server.addr, alice.token()).await,
        429,
        "the 21st upgrade"
    );
    let r = reqwest::Client::new()
        .get(server.url(&format!("/ws?token={}", alice.token())))
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "too_many_requests", "{body}");

    // Another user is not affected, and a closed socket frees its place.
    let other = Ws::connect(server.addr, bob.token()).await;
    sockets.pop().unwrap().close().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut again = loop {
        match tokio_tungstenite::connect_async(format!(
            "ws://{}/ws?token={}",
            server.addr,
            alice.token()
        ))
        .await
        {
            Ok((stream, _)) => break stream,
            Err(_) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(e) => panic!("a place freed by a closed socket: {e}"),
        }
    };
    let _ = futures::SinkExt::close(&mut again).await;
    other.close().await;
    for s in sockets {
        s.close().await;
    }
    server.stop().await;
}

/// A server whose `default` policy allows `limit` hits a minute.
async fn server_with_default_limit(limit: u32) -> TestServer {
    let mut config = Config::for_tests();
    config.throttle_default =
        RateLimitPolicy::new("default", limit, Duration::from_secs(60)).unwrap();
    TestServer::start_with(App::in_memory(&config), HttpOptions::default()).await
}

#[tokio::test]
async fn status_frames_of_every_socket_share_the_users_budget() {
    let server = server_with_default_limit(10).await;
    let (alice, _) = server.client().signup(&unique("a")).await;
    // Two upgrades spend two of the ten hits `/ws` allows a minute.
    let one = Ws::connect(server.addr, alice.token()).await;
    let two = Ws::connect(server.addr, alice.token()).await;
    let mut sockets = [one, two];
    for i in 0..4 {
        let status = if i % 2 == 0 { "away" } else { "online" };
        let socket = &mut sockets[i % 2];
        for _ in 0..2 {
            socket
                .send_json(json!({"type": "status", "status": status}))
                .await;
        }
        socket.sync().await;
    }
    let [mut one, mut two] = sockets;
    one.expect_no("error", Duration::from_millis(100)).await;
    two.expect_no("error", Duration::from_millis(100)).await;
    // Eight toggles and two upgrades: the budget is spent, on whichever socket.
    two.send_json(json!({"type": "status", "status": "away"}))
        .await;
    let refused = two.expect("error").await;
    assert_eq!(refused["code"], "too_many_requests", "{refused}");
    one.send_json(json!({"type": "status", "status": "online"}))
        .await;
    assert_eq!(one.expect("error").await["code"], "too_many_requests");
    one.close().await;
    two.close().await;
    server.stop().await;
}

#[tokio::test]
async fn recovering_joins_share_the_budget_of_history_reads() {
    let server = server_with_default_limit(6).await;
    let (alice, _) = server.client().signup(&unique("a")).await;
    let chat = create_chat(&alice, "busy", &[]).await;
    let history = format!("/api/chats/{chat}/messages");
    for _ in 0..4 {
        assert_eq!(alice.get(&history).await.status, 200);
    }
    let mut socket = Ws::connect(server.addr, alice.token()).await;
    for _ in 0..2 {
        socket
            .send_json(json!({"type": "join", "chat_id": chat, "since_seq": 0}))
            .await;
        assert_eq!(socket.expect("joined").await["chat_id"], chat);
    }
    // Four reads and two recoveries spent six: the next recovery is refused, by REST
    // or by frame, while a join that recovers nothing reads no history and passes.
    socket
        .send_json(json!({"type": "join", "chat_id": chat, "since_seq": 0}))
        .await;
    let refused = socket.expect("error").await;
    assert_eq!(
        (refused["code"].as_str(), refused["chat_id"].as_str()),
        (Some("too_many_requests"), Some(chat.as_str())),
        "{refused}"
    );
    assert_eq!(alice.get(&history).await.status, 429);
    socket
        .send_json(json!({"type": "join", "chat_id": chat}))
        .await;
    assert_eq!(socket.expect("joined").await["chat_id"], chat);
    socket.close().await;
    server.stop().await;
}
