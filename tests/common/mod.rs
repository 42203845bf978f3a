//! Black-box test support: boot real servers on port 0 and talk to them with real
//! HTTP and WebSocket clients.
#![allow(dead_code, unused_imports)]

use std::net::SocketAddr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use poem::listener::{Acceptor, Listener, TcpListener};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use webchat::app::App;
use webchat::config::Config;
use webchat::http::{self, HttpOptions};
use webchat::usecase::UseCases;

/// How long a test waits for a frame that should come.
pub const WAIT: Duration = Duration::from_secs(5);

pub struct TestServer {
    pub addr: SocketAddr,
    pub app: UseCases,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl TestServer {
    pub async fn start(app: App) -> Self {
        Self::start_with(app, HttpOptions::default()).await
    }

    /// A server over `app` with the given HTTP options.
    pub async fn start_with(app: App, options: HttpOptions) -> Self {
        let acceptor = http::listener::NoDelayAcceptor::bind("127.0.0.1:0")
            .await
            .expect("bind port 0");
        let addr = acceptor.local_addr()[0]
            .as_socket_addr()
            .copied()
            .expect("tcp address");
        let (stop, stopped) = oneshot::channel::<()>();
        let app = app.usecases;
        let served = app.clone();
        let task = tokio::spawn(async move {
            http::serve(acceptor, served, options, async {
                let _ = stopped.await;
            })
            .await
            .expect("server runs");
        });
        Self {
            addr,
            app,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// A server on in-memory adapters with default configuration.
    pub async fn memory() -> Self {
        Self::start(App::in_memory(&Config::for_tests())).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn client(&self) -> Api {
        Api {
            http: reqwest::Client::new(),
            base: format!("http://{}", self.addr),
            token: None,
        }
    }

    /// Stops the server and waits until every socket has closed.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(15), task).await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A REST client, optionally logged in.
#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    pub token: Option<String>,
}

pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Api {
    pub fn with_token(&self, token: &str) -> Self {
        Self {
            token: Some(token.to_owned()),
            ..self.clone()
        }
    }

    pub async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Reply {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(reqwest::Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }
    pub async fn post_empty(&self, path: &str) -> Reply {
        self.send(reqwest::Method::POST, path, None).await
    }
    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.send(reqwest::Method::PATCH, path, Some(body)).await
    }
    pub async fn delete(&self, path: &str) -> Reply {
        self.send(reqwest::Method::DELETE, path, None).await
    }

    /// Registers `name` (password `password-1`) and logs in; returns the logged-in
    /// client and the login body.
    pub async fn signup(&self, name: &str) -> (Api, Value) {
        let r = self
            .post(
                "/api/auth/register",
                json!({"username": name, "password": "password-1"}),
            )
            .await;
        assert_eq!(r.status, 201, "register {name}: {}", r.body);
        let r = self
            .post(
                "/api/auth/login",
                json!({"username": name, "password": "password-1"}),
            )
            .await;
        assert_eq!(r.status, 200, "login {name}: {}", r.body);
        let token = r.body["access_token"].as_str().expect("token").to_owned();
        (self.with_token(&token), r.body)
    }

    /// Logs `name` (registered with `password-1`) in once more: a new session.
    pub async fn login_as(&self, name: &str) -> (Api, Value) {
        let r = self
            .post(
                "/api/auth/login",
                json!({"username": name, "password": "password-1"}),
            )
            .await;
        assert_eq!(r.status, 200, "login {name}: {}", r.body);
        let token = r.body["access_token"].as_str().expect("token").to_owned();
        (self.with_token(&token), r.body)
    }

    pub fn token(&self) -> &str {
        self.token.as_deref().expect("logged in")
    }
}

/// A unique username for this test run.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

pub struct Ws {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Ws {
    pub async fn connect(addr: SocketAddr, token: &str) -> Self {
        let (stream, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws?token={token}"))
            .await
            .expect("websocket connects");
        Self { stream }
    }

    /// The HTTP status the upgrade was refused with.
    pub async fn refused(addr: SocketAddr, token: &str) -> u16 {
        match tokio_tungstenite::connect_async(format!("ws://{addr}/ws?token={token}")).await {
            Ok(_) => panic!("upgrade should be refused"),
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => resp.status().as_u16(),
            Err(e) => panic!("unexpected error: {e}"),
        }
    }

    pub async fn send_json(&mut self, v: Value) {
        self.send_text(&v.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.stream
            .send(WsMessage::text(text.to_owned()))
            .await
            .expect("frame sent");
    }

    /// The next JSON text frame, or None on timeout/close.
    pub async fn next_within(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.stream.next()).await {
                Ok(Some(Ok(WsMessage::Text(t)))) => {
                    return Some(serde_json::from_str(t.as_str()).expect("server frames are JSON"))
                }
                Ok(Some(Ok(WsMessage::Close(_)))) | Ok(None) | Ok(Some(Err(_))) | Err(_) => {
                    return None
                }
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    /// Waits for a frame of `kind`, skipping others.
    pub async fn expect(&mut self, kind: &str) -> Value {
        self.expect_within(kind, WAIT).await
    }

    /// Waits up to `wait` for a frame of `kind`, skipping others.
    pub async fn expect_within(&mut self, kind: &str, wait: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_within(left).await {
                Some(v) if v["type"] == kind => return v,
                Some(_) => continue,
                None => panic!("no {kind:?} frame within {wait:?}"),
            }
        }
    }

    /// Waits for one frame of each kind, in whatever order they come (a socket's
    /// `ack` and its own `message.created` may arrive either way round); returns
    /// them in the order asked.
    pub async fn expect_each(&mut self, kinds: &[&str]) -> Vec<Value> {
        let mut found: Vec<Option<Value>> = vec![None; kinds.len()];
        let deadline = tokio::time::Instant::now() + WAIT;
        while found.iter().any(Option::is_none) {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let Some(v) = self.next_within(left).await else {
                panic!("no {kinds:?} frames within {WAIT:?} (found {found:?})");
            };
            if let Some(i) = kinds
                .iter()
                .enumerate()
                .position(|(i, k)| found[i].is_none() && v["type"] == *k)
            {
                found[i] = Some(v);
            }
        }
        found.into_iter().flatten().collect()
    }

    /// Asserts no frame of `kind` arrives within `wait`.
    pub async fn expect_no(&mut self, kind: &str, wait: Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return;
            }
            match self.next_within(left).await {
                Some(v) if v["type"] == kind => panic!("unexpected {kind} frame: {v}"),
                Some(_) => continue,
                None => return,
            }
        }
    }

    /// Sends a ping frame and waits for the pong: every frame sent before it has
    /// been handled.
    pub async fn sync(&mut self) {
        self.send_json(json!({"type": "ping"})).await;
        self.expect("pong").await;
    }

    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
        // Drain until the server's close arrives so its cleanup has run.
        let _ = tokio::time::timeout(WAIT, async {
            while let Some(Ok(_)) = self.stream.next().await {}
        })
        .await;
    }
}

/// Creates a chat named `name` with `members` via `owner`; returns its id.
pub async fn create_chat(owner: &Api, name: &str, members: &[&str]) -> String {
    let r = owner
        .post("/api/chats", json!({"name": name, "member_ids": members}))
        .await;
    assert_eq!(r.status, 201, "create chat: {}", r.body);
    r.body["id"].as_str().expect("chat id").to_owned()
}

/// Registers and logs in `name` through the use cases (no HTTP, so no throttle):
/// returns the access token and the user id.
pub async fn direct_login(app: &UseCases, name: &str) -> (String, String) {
    app.auth
        .register(name, "password-1", None)
        .await
        .expect("register");
    let pair = app
        .auth
        .login(
            name,
            "password-1",
            webchat::usecase::auth::ClientInfo {
                ip: None,
                user_agent: None,
            },
        )
        .await
        .expect("login");
    (pair.access_token, pair.user.id.to_string())
}

/// Walks a list endpoint page by page (`?limit=&after=`), the cursor being the
/// `key` of the last entry; `entries` picks the array out of a page. Returns the
/// keys in the order served and checks each page is full but the last.
pub async fn walk_pages(
    api: &Api,
    path: &str,
    limit: Option<usize>,
    entries: impl Fn(&Value) -> Vec<Value>,
    key: &str,
) -> Vec<String> {
    let page_size = limit.unwrap_or(100);
    let mut keys: Vec<String> = Vec::new();
    loop {
        let mut query = Vec::new();
        if let Some(limit) = limit {
            query.push(format!("limit={limit}"));
        }
        if let Some(last) = keys.last() {
            query.push(format!("after={last}"));
        }
        let url = if query.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{}", query.join("&"))
        };
        let r = api.get(&url).await;
        assert_eq!(r.status, 200, "{url}: {}", r.body);
        let page = entries(&r.body);
        assert!(
            page.len() <= page_size,
            "{url}: a page holds at most `limit`"
        );
        let last = page.len() < page_size;
        keys.extend(
            page.iter()
                .map(|e| e[key].as_str().expect("key").to_owned()),
        );
        if last {
            return keys;
        }
    }
}

pub fn user_id(login: &Value) -> String {
    login["user"]["id"].as_str().expect("user id").to_owned()
}

pub use webchat_redis::testing::{redis_url, unique_prefix};

pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A Redis connection for inspecting keys, or None (after printing `skipped:`).
pub async fn redis_or_skip() -> Option<redis::aio::MultiplexedConnection> {
    let url = webchat_redis::testing::redis_or_skip().await?;
    let client = redis::Client::open(url).expect("REDIS_URL parses");
    Some(
        client
            .get_multiplexed_async_connection()
            .await
            .expect("Redis answered a moment ago"),
    )
}

/// Configuration for one instance of a cluster sharing Redis under `prefix`.
pub fn redis_instance_config(prefix: &str, instance: &str) -> Config {
    let url = redis_url();
    let mut config = Config::from_lookup(|k| match k {
        "REDIS_URL" => Some(url.clone()),
        "WEBCHAT_KEY_PREFIX" => Some(prefix.to_owned()),
        "WEBCHAT_JWT_SECRET" => Some("cluster-test-secret-of-more-than-32-bytes".to_owned()),
        "WEBCHAT_INSTANCE_ID" => Some(instance.to_owned()),
        _ => None,
    })
    .expect("valid test configuration");
    config.port = 0;
    config
}

/// A free TCP port on loopback (bound, then released for a child to take).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind port 0")
        .local_addr()
        .expect("local address")
        .port()
}

/// A real `webchat` process (the binary under test), killed if still running on drop.
pub struct Process {
    pub child: tokio::process::Child,
    pub addr: SocketAddr,
}

impl Process {
    /// Starts the binary on a free port with `env` (and nothing else of this
    /// process's environment but `PATH`) as instance `instance`; returns once it
    /// answers `/health/live`.
    pub async fn spawn(instance: &str, env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_webchat"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("WEBCHAT_INSTANCE_ID", instance)
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("webchat binary starts");
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let live = format!("http://{addr}/health/live");
        for _ in 0..200 {
            if reqwest::get(&live)
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Self { child, addr };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{instance} did not come up on {addr}");
    }

    pub fn api(&self) -> Api {
        Api {
            http: reqwest::Client::new(),
            base: format!("http://{}", self.addr),
            token: None,
        }
    }

    /// SIGTERM, as an orchestrator stops it; waits for a clean exit.
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        let status = tokio::time::timeout(Duration::from_secs(15), self.child.wait())
            .await
            .expect("exits after SIGTERM")
            .expect("wait");
        assert!(status.success(), "clean exit on SIGTERM: {status}");
    }

    /// SIGKILL, as a crash or an OOM kill would: nothing runs on the way out.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }
}

/// Sends `count` messages to `chat` over REST, alternating `senders` (one per
/// instance), pausing `pause` after each; returns how many were acknowledged (201).
/// Every other answer must be 503: refused as unavailable (a backend failing over).
pub async fn send_alternating(senders: &[Api], chat: &str, count: usize, pause: Duration) -> usize {
    let mut acked = 0;
    for i in 0..count {
        let r = senders[i % senders.len()]
            .post(
                &format!("/api/chats/{chat}/messages"),
                json!({"content": format!("m{i}")}),
            )
            .await;
        if r.status == 201 {
            acked += 1;
        } else {
            assert_eq!(
                r.status, 503,
                "a send is acknowledged or refused as unavailable: {}",
                r.body
            );
        }
        tokio::time::sleep(pause).await;
    }
    acked
}

/// Speaks Socket.IO's connect over an Engine.IO WebSocket `socket`: the connect
/// packet with `token`, no event before the server accepts it (as
/// `socket.io-client` waits; an earlier event makes socketioxide close the
/// connection), then one `ping` event answered, which proves the socket's loop runs
/// (it is subscribed to its chats). Engine.IO heartbeats are answered meanwhile.
pub async fn socketio_ready<S>(socket: &mut WebSocketStream<S>, token: &str)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let connect = format!("40{}", json!({ "token": token }));
    socket.send(WsMessage::text(connect)).await.unwrap();
    loop {
        let frame = socket.next().await.expect("open").expect("frame");
        let text = frame.into_text().unwrap();
        if text.starts_with("40") {
            socket.send(WsMessage::text(r#"42["ping"]"#)).await.unwrap();
        } else if text.starts_with("42[\"pong\"") {
            return;
        } else if text.as_str() == "2" {
            socket.send(WsMessage::text("3")).await.unwrap();
        }
    }
}
