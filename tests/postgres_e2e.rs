//! PostgreSQL as the source of truth: history survives restarts and cache flushes,
//! seqs stay gapless across instances, and two real `webchat` processes sharing
//! Redis and PostgreSQL act as one server.

mod common;

use common::{
    create_chat, redis_or_skip, unique, unique_prefix, user_id, walk_pages, Process, TestServer, Ws,
};
use futures::future::join_all;
use serde_json::{json, Value};
use webchat::app::wiring::{self, Backends};
use webchat::app::App;
use webchat::config::Config;
use webchat_postgres::testing::TestDatabase;

fn config(db: &TestDatabase, prefix: Option<&str>, instance: &str) -> Config {
    let url = db.url().to_owned();
    let redis = common::redis_url();
    let mut config = Config::from_lookup(|k| match k {
        "DATABASE_URL" => Some(url.clone()),
        "REDIS_URL" => prefix.map(|_| redis.clone()),
        "WEBCHAT_KEY_PREFIX" => prefix.map(str::to_owned),
        "WEBCHAT_JWT_SECRET" => Some("pg-test-secret-of-more-than-32-bytes".to_owned()),
        "WEBCHAT_INSTANCE_ID" => Some(instance.to_owned()),
        _ => None,
    })
    .expect("valid configuration");
    config.port = 0;
    config
}

async fn boot(config: &Config) -> (TestServer, Backends) {
    let (app, backends) = wiring::build(config).await.expect("app builds");
    (TestServer::start(app).await, backends)
}

fn seqs_and_ids(history: &Value) -> Vec<(i64, String)> {
    history
        .as_array()
        .expect("history array")
        .iter()
        .map(|m| {
            (
                m["seq"].as_i64().unwrap(),
                m["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn history_survives_a_restart_and_a_flushed_cache() {
    let Some(db) = TestDatabase::create_or_skip().await else {
        return;
    };
    let Some(_) = redis_or_skip().await else {
        return;
    };
    let prefix = unique_prefix();
    let cfg = config(&db, Some(&prefix), "pg-1");

    let (server, backends) = boot(&cfg).await;
    let (alice, _) = server.client().signup(&unique("a")).await;
    let chat = create_chat(&alice, "durable", &[]).await;
    for i in 1..=7 {
        let r = alice
            .post(
                &format!("/api/chats/{chat}/messages"),
                json!({"content": format!("m{i}")}),
            )
            .await;
        assert_eq!(r.status, 201);
    }
    let before = alice.get(&format!("/api/chats/{chat}/messages")).await.body;
    assert_eq!(seqs_and_ids(&before).len(), 7);
    let token = alice.token().to_owned();
    server.stop().await;
    backends.shutdown().await;

    // A new process on the same database and Redis: sessions (Redis) and history
    // (PostgreSQL) are both still there.
    let (server, backends) = boot(&cfg).await;
    let alice = server.client().with_token(&token);
    let after = alice.get(&format!("/api/chats/{chat}/messages")).await;
    assert_eq!(after.status, 200, "{}", after.body);
    assert_eq!(seqs_and_ids(&after.body), seqs_and_ids(&before));

    // Flush the cache: reads come from PostgreSQL, identical, and re-warm the cache.
    server.app.admin.clear_cache().await.expect("clear cache");
    let flushed = alice.get(&format!("/api/chats/{chat}/messages")).await.body;
    assert_eq!(seqs_and_ids(&flushed), seqs_and_ids(&before));
    for m in flushed.as_array().unwrap() {
        let id = m["id"].as_str().unwrap();
        assert_eq!(alice.get(&format!("/api/messages/{id}")).await.status, 200);
    }
    let stats = server.app.admin.stats().await.expect("stats");
    assert!(
        stats.total_cached_messages >= 7,
        "reads by id re-cached: {stats:?}"
    );
    let first_id = before[6]["id"].as_str().unwrap();
    let one = alice.get(&format!("/api/messages/{first_id}")).await;
    assert_eq!(
        (one.body["seq"].as_i64(), one.body["content"].as_str()),
        (Some(1), Some("m1"))
    );
    let next = alice
        .post(
            &format!("/api/chats/{chat}/messages"),
            json!({"content": "m8"}),
        )
        .await;
    assert_eq!(next.body["seq"], 8, "seq continues after the restart");
    server.stop().await;
    backends.shutdown().await;
    db.drop_database().await;
}

#[tokio::test]
async fn concurrent_sends_through_two_instances_get_seqs_one_to_n() {
    let Some(db) = TestDatabase::create_or_skip().await else {
        return;
    };
    let mut apps: Vec<(App, Backends)> = Vec::new();
    for instance in ["c-1", "c-2"] {
        apps.push(
            wiring::build(&config(&db, None, instance))
                .await
                .expect("app builds"),
        );
    }
    let (a, b) = (&apps[0].0.usecases, &apps[1].0.usecases);
    let user = a
        .auth
        .register(&unique("c"), "password-1", None)
        .await
        .unwrap();
    let chat = a.chats.create(user.id, "race", &[]).await.unwrap().chat.id;
    const N: usize = 60;
    let sends = (0..N).map(|i| {
        let app = if i % 2 == 0 { a } else { b };
        async move {
            app.messages
                .send(user.id, chat, &format!("m{i}"), None)
                .await
        }
    });
    let results = join_all(sends).await;
    let mut seqs: Vec<i64> = results.into_iter().map(|r| r.expect("send").seq).collect();
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (1..=N as i64).collect::<Vec<_>>(),
        "gapless and unique"
    );
    let stored = b
        .messages
        .history(user.id, chat, None, Some(100))
        .await
        .unwrap();
    assert_eq!(stored.len(), N);
    for (_, backends) in &apps {
        backends.shutdown().await;
    }
    drop(apps);
    db.drop_database().await;
}

/// PostgreSQL refuses NUL in text: before the domain refused control characters, a
/// NUL in a chat name or message content reached it and came back as 503. Now
/// every transport answers 400 `validation` and the database is never asked.
#[tokio::test]
async fn control_characters_are_a_400_on_postgres_not_a_503() {
    let Some(db) = TestDatabase::create_or_skip().await else {
        return;
    };
    let (server, backends) = boot(&config(&db, None, "nul-1")).await;
    let api = server.client();
    let r = api
        .post(
            "/api/auth/register",
            json!({"username": unique("n"), "password": "password-1", "display_name": "N\u{0}"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (400, Some("validation")),
        "{}",
        r.body
    );
    let (alice, _) = api.signup(&unique("a")).await;
    let r = alice
        .post("/api/chats", json!({"name": "nul\u{0}chat"}))
        .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (400, Some("validation")),
        "{}",
        r.body
    );
    let chat = create_chat(&alice, "clean", &[]).await;
    let path = format!("/api/chats/{chat}/messages");
    let r = alice
        .post(&path, json!({"content": "nul\u{0}content"}))
        .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (400, Some("validation")),
        "{}",
        r.body
    );
    let sent = alice.post(&path, json!({"content": "fine"})).await;
    assert_eq!(sent.status, 201, "{}", sent.body);
    let id = sent.body["id"].as_str().unwrap();
    let r = alice
        .patch(
            &format!("/api/messages/{id}"),
            json!({"content": "edit\u{0}"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (400, Some("validation")),
        "{}",
        r.body
    );

    let mut ws = Ws::connect(server.addr, alice.token()).await;
    ws.send_json(json!({"type": "send", "chat_id": chat, "content": "ws\u{0}"}))
        .await;
    let err = ws.expect("error").await;
    assert_eq!(err["code"], "validation", "{err}");
    ws.close().await;

    let history = alice.get(&path).await;
    assert_eq!(history.status, 200);
    assert_eq!(
        history.body.as_array().unwrap().len(),
        1,
        "only the clean send stored"
    );
    assert_eq!(
        history.body[0]["content"], "fine",
        "the refused edit changed nothing"
    );
    server.stop().await;
    backends.shutdown().await;
    db.drop_database().await;
}

/// On PostgreSQL: the chat list pages by id (`WHERE chat_id > $after ORDER BY
/// chat_id LIMIT`) with no duplicates or omissions, and the member cap holds
/// against concurrent adds through two instances on one database.
#[tokio::test]
async fn chat_pages_and_the_member_cap_on_postgres() {
    let Some(db) = TestDatabase::create_or_skip().await else {
        return;
    };
    let mut cfg = config(&db, None, "cap-1");
    cfg.max_chat_members = 4;
    let (one, one_backends) = boot(&cfg).await;
    cfg.instance_id = webchat_domain::InstanceId::parse("cap-2").unwrap();
    let (two, two_backends) = boot(&cfg).await;
    let (alice, login) = one.client().signup(&unique("a")).await;
    let me: webchat_domain::UserId = user_id(&login).parse().unwrap();
    let mut others = Vec::new();
    for _ in 0..9 {
        let user = one
            .app
            .auth
            .register(&unique("m"), "password-1", None)
            .await
            .unwrap();
        others.push(user.id);
    }

    let mut mine = Vec::new();
    for i in 0..23 {
        let view = one
            .app
            .chats
            .create(me, &format!("c{i}"), &others[..1])
            .await
            .unwrap();
        mine.push(view.chat.id.to_string());
        one.app
            .chats
            .create(others[0], "elsewhere", &[])
            .await
            .unwrap();
    }
    mine.sort();
    let chats = |v: &Value| v.as_array().unwrap().clone();
    for limit in [Some(5), Some(23), None] {
        let walked = walk_pages(&alice, "/api/chats", limit, chats, "id").await;
        assert_eq!(walked, mine, "limit {limit:?}");
    }

    let chat = create_chat(&alice, "race", &[]).await;
    let path = format!("/api/chats/{chat}/members");
    // No Redis: each instance keeps its own sessions, so alice logs in on both.
    let name = login["user"]["username"].as_str().unwrap();
    let again = two
        .client()
        .post(
            "/api/auth/login",
            json!({"username": name, "password": "password-1"}),
        )
        .await;
    let alice_two = two
        .client()
        .with_token(again.body["access_token"].as_str().unwrap());
    let adds = others.iter().enumerate().map(|(i, user)| {
        let api = if i % 2 == 0 {
            alice.clone()
        } else {
            alice_two.clone()
        };
        let path = path.clone();
        let user = user.to_string();
        async move { api.post(&path, json!({"user_id": user})).await }
    });
    let replies = join_all(adds).await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(
        (
            statuses.iter().filter(|s| **s == 200).count(),
            statuses.iter().filter(|s| **s == 409).count()
        ),
        (3, 6),
        "three free places: {statuses:?}"
    );
    assert!(replies
        .iter()
        .filter(|r| r.status == 409)
        .all(|r| r.body["error"] == "chat_full"));
    let view = alice.get(&format!("/api/chats/{chat}")).await;
    assert_eq!(view.body["member_ids"].as_array().unwrap().len(), 4);
    let crowd: Vec<String> = others[..4].iter().map(|u| u.to_string()).collect();
    let r = alice
        .post("/api/chats", json!({"name": "crowd", "member_ids": crowd}))
        .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (409, Some("chat_full"))
    );

    one.stop().await;
    two.stop().await;
    one_backends.shutdown().await;
    two_backends.shutdown().await;
    db.drop_database().await;
}

/// A real `webchat` process on the test database and the shared Redis.
async fn spawn(db: &TestDatabase, prefix: &str, instance: &str) -> Process {
    let redis = common::redis_url();
    Process::spawn(
        instance,
        &[
            ("DATABASE_URL", db.url()),
            ("REDIS_URL", redis.as_str()),
            ("WEBCHAT_KEY_PREFIX", prefix),
            (
                "WEBCHAT_JWT_SECRET",
                "two-process-secret-of-more-than-32-bytes",
            ),
        ],
    )
    .await
}

#[tokio::test]
async fn two_real_processes_share_redis_and_postgres() {
    let Some(db) = TestDatabase::create_or_skip().await else {
        return;
    };
    let Some(_) = redis_or_skip().await else {
        return;
    };
    let prefix = unique_prefix();
    let one = spawn(&db, &prefix, "proc-1").await;
    let two = spawn(&db, &prefix, "proc-2").await;

    let name = unique("p");
    let r = one
        .api()
        .post(
            "/api/auth/register",
            json!({"username": name, "password": "password-1"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let login = two
        .api()
        .post(
            "/api/auth/login",
            json!({"username": name, "password": "password-1"}),
        )
        .await;
    assert_eq!(
        login.status, 200,
        "registered on one, logged in on two: {}",
        login.body
    );
    let alice_two = two
        .api()
        .with_token(login.body["access_token"].as_str().unwrap());
    let (bob_one, bob_login) = one.api().signup(&unique("q")).await;
    let chat = create_chat(&alice_two, "procs", &[&user_id(&bob_login)]).await;

    let mut bob_ws = Ws::connect(two.addr, bob_one.token()).await;
    bob_ws.sync().await;
    let alice_one = one.api().with_token(alice_two.token());
    let sent = alice_one
        .post(
            &format!("/api/chats/{chat}/messages"),
            json!({"content": "between processes"}),
        )
        .await;
    assert_eq!(sent.status, 201);
    let got = bob_ws.expect("message.created").await;
    assert_eq!(got["message"]["id"], sent.body["id"]);
    let health = one.api().get("/health").await;
    assert_eq!(health.status, 200, "{}", health.body);
    assert_eq!(health.body["info"]["database"]["status"], "up");
    assert_eq!(health.body["info"]["redis"]["status"], "up");

    bob_ws.close().await;
    one.stop().await;
    two.stop().await;
    db.drop_database().await;
}
