//! Redis goes away and comes back while two instances serve: nothing accepted is
//! lost, authentication fails closed meanwhile, and the event bus resubscribes by
//! itself. The test runs its own `redis-server` (never the shared one).

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{create_chat, skip_or_fail, unique, user_id, TestServer, Ws};
use serde_json::json;
use webchat::app::wiring::build_with;
use webchat::app::Repositories;
use webchat::config::Config;

struct OwnRedis {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl OwnRedis {
    fn start() -> Option<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let dir =
            std::env::temp_dir().join(format!("webchat-redis-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).ok()?;
        let mut redis = Self {
            port,
            dir,
            child: None,
        };
        redis.spawn().then_some(redis)
    }

    /// Starts the server (AOF on, so a restart keeps sessions) and waits for PING.
    fn spawn(&mut self) -> bool {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "yes", "--appendfsync", "always"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let Ok(child) = child else { return false };
        self.child = Some(child);
        for _ in 0..100 {
            let pong = Command::new("redis-cli")
                .args(["-p", &self.port.to_string(), "ping"])
                .output();
            if pong.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "PONG") {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Stops the server the way an operator's restart does (SIGTERM).
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn config(url: &str, instance: &str) -> Config {
    let url = url.to_owned();
    let mut config = Config::from_lookup(|k| match k {
        "REDIS_URL" => Some(url.clone()),
        "WEBCHAT_JWT_SECRET" => Some("restart-secret".to_owned()),
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
    let Some(mut redis) = OwnRedis::start() else {
        skip_or_fail("redis-server binary");
        return;
    };
    let repos = Repositories::default();
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
    let ack = alice_ws.expect("ack").await;
    assert_eq!(ack["message"]["seq"], 1);
    alice_ws.expect("message.created").await;

    assert!(redis.spawn(), "redis restarts");
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
    let got = bob_ws.expect("message.created").await;
    assert_eq!(got["message"]["content"], "after");
    // And what was accepted during the outage is recovered, not lost.
    bob_ws
        .send_json(json!({"type": "join", "chat_id": chat, "since_seq": 0}))
        .await;
    let joined = bob_ws.expect("joined").await;
    let contents: Vec<&str> = joined["missed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(contents, ["during outage", "after"]);

    alice_ws.close().await;
    bob_ws.close().await;
    for s in servers {
        s.stop().await;
    }
    for b in backends {
        b.shutdown().await;
    }
}
