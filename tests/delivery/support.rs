//! Two instances over one Redis and one PostgreSQL database, and sockets that
//! record what they receive per chat.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use webchat::app::wiring::{wire, Backends};
use webchat::config::Config;
use webchat_ports::{EventBus, MessageRepository};
use webchat_postgres::testing::TestDatabase;
use webchat_postgres::PgBackend;
use webchat_redis::testing::{redis_or_skip, unique_prefix, OwnRedis};

use crate::common::{Api, TestServer, Ws};

/// Wraps an instance's event bus (instance index 0 or 1) to cause a fault.
pub type BusWrap = Arc<dyn Fn(Arc<dyn EventBus>, usize) -> Arc<dyn EventBus> + Send + Sync>;

pub struct Cluster {
    pub servers: Vec<TestServer>,
    backends: Vec<Backends>,
    db: Option<TestDatabase>,
    /// The Redis of this cluster alone, when the test kills its connections.
    pub own_redis: Option<OwnRedis>,
}

/// Wraps the message repository of every instance (to slow a read down).
pub type RepoWrap =
    Arc<dyn Fn(Arc<dyn MessageRepository>) -> Arc<dyn MessageRepository> + Send + Sync>;

#[derive(Default)]
pub struct Options {
    pub own_redis: bool,
    pub wrap: Option<BusWrap>,
    pub wrap_messages: Option<RepoWrap>,
}

impl Cluster {
    pub async fn start() -> Option<Self> {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(options: Options) -> Option<Self> {
        let db = TestDatabase::create_or_skip().await?;
        let (url, own_redis) = if options.own_redis {
            let redis = OwnRedis::new()?;
            (redis.url(), Some(redis))
        } else {
            (redis_or_skip().await?, None)
        };
        let pg = PgBackend::connect(db.url()).expect("test database URL");
        pg.run_migrations().await.expect("migrations apply");
        let prefix = unique_prefix();
        let mut servers = Vec::new();
        let mut backends = Vec::new();
        for i in 0..2 {
            let config = config(&url, &prefix, &format!("node-{i}"));
            let mut wired = wire(&config, pg.repositories(), Some(pg.clone())).expect("wires");
            if let Some(wrap) = &options.wrap {
                wired.ports.bus = wrap(wired.ports.bus.clone(), i);
                // Every publication goes through the wrapped bus (the one-round-trip
                // announcer would go around it).
                wired.ports.announcer = None;
            }
            if let Some(wrap) = &options.wrap_messages {
                wired.ports.messages = wrap(wired.ports.messages.clone());
            }
            let (app, b) = wired.into_app();
            servers.push(TestServer::start(app).await);
            backends.push(b);
        }
        Some(Self {
            servers,
            backends,
            db: Some(db),
            own_redis,
        })
    }

    pub fn a(&self) -> &TestServer {
        &self.servers[0]
    }

    pub fn b(&self) -> &TestServer {
        &self.servers[1]
    }

    pub async fn stop(mut self) {
        for s in self.servers.drain(..) {
            s.stop().await;
        }
        for b in &self.backends {
            b.shutdown().await;
        }
        if let Some(db) = self.db.take() {
            db.drop_database().await;
        }
    }
}

fn config(url: &str, prefix: &str, instance: &str) -> Config {
    let mut config = Config::from_lookup(|k| {
        Some(match k {
            "REDIS_URL" => url.to_owned(),
            "WEBCHAT_KEY_PREFIX" => prefix.to_owned(),
            "WEBCHAT_JWT_SECRET" => "delivery-test-secret-of-32-bytes!!".to_owned(),
            "WEBCHAT_INSTANCE_ID" => instance.to_owned(),
            "WEBCHAT_THROTTLE_STRICT" | "WEBCHAT_THROTTLE_DEFAULT" => "100000/60".to_owned(),
            _ => return None,
        })
    })
    .expect("valid test configuration");
    config.port = 0;
    config
}

/// A socket that records every frame it receives, per chat.
pub struct Socket {
    ws: Ws,
    /// `message.created` seqs per chat, in arrival order.
    pub created: HashMap<String, Vec<i64>>,
    /// Every other frame, in arrival order.
    pub frames: Vec<Value>,
    pub acks: usize,
}

impl Socket {
    pub async fn connect(server: &TestServer, token: &str) -> Self {
        let mut ws = Ws::connect(server.addr, token).await;
        ws.sync().await;
        Self {
            ws,
            created: HashMap::new(),
            frames: Vec::new(),
            acks: 0,
        }
    }

    pub async fn send(&mut self, chat: &str, content: &str) {
        self.ws
            .send_json(json!({"type": "send", "chat_id": chat, "content": content}))
            .await;
    }

    pub async fn send_json(&mut self, frame: Value) {
        self.ws.send_json(frame).await;
    }

    fn record(&mut self, frame: Value) {
        match frame["type"].as_str() {
            Some("message.created") => {
                let chat = frame["chat_id"].as_str().unwrap_or_default().to_owned();
                let seq = frame["message"]["seq"].as_i64().expect("an integer seq");
                self.created.entry(chat).or_default().push(seq);
            }
            Some("ack") => self.acks += 1,
            _ => {}
        }
        self.frames.push(frame);
    }

    /// Reads frames until `done` holds (true) or `within` passes (false).
    pub async fn until(&mut self, within: Duration, done: impl Fn(&Self) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        while !done(self) {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return false;
            }
            match self.ws.next_within(left).await {
                Some(frame) => self.record(frame),
                None => return done(self),
            }
        }
        true
    }

    /// Waits for `n` `message.created` of `chat` and returns their seqs.
    pub async fn created_in(&mut self, chat: &str, n: usize, within: Duration) -> Vec<i64> {
        self.until(within, |s| s.created.get(chat).map_or(0, Vec::len) >= n)
            .await;
        self.created.get(chat).cloned().unwrap_or_default()
    }

    /// The next frame of `kind`, recording the others.
    pub async fn expect(&mut self, kind: &str, within: Duration) -> Value {
        let start = self.frames.len();
        let found = |s: &Self| s.frames[start..].iter().any(|f| f["type"] == kind);
        assert!(
            self.until(within, found).await,
            "no {kind} frame within {within:?}"
        );
        self.frames[start..]
            .iter()
            .find(|f| f["type"] == kind)
            .cloned()
            .expect("found above")
    }

    pub async fn close(self) {
        self.ws.close().await;
    }
}

/// Asserts `seqs` is exactly `expected`: each once, in order, nothing else.
pub fn assert_exactly_once_in_order(who: &str, seqs: &[i64], expected: &[i64]) {
    if seqs == expected {
        return;
    }
    let inversions = seqs.windows(2).filter(|w| w[1] <= w[0]).count();
    let mut sorted = seqs.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let missing: Vec<i64> = expected
        .iter()
        .filter(|s| sorted.binary_search(s).is_err())
        .copied()
        .take(20)
        .collect();
    panic!(
        "{who}: got {} deliveries ({} distinct, {inversions} out of order), missing {missing:?}; expected {}",
        seqs.len(),
        sorted.len(),
        expected.len()
    );
}

/// Signs up `n` users on the given servers (round robin) and returns their clients.
pub async fn users(servers: &[&TestServer], n: usize, prefix: &str) -> Vec<(Api, String)> {
    let mut out = Vec::new();
    for i in 0..n {
        let server = servers[i % servers.len()];
        let (api, login) = server
            .client()
            .signup(&crate::common::unique(&format!("{prefix}{i}")))
            .await;
        out.push((api, crate::common::user_id(&login)));
    }
    out
}

/// A chat created by the first user with all the others as members.
pub async fn chat_of(users: &[(Api, String)]) -> String {
    let others: Vec<&str> = users[1..].iter().map(|(_, id)| id.as_str()).collect();
    crate::common::create_chat(&users[0].0, "delivery", &others).await
}

/// A token-authenticated client of `server` for the user `api` logged in as.
pub fn on(server: &TestServer, api: &Api) -> Api {
    server.client().with_token(api.token())
}
