//! Socket.IO at `/socket.io/`, driven by the official `socket.io-client` v4 (Node,
//! `tests/socketio/suite.mjs`) against two real instances on Redis and PostgreSQL,
//! beside raw WebSocket clients. Needs `node` and `npm ci --prefix tests/socketio`
//! (`.ci/run` does it); skipped without them unless WEBCHAT_REQUIRE_SERVICES=1.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use common::{redis_or_skip, unique_prefix, Process, TestServer};
use webchat::http::HttpOptions;
use webchat_postgres::testing::TestDatabase;

fn suite_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/socketio")
}

/// Node with the suite's dependencies installed, or None (after printing `skipped:`).
fn node_or_skip() -> Option<()> {
    let node = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let installed = suite_dir().join("node_modules/socket.io-client").is_dir();
    if node && installed {
        return Some(());
    }
    let why = "skipped: Socket.IO client tests need node and `npm ci --prefix tests/socketio`";
    assert!(
        std::env::var("WEBCHAT_REQUIRE_SERVICES").as_deref() != Ok("1"),
        "{why} (WEBCHAT_REQUIRE_SERVICES=1)"
    );
    eprintln!("{why}");
    None
}

/// Two real instances on a fresh database and the shared Redis, then the suite
/// (or the scenarios named by `only`) with `transports`.
async fn run_suite(transports: &str, only: Option<&str>, extra_env: &[(&str, &str)]) {
    if node_or_skip().is_none() {
        return;
    }
    let Some(db) = TestDatabase::create_or_skip().await else {
        return;
    };
    let Some(_) = redis_or_skip().await else {
        return;
    };
    let prefix = unique_prefix();
    let redis = common::redis_url();
    let mut env = vec![
        ("DATABASE_URL", db.url()),
        ("REDIS_URL", redis.as_str()),
        ("WEBCHAT_KEY_PREFIX", prefix.as_str()),
        (
            "WEBCHAT_JWT_SECRET",
            "socketio-test-secret-of-more-than-32-bytes",
        ),
        ("WEBCHAT_MAX_SOCKETS_PER_USER", "4"),
        ("WEBCHAT_THROTTLE_STRICT", "100000/60"),
        ("WEBCHAT_THROTTLE_DEFAULT", "100000/60"),
    ];
    env.retain(|(k, _)| !extra_env.iter().any(|(e, _)| e == k));
    env.extend_from_slice(extra_env);
    let a = Process::spawn("sio-a", &env).await;
    let b = Process::spawn("sio-b", &env).await;
    let mut node = tokio::process::Command::new("node");
    node.arg("suite.mjs")
        .current_dir(suite_dir())
        .env("WEBCHAT_A", format!("http://{}", a.addr))
        .env("WEBCHAT_B", format!("http://{}", b.addr))
        .env("SIO_TRANSPORTS", transports)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(only) = only {
        node.env("SIO_SCENARIO", only);
    }
    let out = tokio::time::timeout(Duration::from_secs(300), node.output())
        .await
        .expect("the suite finishes within 5 minutes")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.lines().any(|l| l.starts_with("ok - ")),
        "no scenario ran"
    );
    assert!(
        out.status.success(),
        "socket.io-client suite failed:\n{stdout}"
    );
    a.stop().await;
    b.stop().await;
    db.drop_database().await;
}

#[tokio::test]
async fn socketio_client_with_default_transports_polling_then_websocket() {
    run_suite("default", None, &[]).await;
}

#[tokio::test]
async fn socketio_client_over_websocket_only() {
    run_suite("websocket", None, &[]).await;
}

#[tokio::test]
async fn socketio_sends_spend_the_same_throttle_as_rest() {
    run_suite(
        "websocket",
        Some("send throttle"),
        &[("WEBCHAT_THROTTLE_STRICT", "4/60")],
    )
    .await;
}

#[tokio::test]
async fn socketio_refused_tokens_and_handshakes_are_throttled() {
    run_suite(
        "websocket",
        Some("are throttled per address"),
        &[("WEBCHAT_THROTTLE_DEFAULT", "5/60")],
    )
    .await;
}

/// The Engine.IO handshake (a polling GET) opens a session, unless
/// `WEBCHAT_SOCKETIO=0` turned the endpoint off.
#[tokio::test]
async fn the_endpoint_answers_engine_io_and_can_be_turned_off() {
    let handshake = "/socket.io/?EIO=4&transport=polling";
    let on = TestServer::memory().await;
    let r = reqwest::get(on.url(handshake)).await.expect("request");
    assert_eq!(r.status(), 200);
    let body = r.text().await.expect("body");
    assert!(body.starts_with("0{\"sid\":"), "an open packet: {body}");
    // Not a valid Engine.IO request: refused by socketioxide, not by us.
    let r = reqwest::get(on.url("/socket.io/?EIO=9&transport=polling"))
        .await
        .expect("request");
    assert_eq!(r.status(), 400);
    on.stop().await;

    let app = webchat::app::App::in_memory(&webchat::config::Config::for_tests());
    let off = TestServer::start_with(
        app,
        HttpOptions {
            socketio: false,
            ..HttpOptions::default()
        },
    )
    .await;
    let r = reqwest::get(off.url(handshake)).await.expect("request");
    assert_eq!(r.status(), 404);
    off.stop().await;
}

/// At shutdown a Socket.IO client gets its transport closed, not a Socket.IO
/// disconnect (after which `socket.io-client` would not reconnect by itself): it
/// reconnects, to another instance behind the balancer.
#[tokio::test]
async fn shutdown_closes_the_transport_so_clients_reconnect() {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::Message;

    let server = TestServer::memory().await;
    let (alice, _) = server.client().signup(&common::unique("sio")).await;
    let url = format!("ws://{}/socket.io/?EIO=4&transport=websocket", server.addr);
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("upgrade");
    common::socketio_ready(&mut socket, alice.token()).await;
    let stopping = tokio::spawn(server.stop());
    let mut packets = Vec::new();
    while let Ok(Some(Ok(frame))) =
        tokio::time::timeout(Duration::from_secs(10), socket.next()).await
    {
        if let Message::Text(text) = frame {
            packets.push(text.to_string());
        }
    }
    stopping.await.unwrap();
    assert!(
        !packets.iter().any(|p| p.starts_with("41")),
        "a Socket.IO disconnect was sent at shutdown: {packets:?}"
    );
}
