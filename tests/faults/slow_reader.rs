//! A client that stops reading: once its writes stall, it is disconnected within
//! the write timeout, and the other sockets of the chat get every message.

use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use serde_json::json;
use tokio::net::TcpSocket;
use webchat::app::App;
use webchat::config::Config;
use webchat_domain::RateLimitPolicy;

use crate::common::{create_chat, unique, user_id, TestServer, Ws};

/// The gateway's write timeout (docs/protocol.md, "Keep-alive, limits and closing").
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
const MESSAGES: usize = 2500;

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_within_the_write_timeout() {
    let mut config = Config::for_tests();
    config.throttle_strict =
        RateLimitPolicy::new("strict", 1_000_000, Duration::from_secs(60)).unwrap();
    let server = TestServer::start(App::in_memory(&config)).await;
    let (alice, _) = server.client().signup(&unique("alice")).await;
    let (stuck, stuck_login) = server.client().signup(&unique("stuck")).await;
    let (reader, reader_login) = server.client().signup(&unique("reader")).await;
    let (watching, _) = server.client().signup(&unique("watcher")).await;
    let stuck_id = user_id(&stuck_login);
    // The watcher shares a quiet chat with the stuck user: it hears their presence
    // without being flooded itself.
    create_chat(&watching, "quiet", &[&stuck_id]).await;
    let chat = create_chat(&alice, "flood", &[&stuck_id, &user_id(&reader_login)]).await;

    let mut watcher = Ws::connect(server.addr, watching.token()).await;
    let mut healthy = Ws::connect(server.addr, reader.token()).await;
    // The stuck client: a tiny receive buffer, and it never reads after the upgrade.
    let tcp = TcpSocket::new_v4().unwrap();
    tcp.set_recv_buffer_size(4096).unwrap();
    let tcp = tcp.connect(server.addr).await.unwrap();
    let url = format!("ws://{}/ws?token={}", server.addr, stuck.token());
    let (stuck_socket, _) = tokio_tungstenite::client_async(url, tcp).await.unwrap();
    while watcher.expect("presence").await["user_id"] != stuck_id.as_str() {}
    healthy.sync().await;

    // Large messages, as fast as the server takes them, while `healthy` reads.
    let content = "x".repeat(4000);
    let messages = format!("/api/chats/{chat}/messages");
    let receive = tokio::spawn(async move {
        let mut seqs = Vec::with_capacity(MESSAGES);
        while seqs.len() < MESSAGES {
            let Some(frame) = healthy.next_within(Duration::from_secs(30)).await else {
                break;
            };
            if frame["type"] == "message.created" {
                seqs.push(frame["message"]["seq"].as_i64().unwrap());
            }
        }
        (healthy, seqs)
    });
    let statuses: Vec<u16> = stream::iter(0..MESSAGES)
        .map(|_| {
            let (alice, messages, content) = (&alice, &messages, &content);
            async move {
                alice
                    .post(messages, json!({"content": content}))
                    .await
                    .status
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == 201), "every send accepted");
    let flooded = Instant::now();

    // Its writes stalled long before the flood ended; within the write timeout of
    // that it is gone: its user goes offline.
    let offline = loop {
        let event = watcher
            .expect_within("presence", WRITE_TIMEOUT + Duration::from_secs(5))
            .await;
        if event["user_id"] == stuck_id.as_str() {
            break event;
        }
    };
    assert_eq!(offline["status"], "offline");
    eprintln!("dropped {:?} after the flood", flooded.elapsed());
    assert!(
        flooded.elapsed() <= WRITE_TIMEOUT + Duration::from_secs(2),
        "dropped {:?} after the flood",
        flooded.elapsed()
    );

    let (healthy, seqs) = receive.await.unwrap();
    let expected: Vec<i64> = (1..=MESSAGES as i64).collect();
    assert_eq!(seqs.len(), MESSAGES, "the reading socket got every message");
    assert_eq!(seqs, expected, "in order, once each");
    drop(stuck_socket);
    healthy.close().await;
    watcher.close().await;
    server.stop().await;
}
