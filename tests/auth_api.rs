//! Accounts, tokens and sessions over real HTTP (and the /ws upgrade).

mod common;

use common::{unique, TestServer, Ws};
use serde_json::json;

#[tokio::test]
async fn register_login_me_and_bad_credentials() {
    let server = TestServer::memory().await;
    let api = server.client();
    let name = unique("alice");
    let r = api
        .post(
            "/api/auth/register",
            json!({"username": name, "password": "password-1", "display_name": "Alice"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["display_name"], "Alice");
    assert!(r.body.get("password_hash").is_none(), "hash never leaves");

    let dup = api
        .post(
            "/api/auth/register",
            json!({"username": name.to_uppercase(), "password": "password-1"}),
        )
        .await;
    assert_eq!(
        (dup.status, dup.body["error"].as_str()),
        (409, Some("username_taken"))
    );

    let wrong = api
        .post(
            "/api/auth/login",
            json!({"username": name, "password": "nope-nope"}),
        )
        .await;
    let unknown = api
        .post(
            "/api/auth/login",
            json!({"username": "ghost_user", "password": "password-1"}),
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(
        wrong.body, unknown.body,
        "same answer for unknown user and wrong password"
    );
    assert_eq!(wrong.body["error"], "invalid_credentials");

    let login = api
        .post(
            "/api/auth/login",
            json!({"username": name, "password": "password-1"}),
        )
        .await;
    assert_eq!(login.status, 200);
    for field in [
        "access_token",
        "refresh_token",
        "session_id",
        "expires_at",
        "user",
    ] {
        assert!(login.body.get(field).is_some(), "login returns {field}");
    }
    let me = api
        .with_token(login.body["access_token"].as_str().unwrap())
        .get("/api/users/me")
        .await;
    assert_eq!((me.status, &me.body["username"]), (200, &json!(name)));
    assert_eq!(api.get("/api/users/me").await.status, 401, "no token");
    assert_eq!(
        api.with_token("garbage").get("/api/users/me").await.status,
        401
    );
}

#[tokio::test]
async fn refresh_rotates_and_the_old_refresh_token_stops_working() {
    let server = TestServer::memory().await;
    let (_, login) = server.client().signup(&unique("rot")).await;
    let old = login["refresh_token"].as_str().unwrap();
    let api = server.client();
    let fresh = api
        .post("/api/auth/refresh", json!({"refresh_token": old}))
        .await;
    assert_eq!(fresh.status, 200, "{}", fresh.body);
    assert_ne!(fresh.body["refresh_token"], login["refresh_token"]);
    assert_eq!(fresh.body["session_id"], login["session_id"]);
    let again = api
        .post("/api/auth/refresh", json!({"refresh_token": old}))
        .await;
    assert_eq!(
        (again.status, again.body["error"].as_str()),
        (401, Some("invalid_token"))
    );
    let token = fresh.body["access_token"].as_str().unwrap();
    assert_eq!(api.with_token(token).get("/api/users/me").await.status, 200);
    let newer = api
        .post(
            "/api/auth/refresh",
            json!({"refresh_token": fresh.body["refresh_token"]}),
        )
        .await;
    assert_eq!(newer.status, 200, "the rotated token works once");
}

#[tokio::test]
async fn logout_blacklists_the_token_on_http_and_websocket() {
    let server = TestServer::memory().await;
    let (alice, _) = server.client().signup(&unique("out")).await;
    let ws = Ws::connect(server.addr, alice.token()).await;
    ws.close().await;
    assert_eq!(alice.post_empty("/api/auth/logout").await.status, 204);
    let after = alice.get("/api/users/me").await;
    assert_eq!(
        (after.status, after.body["error"].as_str()),
        (401, Some("unauthorized"))
    );
    assert_eq!(Ws::refused(server.addr, alice.token()).await, 401);
}

#[tokio::test]
async fn sessions_list_revoke_logout_others_and_all() {
    let server = TestServer::memory().await;
    let name = unique("multi");
    let (first, _) = server.client().signup(&name).await;
    let login = |ua: &'static str| {
        let api = server.client();
        let name = name.clone();
        async move {
            let r = api
                .http
                .post(format!("{}/api/auth/login", api.base))
                .header("user-agent", ua)
                .json(&json!({"username": name, "password": "password-1"}))
                .send()
                .await
                .unwrap();
            let body: serde_json::Value = r.json().await.unwrap();
            (api.with_token(body["access_token"].as_str().unwrap()), body)
        }
    };
    let (second, second_body) = login("phone").await;
    let (third, third_body) = login("tablet").await;

    let list = second.get("/api/sessions").await;
    assert_eq!(list.status, 200);
    let sessions = list.body.as_array().unwrap();
    assert_eq!(sessions.len(), 3);
    let current: Vec<_> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], second_body["session_id"]);
    assert_eq!(current[0]["user_agent"], "phone");
    assert_eq!(current[0]["ip"], "127.0.0.1");

    // Revoking someone else's session is "not found".
    let (stranger, _) = server.client().signup(&unique("stranger")).await;
    let sid = third_body["session_id"].as_str().unwrap();
    assert_eq!(
        stranger
            .delete(&format!("/api/sessions/{sid}"))
            .await
            .status,
        404
    );
    assert_eq!(
        second.delete(&format!("/api/sessions/{sid}")).await.status,
        204
    );
    assert_eq!(
        third.get("/api/users/me").await.status,
        401,
        "revoked session"
    );

    assert_eq!(
        second.post_empty("/api/auth/logout-others").await.status,
        204
    );
    assert_eq!(
        first.get("/api/users/me").await.status,
        401,
        "other session ended"
    );
    assert_eq!(
        second.get("/api/users/me").await.status,
        200,
        "current one kept"
    );
    assert_eq!(
        second
            .get("/api/sessions")
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let (fourth, _) = login("laptop").await;
    assert_eq!(fourth.post_empty("/api/auth/logout-all").await.status, 204);
    assert_eq!(fourth.get("/api/users/me").await.status, 401);
    assert_eq!(second.get("/api/users/me").await.status, 401);
    assert_eq!(
        stranger.get("/api/users/me").await.status,
        200,
        "others untouched"
    );
}

#[tokio::test]
async fn a_user_is_found_by_id_and_an_unknown_id_is_404() {
    let server = TestServer::memory().await;
    let (alice, login) = server.client().signup(&unique("a")).await;
    let id = login["user"]["id"].as_str().unwrap().to_owned();
    let found = alice.get(&format!("/api/users/{id}")).await;
    assert_eq!(found.status, 200);
    assert_eq!(found.body["username"], login["user"]["username"]);
    assert!(found.body.get("password_hash").is_none());
    let missing = alice
        .get(&format!("/api/users/{}", uuid::Uuid::new_v4()))
        .await;
    assert_eq!(
        (missing.status, missing.body["error"].as_str()),
        (404, Some("not_found"))
    );
    assert_eq!(
        server
            .client()
            .get(&format!("/api/users/{id}"))
            .await
            .status,
        401
    );
}
