//! A client that stops reading: once its writes stall (`/ws`) or its buffer fills
//! (Socket.IO), it is disconnected within the write timeout, its user goes offline,
//! and the other sockets of the chat get every message.

use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use serde_json::json;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use webchat::app::App;
use webchat::config::Config;
use webchat_domain::RateLimitPolicy;

use crate::common::{create_chat, socketio_ready, unique, user_id, TestServer, Ws};

/// The gateway's write timeout (docs/protocol.md, "Keep-alive, limits and closing").
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
const MESSAGES: usize = 2500;

/// How the stuck client connects.
#[derive(Clone, Copy, Debug)]
enum Door {
    /// `/ws`: dropped within the write timeout once a write stalls.
    Ws,
    /// Socket.IO over WebSocket: dropped once socketioxide's buffer for it is full.
    SocketIo,
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_within_the_write_timeout() {
    stuck_client_is_dropped(Door::Ws).await;
}

#[tokio::test]
async fn a_socketio_client_that_stops_reading_is_dropped_and_harms_no_one() {
    stuck_client_is_dropped(Door::SocketIo).await;
}

/// Connects the stuck client through `door` with a tiny receive buffer, waits until
/// its socket is subscribed, and returns it: it never reads again.
async fn connect_stuck(
    door: Door,
    addr: std::net::SocketAddr,
    token: &str,
) -> WebSocketStream<TcpStream> {
    let tcp = TcpSocket::new_v4().unwrap();
    tcp.set_recv_buffer_size(4096).unwrap();
    let tcp = tcp.connect(addr).await.unwrap();
    match door {
        Door::Ws => {
            let url = format!("ws://{addr}/ws?token={token}");
            tokio_tungstenite::client_async(url, tcp).await.unwrap().0
        }
        Door::SocketIo => {
            let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
            let (mut socket, _) = tokio_tungstenite::client_async(url, tcp).await.unwrap();
            socketio_ready(&mut socket, token).await;
            socket
        }
    }
}

async fn stuck_client_is_dropped(door: Door) {
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
    // The stuck client: a tiny receive buffer, and it never reads after its handshake.
    let stuck_socket = connect_stuck(door, server.addr, stuck.token()).await;
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
    eprintln!("{door:?}: dropped {:?} after the flood", flooded.elapsed());
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
