//! Accounts, tokens and sessions over real HTTP (and the /ws upgrade).

mod common;

use common::{unique, Api, Reply, TestServer, Ws};
use serde_json::{json, Value};
use webchat::app::App;
use webchat::config::Config;
use webchat::http::HttpOptions;

/// A memory server that takes client addresses from `X-Forwarded-For`.
async fn behind_proxy() -> TestServer {
    TestServer::start_with(
        App::in_memory(&Config::for_tests()),
        HttpOptions {
            trust_proxy: true,
            ..HttpOptions::default()
        },
    )
    .await
}

/// A login attempt from `address` (as the proxy reports it).
async fn login_from(api: &Api, address: &str, username: &str, password: &str) -> Reply {
    let resp = api
        .http
        .post(format!("{}/api/auth/login", api.base))
        .header("x-forwarded-for", address)
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .expect("request sent");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
    }
}

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
    let token = fresh.body["access_token"].as_str().unwrap();
    assert_eq!(api.with_token(token).get("/api/users/me").await.status, 200);
    let newer = api
        .post(
            "/api/auth/refresh",
            json!({"refresh_token": fresh.body["refresh_token"]}),
        )
        .await;
    assert_eq!(newer.status, 200, "the rotated token works once");
    let forged = format!(
        "{}.{}",
        login["session_id"].as_str().unwrap(),
        "ab".repeat(32)
    );
    let refused = api
        .post("/api/auth/refresh", json!({"refresh_token": forged}))
        .await;
    assert_eq!(
        (refused.status, refused.body["error"].as_str()),
        (401, Some("invalid_token"))
    );
    let latest = newer.body["access_token"].as_str().unwrap();
    assert_eq!(
        api.with_token(latest).get("/api/users/me").await.status,
        200,
        "a token we never issued ends nothing (knowing a session id is not enough)"
    );
}

#[tokio::test]
async fn a_reused_refresh_token_ends_the_whole_session() {
    let server = TestServer::memory().await;
    let name = unique("reuse");
    let (_, login) = server.client().signup(&name).await;
    let api = server.client();
    let (other, _) = api.clone().login_as(&name).await;
    let stolen = login["refresh_token"].as_str().unwrap();

    // The thief refreshes first and gets a working pair.
    let thief = api
        .post("/api/auth/refresh", json!({"refresh_token": stolen}))
        .await;
    assert_eq!(thief.status, 200, "{}", thief.body);
    let thief_access = thief.body["access_token"].as_str().unwrap();
    assert_eq!(
        api.with_token(thief_access)
            .get("/api/users/me")
            .await
            .status,
        200
    );

    // The owner's refresh with the same (now used) token is a reuse.
    let reuse = api
        .post("/api/auth/refresh", json!({"refresh_token": stolen}))
        .await;
    assert_eq!(
        (reuse.status, reuse.body["error"].as_str()),
        (401, Some("invalid_token"))
    );
    for token in [thief_access, login["access_token"].as_str().unwrap()] {
        let r = api.with_token(token).get("/api/users/me").await;
        assert_eq!(
            (r.status, r.body["error"].as_str()),
            (401, Some("unauthorized")),
            "every access token of the session is refused"
        );
    }
    let thief_refresh = api
        .post(
            "/api/auth/refresh",
            json!({"refresh_token": thief.body["refresh_token"]}),
        )
        .await;
    assert_eq!(
        (thief_refresh.status, thief_refresh.body["error"].as_str()),
        (401, Some("invalid_token")),
        "the refresh token the thief got is refused"
    );
    assert_eq!(
        other.get("/api/users/me").await.status,
        200,
        "the user's other sessions live on"
    );
}

#[tokio::test]
async fn login_is_throttled_per_account_whatever_the_address() {
    let server = behind_proxy().await;
    let api = server.client();
    let name = unique("target");
    let r = api
        .post(
            "/api/auth/register",
            json!({"username": name, "password": "password-1"}),
        )
        .await;
    assert_eq!(r.status, 201);
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    let ghost = unique("ghost");
    for i in 0..30 {
        let r = login_from(&api, &format!("198.51.100.{i}"), &name, "wrong-password").await;
        known.push((r.status, r.body));
        let r = login_from(&api, &format!("203.0.113.{i}"), &ghost, "wrong-password").await;
        unknown.push((r.status, r.body));
    }
    let statuses = |v: &[(u16, Value)]| v.iter().map(|(s, _)| *s).collect::<Vec<_>>();
    let mut expected = vec![401; 10];
    expected.extend([429; 20]);
    assert_eq!(statuses(&known), expected, "a known account's budget is 10");
    assert_eq!(
        statuses(&unknown),
        expected,
        "an unknown name is throttled exactly like a known one"
    );
    assert_eq!(known[29].1, unknown[29].1, "one 429 body for both");
    assert_eq!(known[29].1["error"], "too_many_requests");

    // While the account's window lasts, even the right password waits...
    let r = login_from(&api, "192.0.2.1", &name.to_uppercase(), "password-1").await;
    assert_eq!(
        r.status, 429,
        "the account is counted whatever the name's case"
    );
    assert!(r.header("retry-after").is_some());
    // ...but another account from the same addresses is not affected.
    let other = unique("bystander");
    api.post(
        "/api/auth/register",
        json!({"username": other, "password": "password-1"}),
    )
    .await;
    let r = login_from(&api, "198.51.100.1", &other, "password-1").await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn addresses_in_one_ipv6_64_share_one_login_budget() {
    let server = behind_proxy().await;
    let api = server.client();
    let mut statuses = Vec::new();
    for i in 0..11 {
        // A new name each time, so only the address budget can refuse.
        let r = login_from(
            &api,
            &format!("2001:db8:7:7:{i:x}:beef::{:x}", i * 4099 + 1),
            &unique("v6"),
            "wrong-password",
        )
        .await;
        statuses.push(r.status);
    }
    assert_eq!(&statuses[..10], &[401; 10]);
    assert_eq!(statuses[10], 429, "one /64 is one client");
    let next_net = login_from(&api, "2001:db8:7:8::1", &unique("v6"), "wrong-password").await;
    assert_eq!(next_net.status, 401, "the next /64 has its own budget");

    // An IPv4-mapped IPv6 address is its IPv4 address.
    let mut statuses = Vec::new();
    for i in 0..11 {
        let address = if i % 2 == 0 {
            "192.0.2.77"
        } else {
            "::ffff:192.0.2.77"
        };
        statuses.push(
            login_from(&api, address, &unique("v4"), "wrong-password")
                .await
                .status,
        );
    }
    assert_eq!(&statuses[..10], &[401; 10]);
    assert_eq!(statuses[10], 429, "mapped and plain IPv4 count together");
}

#[tokio::test]
async fn changing_the_password_ends_every_other_session() {
    let server = TestServer::memory().await;
    let name = unique("pw");
    let (alice, _) = server.client().signup(&name).await;
    let (phone, _) = server.client().login_as(&name).await;
    let change = |current: &str, new: &str| {
        alice.post(
            "/api/auth/password",
            json!({"current_password": current, "new_password": new}),
        )
    };

    let wrong = change("not-my-password", "password-2").await;
    assert_eq!(
        (wrong.status, wrong.body["error"].as_str()),
        (401, Some("invalid_credentials"))
    );
    let short = change("password-1", "short").await;
    assert_eq!(
        (short.status, short.body["error"].as_str()),
        (400, Some("validation"))
    );
    assert_eq!(
        phone.get("/api/users/me").await.status,
        200,
        "nothing changed yet"
    );

    let done = change("password-1", "password-2").await;
    assert_eq!(done.status, 204, "{}", done.body);
    assert_eq!(
        alice.get("/api/users/me").await.status,
        200,
        "the caller's session stays"
    );
    assert_eq!(
        phone.get("/api/users/me").await.status,
        401,
        "every other session ended"
    );
    let sessions = alice.get("/api/sessions").await;
    assert_eq!(sessions.body.as_array().map(Vec::len), Some(1));

    let api = server.client();
    let old = api
        .post(
            "/api/auth/login",
            json!({"username": name, "password": "password-1"}),
        )
        .await;
    assert_eq!(old.status, 401, "the old password no longer works");
    let new = api
        .post(
            "/api/auth/login",
            json!({"username": name, "password": "password-2"}),
        )
        .await;
    assert_eq!(new.status, 200, "the new one does");

    let anonymous = api
        .post(
            "/api/auth/password",
            json!({"current_password": "password-2", "new_password": "password-3"}),
        )
        .await;
    assert_eq!(anonymous.status, 401, "a token is required");
}

#[tokio::test]
async fn password_changes_are_throttled_by_the_strict_policy_per_user() {
    let server = TestServer::memory().await;
    let (alice, _) = server.client().signup(&unique("guess")).await;
    let mut statuses = Vec::new();
    for i in 0..11 {
        let r = alice
            .post(
                "/api/auth/password",
                json!({"current_password": format!("guess-{i}"), "new_password": "password-2"}),
            )
            .await;
        statuses.push(r.status);
    }
    assert_eq!(&statuses[..10], &[401; 10]);
    assert_eq!(statuses[10], 429);
}

#[tokio::test]
async fn the_101st_login_ends_the_oldest_session() {
    let mut config = Config::for_tests();
    config.throttle_strict =
        webchat_domain::RateLimitPolicy::parse_spec("strict", "1000/60").expect("valid policy");
    let server = TestServer::start(App::in_memory(&config)).await;
    let name = unique("many");
    let (oldest, _) = server.client().signup(&name).await;
    let (second, _) = server.client().login_as(&name).await;
    for _ in 0..98 {
        server.client().login_as(&name).await;
    }
    assert_eq!(
        oldest.get("/api/users/me").await.status,
        200,
        "100 sessions all live"
    );
    let (newest, _) = server.client().login_as(&name).await;
    assert_eq!(
        oldest.get("/api/users/me").await.status,
        401,
        "the 101st login ended the oldest session"
    );
    assert_eq!(second.get("/api/users/me").await.status, 200);
    let sessions = newest.get("/api/sessions").await;
    assert_eq!(sessions.body.as_array().map(Vec::len), Some(100));
}

#[tokio::test]
async fn a_jwt_secret_shorter_than_32_bytes_stops_startup() {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_webchat"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PORT", "0")
        .env("WEBCHAT_JWT_SECRET", "cluster-test-secret")
        .output()
        .await
        .expect("webchat runs");
    assert!(!out.status.success(), "a short secret must stop startup");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("WEBCHAT_JWT_SECRET") && stderr.contains("32 bytes"),
        "the error names the variable: {stderr}"
    );
    assert!(!stderr.contains("cluster-test-secret"), "never echoes it");
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
