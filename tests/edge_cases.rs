//! Throttling, bad input and the checked-in OpenAPI document.

mod common;

use common::{create_chat, unique, TestServer, Ws};
use serde_json::json;
use webchat::app::App;
use webchat::config::Config;

#[tokio::test]
async fn the_eleventh_strict_send_is_throttled_across_rest_and_websocket() {
    let server = TestServer::memory().await;
    let (alice, _) = server.client().signup(&unique("a")).await;
    let chat = create_chat(&alice, "room", &[]).await;
    let path = format!("/api/chats/{chat}/messages");
    let first = alice.post(&path, json!({"content": "1"})).await;
    assert_eq!(first.status, 201);
    assert_eq!(first.header("ratelimit-limit"), Some("10"));
    assert_eq!(first.header("ratelimit-remaining"), Some("9"));
    assert!(first.header("ratelimit-reset").is_some());
    for i in 2..=9 {
        assert_eq!(
            alice
                .post(&path, json!({"content": i.to_string()}))
                .await
                .status,
            201
        );
    }
    // The tenth goes over the socket: one counter for both transports.
    let mut ws = Ws::connect(server.addr, alice.token()).await;
    ws.send_json(json!({"type": "send", "chat_id": chat, "content": "10"}))
        .await;
    ws.expect("ack").await;
    ws.send_json(json!({"type": "send", "chat_id": chat, "content": "11"}))
        .await;
    let refused = ws.expect("error").await;
    assert_eq!(refused["code"], "too_many_requests");

    let throttled = alice.post(&path, json!({"content": "12"})).await;
    assert_eq!(throttled.status, 429);
    assert_eq!(throttled.body["error"], "too_many_requests");
    let retry: u64 = throttled.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "retry-after {retry}");
    assert_eq!(throttled.header("ratelimit-remaining"), Some("0"));
    // Reads use the default policy and still pass; health is never throttled.
    assert_eq!(alice.get(&path).await.status, 200);
    assert_eq!(alice.get("/health").await.status, 200);
    let stored = alice.get(&format!("{path}?limit=100")).await;
    assert_eq!(
        stored.body.as_array().unwrap().len(),
        10,
        "refused sends stored nothing"
    );
}

#[tokio::test]
async fn login_is_throttled_per_ip_by_the_strict_policy() {
    let server = TestServer::memory().await;
    let api = server.client();
    let mut statuses = Vec::new();
    for _ in 0..11 {
        let r = api
            .post(
                "/api/auth/login",
                json!({"username": "nobody_here", "password": "whatever1"}),
            )
            .await;
        statuses.push(r.status);
    }
    assert_eq!(&statuses[..10], &[401; 10]);
    assert_eq!(statuses[10], 429);
}

#[tokio::test]
async fn bad_http_input_gets_clear_4xx_and_the_server_carries_on() {
    let server = TestServer::memory().await;
    let (alice, _) = server.client().signup(&unique("a")).await;
    let chat = create_chat(&alice, "room", &[]).await;
    let raw = |body: &'static str| {
        let alice = alice.clone();
        let url = format!("{}/api/chats/{chat}/messages", alice.base);
        async move {
            let r = alice
                .http
                .post(url)
                .bearer_auth(alice.token())
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json::<serde_json::Value>().await.unwrap())
        }
    };
    let (status, body) = raw("{not json").await;
    assert_eq!(status, 400);
    assert!(
        body["error"].is_string() && body["message"].is_string(),
        "{body}"
    );

    let big = json!({"content": "x".repeat(70 * 1024)});
    let r = alice
        .post(&format!("/api/chats/{chat}/messages"), big)
        .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (413, Some("payload_too_large"))
    );

    let long = json!({"content": "x".repeat(4001)});
    let r = alice
        .post(&format!("/api/chats/{chat}/messages"), long)
        .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (400, Some("validation"))
    );

    let r = alice.get("/api/chats/not-a-uuid").await;
    assert_eq!(r.status, 400);
    assert!(r.body["error"].is_string(), "{}", r.body);

    let r = alice
        .get(&format!("/api/chats/{chat}/messages?limit=0"))
        .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (400, Some("validation"))
    );

    let r = server
        .client()
        .post(
            "/api/auth/register",
            json!({"username": "x", "password": "password-1"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (400, Some("validation"))
    );

    assert_eq!(alice.get("/api/nowhere").await.status, 404);
    assert_eq!(
        alice.get("/api/users/me").await.status,
        200,
        "still serving"
    );
}

#[tokio::test]
async fn bad_frames_get_error_frames_and_nobody_is_disconnected() {
    let server = TestServer::memory().await;
    let (alice, _) = server.client().signup(&unique("a")).await;
    let (bob, bob_login) = server.client().signup(&unique("b")).await;
    let chat = create_chat(&alice, "room", &[&common::user_id(&bob_login)]).await;
    let mut a = Ws::connect(server.addr, alice.token()).await;
    let mut b = Ws::connect(server.addr, bob.token()).await;
    b.sync().await;

    for (frame, code) in [
        ("not json".to_owned(), "bad_frame"),
        (r#"{"type":"dance"}"#.to_owned(), "bad_frame"),
        (
            r#"{"type":"join","chat_id":"not-a-uuid"}"#.to_owned(),
            "validation",
        ),
        (
            format!(r#"{{"type":"send","chat_id":"{chat}","content":"   "}}"#),
            "validation",
        ),
        (
            format!(r#"{{"type":"ping","pad":"{}"}}"#, "x".repeat(70 * 1024)),
            "bad_frame",
        ),
    ] {
        a.send_text(&frame).await;
        let err = a.expect("error").await;
        assert_eq!(err["code"], code, "frame {:.60}", frame);
    }
    a.send_json(json!({"type": "send", "chat_id": chat, "content": "still here"}))
        .await;
    a.expect("ack").await;
    let got = b.expect("message.created").await;
    assert_eq!(got["message"]["content"], "still here");
}

#[tokio::test]
async fn health_reports_in_terminus_shape() {
    let server = TestServer::memory().await;
    let api = server.client();
    let h = api.get("/health").await;
    assert_eq!(h.status, 200);
    assert_eq!(h.body["status"], "ok");
    assert!(
        h.body["info"].is_object() && h.body["error"].is_object() && h.body["details"].is_object()
    );
    assert_eq!(api.get("/health/live").await.status, 200);
    assert_eq!(api.get("/openapi.json").await.status, 200);
    assert_eq!(api.get("/docs").await.status, 200);
}

#[test]
fn checked_in_openapi_matches_the_code() {
    let app = App::in_memory(&Config::for_tests());
    let spec = webchat::http::openapi_json(&app.usecases);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");
    if std::env::var("WEBCHAT_WRITE_OPENAPI").is_ok() {
        std::fs::write(path, format!("{spec}\n")).unwrap();
    }
    let checked_in = std::fs::read_to_string(path).expect("openapi/openapi.json exists");
    assert_eq!(
        checked_in.trim_end(),
        spec.trim_end(),
        "openapi/openapi.json drifted: run WEBCHAT_WRITE_OPENAPI=1 cargo test --test edge_cases"
    );
}

#[tokio::test]
async fn a_frame_flood_is_refused_per_socket_and_others_carry_on() {
    let server = TestServer::memory().await;
    let (alice, _) = server.client().signup(&unique("a")).await;
    let (bob, _) = server.client().signup(&unique("b")).await;
    let mut flooder = Ws::connect(server.addr, alice.token()).await;
    let mut calm = Ws::connect(server.addr, bob.token()).await;
    for _ in 0..80 {
        flooder
            .send_json(json!({"type": "status", "status": "away"}))
            .await;
    }
    let refused = flooder.expect("error").await;
    assert_eq!(refused["code"], "too_many_requests");
    calm.sync().await;
    // The budget refills: after a pause the same socket is served again.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    flooder.sync().await;
}

/// Control characters (NUL first of all) are refused in every client-supplied text
/// field with 400 `validation` over REST and a `validation` error frame over a
/// socket, and nothing reaches a store. Content alone takes line breaks and tabs.
#[tokio::test]
async fn control_characters_are_refused_in_every_text_field() {
    let server = TestServer::memory().await;
    let api = server.client();
    for body in [
        json!({"username": "nul\u{0}name", "password": "password-1"}),
        json!({"username": unique("p"), "password": "pass\u{0}word-1"}),
        json!({"username": unique("p"), "password": "password-1\u{7}"}),
        json!({"username": unique("d"), "password": "password-1", "display_name": "Al\u{0}"}),
        json!({"username": unique("d"), "password": "password-1", "display_name": "Al\u{85}"}),
    ] {
        let r = api.post("/api/auth/register", body.clone()).await;
        assert_eq!(
            (r.status, r.body["error"].as_str()),
            (400, Some("validation")),
            "{body}: {}",
            r.body
        );
    }
    let (alice, _) = api.signup(&unique("a")).await;
    let chat = create_chat(&alice, "room", &[]).await;
    for name in [
        "gen\u{0}eral",
        "general\n",
        "tab\there",
        "\u{1b}[31mred",
        "x\u{9f}",
    ] {
        let r = alice.post("/api/chats", json!({"name": name})).await;
        assert_eq!(
            (r.status, r.body["error"].as_str()),
            (400, Some("validation")),
            "name {name:?}: {}",
            r.body
        );
    }
    let path = format!("/api/chats/{chat}/messages");
    for body in [
        json!({"content": "hi\u{0}"}),
        json!({"content": "bell\u{7}"}),
        json!({"content": "windows\r\nline"}),
        json!({"content": "del\u{7f}"}),
        json!({"content": "ok", "client_msg_id": "c\u{0}1"}),
    ] {
        let r = alice.post(&path, body.clone()).await;
        assert_eq!(
            (r.status, r.body["error"].as_str()),
            (400, Some("validation")),
            "{body}: {}",
            r.body
        );
    }
    let kept = alice
        .post(&path, json!({"content": "line 1\n\tline 2"}))
        .await;
    assert_eq!(kept.status, 201, "{}", kept.body);
    assert_eq!(kept.body["content"], "line 1\n\tline 2");
    let id = kept.body["id"].as_str().unwrap().to_owned();
    let r = alice
        .patch(&format!("/api/messages/{id}"), json!({"content": "x\u{0}"}))
        .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (400, Some("validation"))
    );
    let r = alice.get("/api/users?q=al%00").await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (400, Some("validation")),
        "{}",
        r.body
    );

    let mut ws = Ws::connect(server.addr, alice.token()).await;
    for frame in [
        json!({"type": "send", "chat_id": chat, "content": "nul\u{0}"}),
        json!({"type": "send", "chat_id": chat, "content": "esc\u{1b}"}),
        json!({"type": "send", "chat_id": chat, "content": "ok", "client_msg_id": "k\u{0}"}),
    ] {
        ws.send_json(frame.clone()).await;
        let err = ws.expect("error").await;
        assert_eq!(err["code"], "validation", "{frame}: {err}");
        assert_eq!(err["chat_id"], chat.as_str());
    }
    ws.send_json(
        json!({"type": "send", "chat_id": chat, "content": "a\tb", "client_msg_id": "k-1"}),
    )
    .await;
    let ack = ws.expect("ack").await;
    assert_eq!(ack["message"]["content"], "a\tb");

    let history = alice.get(&path).await.body;
    let contents: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(
        contents,
        ["a\tb", "line 1\n\tline 2"],
        "refused sends stored nothing"
    );
    let chats = alice.get("/api/chats").await.body;
    let names: Vec<&str> = chats
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["room"], "refused chats were not created");
}
