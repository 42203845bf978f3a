//! Chats, messages and the WebSocket gateway, end to end over real sockets.

mod common;

use std::time::Duration;

use common::{create_chat, direct_login, unique, user_id, walk_pages, TestServer, Ws};
use futures::future::join_all;
use serde_json::{json, Value};
use webchat::app::App;
use webchat::config::Config;
use webchat_domain::UserId;

#[tokio::test]
async fn chats_membership_and_forbidden_outsiders() {
    let server = TestServer::memory().await;
    let (alice, _) = server.client().signup(&unique("a")).await;
    let (bob, bob_login) = server.client().signup(&unique("b")).await;
    let (carol, carol_login) = server.client().signup(&unique("c")).await;
    let chat = create_chat(&alice, "general", &[&user_id(&bob_login)]).await;

    let view = bob.get(&format!("/api/chats/{chat}")).await;
    assert_eq!(view.status, 200);
    assert_eq!(view.body["member_ids"].as_array().unwrap().len(), 2);
    assert_eq!(
        bob.get("/api/chats").await.body.as_array().unwrap().len(),
        1
    );

    for r in [
        carol.get(&format!("/api/chats/{chat}")).await,
        carol.get(&format!("/api/chats/{chat}/messages")).await,
        carol
            .post(
                &format!("/api/chats/{chat}/messages"),
                json!({"content": "hi"}),
            )
            .await,
        carol
            .post(
                &format!("/api/chats/{chat}/members"),
                json!({"user_id": user_id(&carol_login)}),
            )
            .await,
    ] {
        assert_eq!(
            (r.status, r.body["error"].as_str()),
            (403, Some("forbidden")),
            "{}",
            r.body
        );
    }
    let mut ws = Ws::connect(server.addr, carol.token()).await;
    ws.send_json(json!({"type": "join", "chat_id": chat})).await;
    let err = ws.expect("error").await;
    assert_eq!(err["code"], "forbidden");

    let added = bob
        .post(
            &format!("/api/chats/{chat}/members"),
            json!({"user_id": user_id(&carol_login)}),
        )
        .await;
    assert_eq!(added.status, 200, "{}", added.body);
    let joined = ws.expect("chat.joined").await;
    assert_eq!(joined["chat"]["id"], chat.as_str());
    assert_eq!(
        carol
            .get(&format!("/api/chats/{chat}/messages"))
            .await
            .status,
        200
    );
    let missing = alice
        .get(&format!("/api/chats/{}", uuid::Uuid::new_v4()))
        .await;
    assert_eq!(missing.status, 404);
}

#[tokio::test]
async fn rest_send_reaches_every_member_socket_and_no_outsider() {
    let server = TestServer::memory().await;
    let (alice, _) = server.client().signup(&unique("a")).await;
    let (bob, bob_login) = server.client().signup(&unique("b")).await;
    let (carol, _) = server.client().signup(&unique("c")).await;
    let chat = create_chat(&alice, "room", &[&user_id(&bob_login)]).await;

    let mut bob1 = Ws::connect(server.addr, bob.token()).await;
    let mut bob2 = Ws::connect(server.addr, bob.token()).await;
    let mut alice_ws = Ws::connect(server.addr, alice.token()).await;
    let mut carol_ws = Ws::connect(server.addr, carol.token()).await;
    for ws in [&mut bob1, &mut bob2, &mut alice_ws, &mut carol_ws] {
        ws.sync().await;
    }

    let sent = alice
        .post(
            &format!("/api/chats/{chat}/messages"),
            json!({"content": "  hello  "}),
        )
        .await;
    assert_eq!(sent.status, 201, "{}", sent.body);
    assert_eq!(sent.body["content"], "hello");
    assert_eq!(sent.body["seq"], 1);
    for ws in [&mut bob1, &mut bob2, &mut alice_ws] {
        let ev = ws.expect("message.created").await;
        assert_eq!(ev["chat_id"], chat.as_str());
        assert_eq!(ev["message"]["id"], sent.body["id"]);
        assert_eq!(ev["message"]["seq"], 1);
    }
    carol_ws
        .expect_no("message.created", Duration::from_millis(300))
        .await;
}

#[tokio::test]
async fn websocket_send_is_acked_idempotent_and_fans_out() {
    let server = TestServer::memory().await;
    let (alice, _) = server.client().signup(&unique("a")).await;
    let (bob, bob_login) = server.client().signup(&unique("b")).await;
    let chat = create_chat(&alice, "room", &[&user_id(&bob_login)]).await;
    let mut a = Ws::connect(server.addr, alice.token()).await;
    let mut b = Ws::connect(server.addr, bob.token()).await;
    b.sync().await;

    a.send_json(json!({"type": "send", "chat_id": chat, "content": "yo", "client_msg_id": "c-1"}))
        .await;
    let ack = a.expect("ack").await;
    assert_eq!(ack["client_msg_id"], "c-1");
    assert_eq!(ack["message"]["content"], "yo");
    let got = b.expect("message.created").await;
    assert_eq!(got["message"]["id"], ack["message"]["id"]);

    a.send_json(json!({"type": "send", "chat_id": chat, "content": "yo", "client_msg_id": "c-1"}))
        .await;
    let again = a.expect("ack").await;
    assert_eq!(
        again["message"]["id"], ack["message"]["id"],
        "same client_msg_id, same message"
    );
    b.expect_no("message.created", Duration::from_millis(300))
        .await;
    let history = bob.get(&format!("/api/chats/{chat}/messages")).await;
    assert_eq!(history.body.as_array().unwrap().len(), 1);

    let rest_again = alice
        .post(
            &format!("/api/chats/{chat}/messages"),
            json!({"content": "yo", "client_msg_id": "c-1"}),
        )
        .await;
    assert_eq!(rest_again.body["id"], ack["message"]["id"]);
}

#[tokio::test]
async fn edit_delete_pin_events_and_rules() {
    let server = TestServer::memory().await;
    let (alice, _) = server.client().signup(&unique("a")).await;
    let (bob, bob_login) = server.client().signup(&unique("b")).await;
    let chat = create_chat(&alice, "room", &[&user_id(&bob_login)]).await;
    let mut b = Ws::connect(server.addr, bob.token()).await;
    b.sync().await;
    let m = alice
        .post(
            &format!("/api/chats/{chat}/messages"),
            json!({"content": "draft"}),
        )
        .await
        .body;
    let id = m["id"].as_str().unwrap();
    b.expect("message.created").await;

    assert_eq!(
        bob.patch(&format!("/api/messages/{id}"), json!({"content": "hijack"}))
            .await
            .status,
        403,
        "only the author edits"
    );
    let edited = alice
        .patch(&format!("/api/messages/{id}"), json!({"content": "final"}))
        .await;
    assert_eq!(edited.status, 200);
    assert!(edited.body["edited_at"].is_string());
    let ev = b.expect("message.updated").await;
    assert_eq!(ev["message"]["content"], "final");
    assert_eq!(
        bob.get(&format!("/api/messages/{id}")).await.body["content"],
        "final"
    );

    let pinned = bob.post_empty(&format!("/api/messages/{id}/pin")).await;
    assert_eq!(pinned.status, 200, "members pin");
    assert!(b.expect("message.pinned").await["message"]["pinned_at"].is_string());
    let list = alice.get(&format!("/api/chats/{chat}/pinned")).await;
    assert_eq!(list.body.as_array().unwrap().len(), 1);
    assert_eq!(
        bob.delete(&format!("/api/messages/{id}/pin")).await.status,
        200
    );
    b.expect("message.unpinned").await;
    assert_eq!(
        alice
            .get(&format!("/api/chats/{chat}/pinned"))
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        0
    );

    assert_eq!(bob.delete(&format!("/api/messages/{id}")).await.status, 403);
    assert_eq!(
        alice.delete(&format!("/api/messages/{id}")).await.status,
        204
    );
    let gone = b.expect("message.deleted").await;
    assert_eq!(gone["message"]["id"], id);
    assert_eq!(bob.get(&format!("/api/messages/{id}")).await.status, 404);
}

#[tokio::test]
async fn join_with_since_seq_recovers_exactly_the_missed_messages() {
    let server = TestServer::memory().await;
    let (alice, _) = server.client().signup(&unique("a")).await;
    let (bob, bob_login) = server.client().signup(&unique("b")).await;
    let chat = create_chat(&alice, "room", &[&user_id(&bob_login)]).await;
    for i in 1..=5 {
        let r = alice
            .post(
                &format!("/api/chats/{chat}/messages"),
                json!({"content": format!("m{i}")}),
            )
            .await;
        assert_eq!(r.status, 201);
    }
    let mut b = Ws::connect(server.addr, bob.token()).await;
    b.send_json(json!({"type": "join", "chat_id": chat, "since_seq": 2}))
        .await;
    let joined = b.expect("joined").await;
    let seqs: Vec<i64> = joined["missed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, vec![3, 4, 5]);
    assert_eq!(joined["missed"][0]["content"], "m3");

    let page = bob
        .get(&format!("/api/chats/{chat}/messages?limit=2&before_seq=5"))
        .await;
    let seqs: Vec<i64> = page
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, vec![4, 3], "history pages newest first");
}

#[tokio::test]
async fn presence_goes_offline_only_after_the_last_socket_closes() {
    let server = TestServer::memory().await;
    let (alice, alice_login) = server.client().signup(&unique("a")).await;
    let (bob, bob_login) = server.client().signup(&unique("b")).await;
    create_chat(&alice, "room", &[&user_id(&bob_login)]).await;
    let alice_id = user_id(&alice_login);
    let mut watcher = Ws::connect(server.addr, bob.token()).await;
    watcher.sync().await;

    let one = Ws::connect(server.addr, alice.token()).await;
    let ev = watcher.expect("presence").await;
    assert_eq!(
        (ev["user_id"].as_str(), ev["status"].as_str()),
        (Some(alice_id.as_str()), Some("online"))
    );
    let two = Ws::connect(server.addr, alice.token()).await;
    watcher
        .expect_no("presence", Duration::from_millis(300))
        .await;

    let online = bob.get("/api/users/online").await;
    assert!(online.body["users"]
        .as_array()
        .unwrap()
        .iter()
        .any(|u| u["user_id"] == alice_id.as_str()));

    one.close().await;
    watcher
        .expect_no("presence", Duration::from_millis(300))
        .await;
    let p = bob.get(&format!("/api/users/{alice_id}/presence")).await;
    assert_eq!(p.body["status"], "online");

    two.close().await;
    let ev = watcher.expect("presence").await;
    assert_eq!(ev["status"], "offline");
    let p = bob.get(&format!("/api/users/{alice_id}/presence")).await;
    assert_eq!(p.body["status"], "offline");
    let unknown = bob
        .get(&format!("/api/users/{}/presence", uuid::Uuid::new_v4()))
        .await;
    assert_eq!(unknown.body["status"], "offline");
}

#[tokio::test]
async fn typing_reaches_other_members_only() {
    let server = TestServer::memory().await;
    let (alice, _) = server.client().signup(&unique("a")).await;
    let (bob, bob_login) = server.client().signup(&unique("b")).await;
    let chat = create_chat(&alice, "room", &[&user_id(&bob_login)]).await;
    let mut a = Ws::connect(server.addr, alice.token()).await;
    let mut b = Ws::connect(server.addr, bob.token()).await;
    b.sync().await;
    a.send_json(json!({"type": "typing", "chat_id": chat}))
        .await;
    let t = b.expect("typing").await;
    assert_eq!(t["chat_id"], chat.as_str());
    a.expect_no("typing", Duration::from_millis(300)).await;
}

fn array(v: &Value) -> Vec<Value> {
    v.as_array().expect("an array").clone()
}

/// `GET /api/chats` pages by chat id: walking every page, with the default and a
/// small `limit`, lists each of the caller's chats exactly once, in id order.
#[tokio::test]
async fn the_chat_list_pages_by_id_with_no_duplicates_or_omissions() {
    let server = TestServer::memory().await;
    let (alice, login) = server.client().signup(&unique("a")).await;
    let me: UserId = user_id(&login).parse().unwrap();
    let bob = server
        .app
        .auth
        .register(&unique("b"), "password-1", None)
        .await
        .unwrap()
        .id;
    let mut mine = Vec::new();
    // Through the use cases: 100+ creations over HTTP would spend the throttle.
    for i in 0..104 {
        let view = server
            .app
            .chats
            .create(me, &format!("c{i}"), &[bob])
            .await
            .unwrap();
        mine.push(view.chat.id.to_string());
        server
            .app
            .chats
            .create(bob, "not alice's", &[])
            .await
            .unwrap();
    }
    let joined = server
        .app
        .chats
        .create(bob, "joined later", &[])
        .await
        .unwrap();
    server
        .app
        .chats
        .add_member(bob, joined.chat.id, me)
        .await
        .unwrap();
    mine.push(joined.chat.id.to_string());
    mine.sort();

    let first = alice.get("/api/chats").await;
    assert_eq!(first.status, 200);
    assert_eq!(
        first.body.as_array().unwrap().len(),
        100,
        "the default page is 100"
    );
    for limit in [None, Some(7), Some(200)] {
        let walked = walk_pages(&alice, "/api/chats", limit, array, "id").await;
        assert_eq!(walked, mine, "limit {limit:?}: every chat once, by id");
    }
    let page = alice
        .get(&format!("/api/chats?limit=2&after={}", mine[50]))
        .await;
    let ids: Vec<&str> = page
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [&mine[51], &mine[52]]);
    assert!(page.body[0]["last_seq"].is_i64(), "the shape is unchanged");

    for (query, code) in [
        ("limit=0", "validation"),
        ("limit=201", "validation"),
        ("limit=many", "bad_request"),
        ("after=not-a-uuid", "bad_request"),
    ] {
        let r = alice.get(&format!("/api/chats?{query}")).await;
        assert_eq!(
            (r.status, r.body["error"].as_str()),
            (400, Some(code)),
            "{query}: {}",
            r.body
        );
    }
}

/// `GET /api/users/online` pages by user id; `count` stays the total.
#[tokio::test]
async fn online_users_page_by_id_and_count_them_all() {
    let server = TestServer::memory().await;
    let mut sockets = Vec::new();
    let mut ids = Vec::new();
    let mut token = String::new();
    for _ in 0..9 {
        let (t, id) = direct_login(&server.app, &unique("o")).await;
        sockets.push(Ws::connect(server.addr, &t).await);
        ids.push(id);
        token = t;
    }
    for ws in &mut sockets {
        ws.sync().await;
    }
    ids.sort();
    let api = server.client().with_token(&token);
    let users = |v: &Value| array(&v["users"]);
    for limit in [None, Some(1), Some(4), Some(9)] {
        let walked = walk_pages(&api, "/api/users/online", limit, users, "user_id").await;
        assert_eq!(
            walked, ids,
            "limit {limit:?}: every online user once, by id"
        );
    }
    let page = api
        .get(&format!("/api/users/online?limit=3&after={}", ids[2]))
        .await;
    assert_eq!(page.body["count"], 9, "count is the total, not the page");
    assert_eq!(users(&page.body).len(), 3);
    assert_eq!(page.body["users"][0]["user_id"], ids[3].as_str());
    for query in ["limit=0", "limit=201"] {
        let r = api.get(&format!("/api/users/online?{query}")).await;
        assert_eq!(
            (r.status, r.body["error"].as_str()),
            (400, Some("validation"))
        );
    }
    for ws in sockets {
        ws.close().await;
    }
}

/// At most `WEBCHAT_MAX_CHAT_MEMBERS` members: a creation over the cap and adds
/// past it are 409 `chat_full`, and concurrent adds never pass it.
#[tokio::test]
async fn the_member_cap_holds_at_creation_and_under_concurrent_adds() {
    let mut config = Config::for_tests();
    config.max_chat_members = 3;
    let server = TestServer::start(App::in_memory(&config)).await;
    let (alice, _) = server.client().signup(&unique("a")).await;
    let mut others = Vec::new();
    for _ in 0..6 {
        let user = server
            .app
            .auth
            .register(&unique("m"), "password-1", None)
            .await
            .unwrap();
        others.push(user.id.to_string());
    }
    let r = alice
        .post(
            "/api/chats",
            json!({"name": "crowd", "member_ids": &others[..3]}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (409, Some("chat_full")),
        "{}",
        r.body
    );
    let r = alice
        .post(
            "/api/chats",
            json!({"name": "duo", "member_ids": [&others[0], &others[0], &others[1]]}),
        )
        .await;
    assert_eq!(r.status, 201, "duplicates do not count: {}", r.body);

    let chat = create_chat(&alice, "race", &[]).await;
    let path = format!("/api/chats/{chat}/members");
    let adds = others
        .iter()
        .map(|user| alice.post(&path, json!({"user_id": user})));
    let replies = join_all(adds).await;
    let ok = replies.iter().filter(|r| r.status == 200).count();
    let full: Vec<_> = replies.iter().filter(|r| r.status == 409).collect();
    assert_eq!((ok, full.len()), (2, 4), "two free places, four refused");
    assert!(full.iter().all(|r| r.body["error"] == "chat_full"));
    let view = alice.get(&format!("/api/chats/{chat}")).await;
    let members = view.body["member_ids"].as_array().unwrap();
    assert_eq!(members.len(), 3);
    let member = members[1].as_str().unwrap();
    let again = alice.post(&path, json!({"user_id": member})).await;
    assert_eq!(
        again.status, 200,
        "adding a member again at the cap changes nothing"
    );
}
