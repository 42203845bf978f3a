//! PostgreSQL unreachable: the test runs its own server, stops it and starts it
//! again. Sends answer 503, cached reads still serve, a socket that connects
//! meanwhile is told it is `degraded` until its chats load, and everything recovers
//! by itself once the database is back.

use std::time::Duration;

use serde_json::json;
use webchat::app::wiring;
use webchat::config::Config;
use webchat_postgres::testing::OwnPostgres;

use crate::common::{create_chat, unique, user_id, TestServer, Ws};

fn config(database_url: &str) -> Config {
    let url = database_url.to_owned();
    let mut config = Config::from_lookup(|k| match k {
        "DATABASE_URL" => Some(url.clone()),
        "WEBCHAT_JWT_SECRET" => Some("faults-test-secret-of-more-than-32-bytes".to_owned()),
        _ => None,
    })
    .expect("valid configuration");
    config.port = 0;
    config
}

#[tokio::test]
async fn with_the_database_down_sends_fail_cached_reads_serve_and_sockets_recover() {
    let Some(mut pg) = OwnPostgres::new() else {
        return;
    };
    let (app, backends) = wiring::build(&config(&pg.url()))
        .await
        .expect("app builds on the own server");
    let server = TestServer::start(app).await;
    let (alice, _) = server.client().signup(&unique("alice")).await;
    let (bob, bob_login) = server.client().signup(&unique("bob")).await;
    let chat = create_chat(&alice, "durable", &[&user_id(&bob_login)]).await;
    let messages = format!("/api/chats/{chat}/messages");
    let mut sent = Vec::new();
    for i in 1..=3 {
        let r = alice
            .post(&messages, json!({"content": format!("m{i}")}))
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        sent.push(r.body["id"].as_str().unwrap().to_owned());
    }
    // Reads cache what they read: the window and a message by id.
    assert_eq!(alice.get(&messages).await.body.as_array().unwrap().len(), 3);
    assert_eq!(
        alice
            .get(&format!("/api/messages/{}", sent[0]))
            .await
            .status,
        200
    );

    pg.stop();

    let r = alice.post(&messages, json!({"content": "lost?"})).await;
    assert_eq!(r.status, 503, "a send without the database: {}", r.body);
    assert_eq!(r.body["error"], "unavailable");
    let history = alice.get(&messages).await;
    assert_eq!(
        history.status, 200,
        "cached history still serves: {}",
        history.body
    );
    let contents: Vec<_> = history
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].clone())
        .collect();
    assert_eq!(
        contents,
        ["m3", "m2", "m1"],
        "the window, newest first, as committed"
    );
    let one = alice.get(&format!("/api/messages/{}", sent[0])).await;
    assert_eq!(
        (one.status, one.body["content"].as_str()),
        (200, Some("m1"))
    );

    // A socket opened now cannot learn its chats: it is told so, and keeps trying.
    let mut socket = Ws::connect(server.addr, bob.token()).await;
    let slow = Duration::from_secs(15);
    let degraded = socket.expect_within("error", slow).await;
    assert_eq!(degraded["code"], "degraded", "{degraded}");
    let again = socket.expect_within("error", slow).await;
    assert_eq!(
        again["code"], "degraded",
        "told again while it lasts: {again}"
    );

    pg.start().expect("the own server restarts");

    // Retries back off to 15 s at most (plus the pool's connect timeout).
    let subscribed = socket
        .expect_within("subscribed", Duration::from_secs(30))
        .await;
    assert_eq!(subscribed["chat_ids"], json!([chat]));

    // Sends work again without a restart, and reach the socket that was degraded.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let created = loop {
        let r = alice.post(&messages, json!({"content": "m4"})).await;
        if r.status == 201 {
            break r.body;
        }
        assert_eq!(
            r.status, 503,
            "only unavailable while reconnecting: {}",
            r.body
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "sends never recovered"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(created["seq"], 4, "the refused send took no seq");
    let event = socket.expect("message.created").await;
    assert_eq!(event["message"]["id"], created["id"]);

    socket.close().await;
    server.stop().await;
    backends.shutdown().await;
}
