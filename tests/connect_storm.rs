//! A connect storm: 10,000 WebSocket connects as fast as the client can open them
//! against a real webchat process on Redis and PostgreSQL. The command connection is
//! multiplexed, so nothing waits for a pooled connection: the server logs no backend
//! error, and every user is online afterwards.

mod common;

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::stream::{self, StreamExt};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::Mutex;
use webchat::usecase::tokens::TokenCodec;
use webchat_domain::{
    DisplayName, InstanceId, SessionId, TokenFingerprint, User, UserId, UserSession, Username,
};
use webchat_ports::{SessionStore, UserRepository};
use webchat_postgres::testing::TestDatabase;
use webchat_postgres::PgBackend;
use webchat_redis::testing::{redis_or_skip, unique_prefix};
use webchat_redis::{RedisBackend, RedisConfig, RedisSessionStore};

const USERS: usize = 1_000;
const SOCKETS_PER_USER: usize = 10;
const IN_FLIGHT: usize = 500;
const SECRET: &str = "connect-storm-secret-of-32-bytes!!";

/// Users and sessions written straight into the stores the server reads (password
/// hashing is not what this test measures), and a token per user.
async fn seed(db_url: &str, redis_url: &str, prefix: &str) -> Vec<String> {
    let pg = PgBackend::connect(db_url).expect("db url");
    pg.run_migrations().await.expect("migrations");
    let users = pg.users();
    let config = RedisConfig::from_url(redis_url)
        .expect("redis url")
        .with_key_prefix(prefix);
    let backend = RedisBackend::start(config, InstanceId::random()).expect("redis backend");
    let sessions = RedisSessionStore::new(backend.clone());
    let codec = TokenCodec::new(SECRET.as_bytes());
    let now = Utc::now();
    let tokens = stream::iter(0..USERS)
        .map(|i| {
            let (users, sessions, codec) = (&users, &sessions, &codec);
            async move {
                let user = User {
                    id: UserId::new(),
                    username: Username::parse(&format!("s{i}_{}", &common::unique("x")[2..10]))
                        .unwrap(),
                    display_name: DisplayName::parse("storm").unwrap(),
                    password_hash: "not-a-hash".into(),
                    created_at: now,
                };
                users.create(&user).await.expect("user stored");
                let session = UserSession {
                    id: SessionId::new(),
                    user_id: user.id,
                    created_at: now,
                    expires_at: now + chrono::Duration::hours(1),
                    ip: None,
                    user_agent: None,
                    refresh_token_hash: TokenFingerprint::of("unused").as_str().to_owned(),
                };
                sessions
                    .create(&session, 100)
                    .await
                    .expect("session stored");
                codec.issue(
                    user.id,
                    session.id,
                    now,
                    now + chrono::Duration::minutes(15),
                )
            }
        })
        .buffer_unordered(50)
        .collect()
        .await;
    backend.shutdown().await;
    tokens
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_connects_raise_no_backend_error_and_everyone_is_online() {
    let Some(redis_url) = redis_or_skip().await else {
        return;
    };
    let Some(db) = TestDatabase::create_or_skip().await else {
        return;
    };
    let prefix = unique_prefix();
    let tokens = seed(db.url(), &redis_url, &prefix).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_webchat"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOST", "127.0.0.1")
        .env("PORT", port.to_string())
        .env("DATABASE_URL", db.url())
        .env("REDIS_URL", &redis_url)
        .env("WEBCHAT_KEY_PREFIX", &prefix)
        .env("WEBCHAT_JWT_SECRET", SECRET)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("webchat binary starts");
    let logged = Arc::new(Mutex::new(Vec::<String>::new()));
    let lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let sink = logged.clone();
    tokio::spawn(async move {
        let mut lines = lines;
        while let Ok(Some(line)) = lines.next_line().await {
            sink.lock().await.push(line);
        }
    });
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    for _ in 0..200 {
        if reqwest::get(format!("http://{addr}/health/live"))
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let started = Instant::now();
    let targets: Vec<&String> = tokens
        .iter()
        .cycle()
        .take(USERS * SOCKETS_PER_USER)
        .collect();
    let sockets: Vec<_> = stream::iter(targets)
        .map(|token| async move {
            tokio_tungstenite::connect_async(format!("ws://{addr}/ws?token={token}"))
                .await
                .map(|(ws, _)| ws)
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    let took = started.elapsed();
    let refused = sockets.iter().filter(|s| s.is_err()).count();
    assert_eq!(refused, 0, "every connect succeeded");
    println!(
        "{} connects in {took:.2?} ({:.0}/s)",
        sockets.len(),
        sockets.len() as f64 / took.as_secs_f64()
    );

    // Presence for every user: the storm's writes all landed.
    let client = redis::Client::open(redis_url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    // One online set per hash slot (`users:online:{<slot tag>}`): count them all
    // (not the by-id zsets beside them, `users:online:by_id:{<slot tag>}`).
    let mut online = 0;
    for _ in 0..100 {
        online = 0;
        for key in
            webchat_redis::testing::keys_under(&redis_url, &format!("{prefix}users:online:{{"))
                .await
        {
            online += redis::cmd("SCARD")
                .arg(&key)
                .query_async::<usize>(&mut conn)
                .await
                .unwrap();
        }
        if online == USERS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(online, USERS, "every user is online");
    let complaints: Vec<String> = logged
        .lock()
        .await
        .iter()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        .cloned()
        .collect();
    assert!(
        complaints.is_empty(),
        "no backend error or warning during the storm: {:?}",
        &complaints[..complaints.len().min(10)]
    );
    drop(sockets);
    child.kill().await.ok();
    db.drop_database().await;
    webchat_redis::testing::wipe(&redis_url, &prefix).await;
}
