//! The send path's budget of network round trips, counted on the wire in front of
//! the real Redis and PostgreSQL: a message send costs at most 3 Redis round trips
//! (the session check, the throttle, and the cache write with its publish in one
//! script) and 1 PostgreSQL round trip (membership, idempotency, seq and insert in
//! one statement), and no `PING` before a command.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use common::{create_chat, redis_or_skip, unique, unique_prefix, TestServer, Ws};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use webchat::app::wiring;
use webchat::config::Config;
use webchat_postgres::testing::TestDatabase;

/// A TCP proxy that counts request turns: each time a client writes after the
/// server has answered (or for the first time). Pipelined or batched commands in
/// one write count once, as they cost one round trip; pushes from the server
/// (pub/sub messages) count none.
struct TurnCounter {
    addr: SocketAddr,
    turns: Arc<AtomicU64>,
    /// Bytes clients sent, to spot `PING`s.
    pings: Arc<AtomicU64>,
}

impl TurnCounter {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let turns = Arc::new(AtomicU64::new(0));
        let pings = Arc::new(AtomicU64::new(0));
        let (t, p) = (turns.clone(), pings.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(upstream).await else {
                    continue;
                };
                tokio::spawn(relay(client, server, t.clone(), p.clone()));
            }
        });
        Self { addr, turns, pings }
    }

    fn turns(&self) -> u64 {
        self.turns.load(Ordering::SeqCst)
    }

    fn pings(&self) -> u64 {
        self.pings.load(Ordering::SeqCst)
    }
}

async fn relay(client: TcpStream, server: TcpStream, turns: Arc<AtomicU64>, pings: Arc<AtomicU64>) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut client_rx, mut client_tx) = client.into_split();
    let (mut server_rx, mut server_tx) = server.into_split();
    // True once the server has spoken since the client last wrote.
    let answered = Arc::new(AtomicBool::new(true));
    let heard = answered.clone();
    let up = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match client_rx.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if answered.swap(false, Ordering::SeqCst) {
                turns.fetch_add(1, Ordering::SeqCst);
            }
            let text = String::from_utf8_lossy(&buf[..n]).to_ascii_uppercase();
            pings.fetch_add(text.matches("PING").count() as u64, Ordering::SeqCst);
            if server_tx.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
    };
    let down = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match server_rx.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            heard.store(true, Ordering::SeqCst);
            if client_tx.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
    };
    tokio::join!(up, down);
}

fn host_port(url: &str, default_port: u16) -> SocketAddr {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap();
    let host_port = authority.rsplit('@').next().unwrap();
    let (host, port) = match host_port.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().unwrap()),
        None => (host_port, default_port),
    };
    let host = if host == "localhost" {
        "127.0.0.1"
    } else {
        host
    };
    format!("{host}:{port}").parse().expect("a numeric host")
}

#[tokio::test]
async fn a_send_costs_three_redis_round_trips_and_one_postgres_round_trip() {
    let Some(db) = TestDatabase::create_or_skip().await else {
        return;
    };
    let Some(_) = redis_or_skip().await else {
        return;
    };
    let redis = TurnCounter::start(host_port(&common::redis_url(), 6379)).await;
    let pg = TurnCounter::start(host_port(db.url(), 5432)).await;
    let database = db.url().split('/').next_back().unwrap().to_owned();
    let prefix = unique_prefix();
    let env = [
        ("REDIS_URL", format!("redis://{}", redis.addr)),
        (
            "DATABASE_URL",
            format!("postgres://postgres@{}/{database}", pg.addr),
        ),
        ("WEBCHAT_KEY_PREFIX", prefix),
        (
            "WEBCHAT_JWT_SECRET",
            "round-trip-secret-of-more-than-32-bytes".to_owned(),
        ),
        // Sends are still counted by the throttle, just never refused here.
        ("WEBCHAT_THROTTLE_STRICT", "1000/60".to_owned()),
    ];
    let mut config = Config::from_lookup(|k| {
        env.iter()
            .find(|(name, _)| *name == k)
            .map(|(_, v)| v.clone())
    })
    .expect("valid configuration");
    config.port = 0;
    let (app, backends) = wiring::build(&config).await.expect("app builds");
    let server = TestServer::start(app).await;

    let (alice, _) = server.client().signup(&unique("a")).await;
    let chat = create_chat(&alice, "counted", &[]).await;
    let path = format!("/api/chats/{chat}/messages");
    let mut socket = Ws::connect(server.addr, alice.token()).await;
    socket.sync().await;
    // Warm up: statements prepared, scripts loaded, the window built.
    for i in 0..3 {
        assert_eq!(
            alice
                .post(&path, json!({"content": format!("warm {i}")}))
                .await
                .status,
            201
        );
        socket.expect("message.created").await;
    }

    const SENDS: u64 = 20;
    let (redis_before, pg_before, pings_before) = (redis.turns(), pg.turns(), redis.pings());
    for i in 0..SENDS {
        let r = alice
            .post(&path, json!({"content": format!("counted {i}")}))
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        // Delivered before the next send, so nothing overlaps.
        socket.expect("message.created").await;
    }
    let redis_turns = redis.turns() - redis_before;
    let pg_turns = pg.turns() - pg_before;
    println!(
        "per send: {} Redis round trips, {} PostgreSQL round trips",
        redis_turns as f64 / SENDS as f64,
        pg_turns as f64 / SENDS as f64
    );
    assert!(
        redis_turns <= 3 * SENDS,
        "{redis_turns} Redis round trips for {SENDS} sends"
    );
    assert!(
        pg_turns <= SENDS,
        "{pg_turns} PostgreSQL round trips for {SENDS} sends"
    );
    assert_eq!(redis.pings() - pings_before, 0, "no PING before commands");

    // Over the socket the session was checked at the upgrade: the throttle and the
    // cache write with its publish are left.
    let (redis_before, pg_before) = (redis.turns(), pg.turns());
    for i in 0..SENDS {
        socket
            .send_json(json!({"type": "send", "chat_id": chat, "content": format!("ws {i}")}))
            .await;
        socket.expect_each(&["ack", "message.created"]).await;
    }
    let redis_turns = redis.turns() - redis_before;
    let pg_turns = pg.turns() - pg_before;
    println!(
        "per WebSocket send: {} Redis round trips, {} PostgreSQL round trips",
        redis_turns as f64 / SENDS as f64,
        pg_turns as f64 / SENDS as f64
    );
    assert!(
        redis_turns <= 2 * SENDS,
        "{redis_turns} Redis round trips for {SENDS} WebSocket sends"
    );
    assert!(
        pg_turns <= SENDS,
        "{pg_turns} PostgreSQL round trips for {SENDS} WebSocket sends"
    );

    socket.close().await;
    server.stop().await;
    backends.shutdown().await;
    db.drop_database().await;
}
