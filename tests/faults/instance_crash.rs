//! An instance SIGKILLed while its users are online: nothing of it runs on the way
//! out, yet its users are offline everywhere within two cleanup intervals, each
//! announced by exactly one `presence` event.

use std::time::{Duration, Instant};

use serde_json::Value;
use webchat::app::wiring;
use webchat::config::Config;
use webchat_postgres::testing::TestDatabase;

use crate::common::{
    create_chat, redis_or_skip, redis_url, unique, unique_prefix, user_id, Process, TestServer, Ws,
};

const SECRET: &str = "crash-test-secret-of-more-than-32-bytes";
const CLEANUP_SECS: u64 = 2;

#[tokio::test]
async fn a_killed_instances_users_go_offline_within_two_cleanup_intervals() {
    let Some(db) = TestDatabase::create_or_skip().await else {
        return;
    };
    let Some(_) = redis_or_skip().await else {
        return;
    };
    let prefix = unique_prefix();
    let redis = redis_url();
    let cleanup = CLEANUP_SECS.to_string();
    let env = [
        ("DATABASE_URL", db.url()),
        ("REDIS_URL", redis.as_str()),
        ("WEBCHAT_KEY_PREFIX", prefix.as_str()),
        ("WEBCHAT_JWT_SECRET", SECRET),
        ("WEBCHAT_PRESENCE_CLEANUP_SECS", cleanup.as_str()),
    ];
    // The survivor runs in this process, with its background job; the victim is a
    // real process that can be SIGKILLed.
    let config = Config::from_lookup(|k| {
        env.iter()
            .find(|(name, _)| *name == k)
            .map(|(_, v)| (*v).to_owned())
            .or_else(|| (k == "WEBCHAT_INSTANCE_ID").then(|| "survivor".to_owned()))
    })
    .expect("valid configuration");
    let (app, backends) = wiring::build(&config).await.expect("survivor builds");
    let job = app.spawn_background(config.cleanup_interval);
    let survivor = TestServer::start(app).await;
    let victim = Process::spawn("victim", &env).await;

    let (watcher, _) = survivor.client().signup(&unique("w")).await;
    let mut users = Vec::new();
    for i in 0..5 {
        let (api, login) = survivor.client().signup(&unique(&format!("u{i}"))).await;
        create_chat(&watcher, &format!("with {i}"), &[&user_id(&login)]).await;
        users.push((api, user_id(&login)));
    }
    let mut watching = Ws::connect(survivor.addr, watcher.token()).await;
    watching.sync().await;
    // Two sockets each on the victim: the user is online once, offline once.
    let mut doomed = Vec::new();
    for (api, _) in &users {
        for _ in 0..2 {
            let mut socket = Ws::connect(victim.addr, api.token()).await;
            socket.sync().await;
            doomed.push(socket);
        }
    }
    let mut online = Vec::new();
    while online.len() < users.len() {
        let event = watching.expect("presence").await;
        assert_eq!(event["status"], "online", "{event}");
        online.push(event["user_id"].as_str().unwrap().to_owned());
    }

    victim.kill().await;
    let killed = Instant::now();

    let interval = Duration::from_secs(CLEANUP_SECS);
    let mut offline: Vec<Value> = Vec::new();
    while offline.len() < users.len() {
        let left = (interval * 2 + Duration::from_millis(500)).saturating_sub(killed.elapsed());
        match watching.next_within(left).await {
            Some(event) if event["type"] == "presence" => offline.push(event),
            Some(_) => {}
            None => panic!(
                "only {} of {} users offline {:?} after the kill",
                offline.len(),
                users.len(),
                killed.elapsed()
            ),
        }
    }
    let mut seen: Vec<&str> = offline
        .iter()
        .map(|e| {
            assert_eq!(e["status"], "offline", "{e}");
            e["user_id"].as_str().unwrap()
        })
        .collect();
    seen.sort_unstable();
    let mut expected: Vec<&str> = users.iter().map(|(_, id)| id.as_str()).collect();
    expected.sort_unstable();
    assert_eq!(seen, expected, "one offline event per user");
    // And no second one, whatever later cleanups find.
    watching.expect_no("presence", interval * 2).await;

    for (_, id) in &users {
        let presence = watcher.get(&format!("/api/users/{id}/presence")).await;
        assert_eq!(presence.body["status"], "offline", "{}", presence.body);
    }
    let listed = watcher.get("/api/users/online").await;
    for (_, id) in &users {
        assert!(
            !listed.body.to_string().contains(id.as_str()),
            "{id} still listed online"
        );
    }

    drop(doomed);
    watching.close().await;
    job.abort();
    survivor.stop().await;
    backends.shutdown().await;
    db.drop_database().await;
}
