//! Metrics, request ids and `WEBCHAT_METRICS=0`, seen from outside.
//!
//! The Prometheus recorder is process-wide, so tests in this file compare values
//! before and after what they do; only one of them opens sockets (the gauge).

mod common;

use std::time::Duration;

use common::{create_chat, unique, user_id, TestServer, Ws};
use serde_json::json;
use webchat::app::{wiring, App};
use webchat::config::Config;
use webchat::http::HttpOptions;
use webchat_postgres::testing::TestDatabase;

/// A scrape of `/metrics`.
struct Scrape(String);

impl Scrape {
    async fn take(server: &TestServer) -> Self {
        let resp = reqwest::get(server.url("/metrics")).await.expect("scrape");
        assert_eq!(resp.status(), 200);
        let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(content_type.starts_with("text/plain"), "{content_type}");
        Self(resp.text().await.unwrap())
    }

    /// The sum of the samples of `name` whose labels include `labels` (0 when none).
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.0
            .lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| {
                let (series, value) = line.rsplit_once(' ')?;
                let (metric, label_text) = match series.split_once('{') {
                    Some((metric, rest)) => (metric, rest.trim_end_matches('}')),
                    None => (series, ""),
                };
                if metric != name {
                    return None;
                }
                let has = |(k, v): &(&str, &str)| label_text.contains(&format!("{k}=\"{v}\""));
                labels.iter().all(has).then(|| value.parse::<f64>().ok())?
            })
            .sum()
    }
}

/// Scrapes until `check` holds (the server records some series just after the
/// client saw the effect), failing after a few seconds.
async fn eventually(server: &TestServer, what: &str, check: impl Fn(&Scrape) -> bool) -> Scrape {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let scrape = Scrape::take(server).await;
        if check(&scrape) {
            return scrape;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not seen in /metrics:\n{}",
            scrape.0
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const HTTP_COUNT: &str = "webchat_http_request_duration_seconds_count";

#[tokio::test]
async fn metrics_follow_requests_sockets_messages_and_the_cache() {
    let server = TestServer::memory().await;
    let before = Scrape::take(&server).await;
    let (alice, _) = server.client().signup(&unique("a")).await;
    let (bob, bob_login) = server.client().signup(&unique("b")).await;
    let chat = create_chat(&alice, "metrics", &[&user_id(&bob_login)]).await;

    let mut ws = Ws::connect(server.addr, bob.token()).await;
    ws.sync().await;
    let open = Scrape::take(&server).await;
    assert_eq!(
        open.value("webchat_ws_connections", &[]),
        before.value("webchat_ws_connections", &[]) + 1.0,
        "the gauge counts the open socket"
    );
    assert!(
        open.value("webchat_ws_connects_total", &[])
            >= before.value("webchat_ws_connects_total", &[]) + 1.0
    );

    let path = format!("/api/chats/{chat}/messages");
    let sent = alice.post(&path, json!({"content": "hello"})).await;
    assert_eq!(sent.status, 201);
    ws.expect("message.created").await;
    // Two history reads: the first builds the recent window, the second is served by it.
    assert_eq!(alice.get(&path).await.status, 200);
    assert_eq!(alice.get(&path).await.status, 200);
    assert_eq!(alice.get("/api/nowhere/42").await.status, 404);

    let after = eventually(&server, "delivery latency", |s| {
        s.value("webchat_delivery_latency_seconds_count", &[])
            > before.value("webchat_delivery_latency_seconds_count", &[])
    })
    .await;
    let grew = |name: &str, labels: &[(&str, &str)]| {
        after.value(name, labels) - before.value(name, labels)
    };
    assert!(grew("webchat_messages_sent_total", &[]) >= 1.0);
    assert!(grew("webchat_events_delivered_total", &[]) >= 1.0);
    assert!(grew("webchat_cache_hits_total", &[("read", "history")]) >= 1.0);
    assert!(grew("webchat_cache_misses_total", &[("read", "history")]) >= 1.0);
    let send_route = [
        ("method", "POST"),
        ("route", "/api/chats/{id}/messages"),
        ("status", "201"),
    ];
    assert!(grew(HTTP_COUNT, &send_route) >= 1.0, "{}", after.0);
    assert!(
        grew(
            HTTP_COUNT,
            &[("route", "/api/auth/register"), ("status", "201")]
        ) >= 2.0
    );
    assert!(grew(HTTP_COUNT, &[("route", "other"), ("status", "404")]) >= 1.0);
    assert!(
        after.value(
            "webchat_http_request_duration_seconds_bucket",
            &[("le", "+Inf")]
        ) > 0.0,
        "request durations are a histogram"
    );
    assert!(
        !after.0.contains(&chat),
        "raw paths never become labels:\n{}",
        after.0
    );

    ws.close().await;
    let closed = eventually(&server, "socket closed", |s| {
        s.value("webchat_ws_connections", &[]) == before.value("webchat_ws_connections", &[])
    })
    .await;
    assert!(
        closed.value("webchat_ws_disconnects_total", &[("reason", "client")])
            >= before.value("webchat_ws_disconnects_total", &[("reason", "client")]) + 1.0
    );
}

#[tokio::test]
async fn refused_requests_are_counted_by_policy() {
    let server = TestServer::memory().await;
    let before = Scrape::take(&server).await;
    let api = server.client();
    let mut refused = false;
    for _ in 0..11 {
        let r = api
            .post(
                "/api/auth/login",
                json!({"username": "nobody_here", "password": "whatever1"}),
            )
            .await;
        refused |= r.status == 429;
    }
    assert!(refused, "the strict policy refuses the eleventh login");
    let after = Scrape::take(&server).await;
    let strict = [("policy", "strict")];
    assert!(
        after.value("webchat_throttled_requests_total", &strict)
            >= before.value("webchat_throttled_requests_total", &strict) + 1.0
    );
    let throttled = [("route", "/api/auth/login"), ("status", "429")];
    assert!(after.value(HTTP_COUNT, &throttled) >= 1.0);
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let server = TestServer::memory().await;
    let http = reqwest::Client::new();
    let get = |path: &str, id: Option<&str>| {
        let mut req = http.get(server.url(path));
        if let Some(id) = id {
            req = req.header("x-request-id", id);
        }
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
            (status, id)
        }
    };
    let generated = |id: &str| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit());

    assert_eq!(
        get("/health", Some("trace-42")).await,
        (200, "trace-42".into())
    );
    let (status, id) = get("/health", None).await;
    assert!(status == 200 && generated(&id), "{id}");
    let (_, again) = get("/health", None).await;
    assert_ne!(id, again, "a new id per request");
    let long = "x".repeat(65);
    let (_, id) = get("/health", Some(&long)).await;
    assert!(generated(&id), "an over-long id is replaced: {id}");

    // Errors: unknown route, missing token, throttled.
    assert_eq!(
        get("/api/nowhere", Some("e-404")).await,
        (404, "e-404".into())
    );
    assert_eq!(
        get("/api/users/me", Some("e-401")).await,
        (401, "e-401".into())
    );
    let mut last = None;
    for i in 0..11 {
        let resp = http
            .post(server.url("/api/auth/login"))
            .header("x-request-id", format!("login-{i}"))
            .json(&json!({"username": "nobody_here", "password": "whatever1"}))
            .send()
            .await
            .unwrap();
        last = Some((
            resp.status().as_u16(),
            resp.headers()["x-request-id"].to_str().unwrap().to_owned(),
        ));
    }
    assert_eq!(last, Some((429, "login-10".into())));

    // A method the route does not have: 405 with the id and the methods it has.
    let resp = http
        .put(server.url("/api/chats"))
        .header("x-request-id", "e-405")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["x-request-id"], "e-405");
    assert_eq!(resp.headers()["allow"], "POST, GET, HEAD");
}

#[tokio::test]
async fn webchat_metrics_0_turns_the_endpoint_off() {
    let config = Config::from_lookup(|k| (k == "WEBCHAT_METRICS").then(|| "0".to_owned()))
        .expect("valid configuration");
    assert!(!config.metrics);
    let server = TestServer::start_with(App::in_memory(&config), HttpOptions::from(&config)).await;
    let resp = reqwest::get(server.url("/metrics")).await.unwrap();
    assert_eq!(resp.status(), 404);
    assert!(resp.headers().contains_key("x-request-id"));
}

#[tokio::test]
async fn the_postgres_pool_is_sampled_into_gauges() {
    let Some(db) = TestDatabase::create_or_skip().await else {
        return;
    };
    let url = db.url().to_owned();
    let mut config = Config::from_lookup(|k| (k == "DATABASE_URL").then(|| url.clone()))
        .expect("valid configuration");
    config.port = 0;
    let (app, backends) = wiring::build(&config).await.expect("app builds");
    let server = TestServer::start(app).await;
    // Register: the database answers, so the pool holds a connection afterwards.
    server.client().signup(&unique("p")).await;
    backends.sample_pools();
    let scrape = Scrape::take(&server).await;
    let pool = "webchat_postgres_pool_connections";
    let (in_use, idle) = (
        scrape.value(pool, &[("state", "in_use")]),
        scrape.value(pool, &[("state", "idle")]),
    );
    assert!(scrape.0.contains(pool), "{}", scrape.0);
    assert!(
        in_use + idle >= 1.0 && in_use + idle <= 10.0,
        "in use {in_use}, idle {idle}"
    );
    server.stop().await;
    db.drop_database().await;
}
