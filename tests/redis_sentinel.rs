//! Two webchat instances on a Redis behind Sentinel (a primary, a replica and three
//! sentinels of the test's own): `SENTINEL FAILOVER` in the middle of a stream of
//! sends loses no acknowledged message, writes follow the new master, and delivery
//! across instances is back within 5 s of the switch.

#[path = "common/mod.rs"]
mod common;
#[allow(dead_code)]
#[path = "delivery/support.rs"]
mod support;

use std::time::{Duration, Instant};

use common::TestServer;
use serde_json::json;
use webchat::app::wiring::{build_with, Backends};
use webchat::config::Config;
use webchat_memory::memory_repositories;
use webchat_redis::testing::{unique_prefix, OwnSentinel, SENTINEL_MASTER};

use support::{assert_exactly_once_in_order, chat_of, on, users, Socket};

/// How long a test waits for a frame that should come.
pub const WAIT: Duration = Duration::from_secs(5);

fn config(sentinels: &str, prefix: &str, instance: &str) -> Config {
    let mut config = Config::from_lookup(|k| {
        Some(match k {
            "REDIS_SENTINELS" => sentinels.to_owned(),
            "REDIS_SENTINEL_MASTER" => SENTINEL_MASTER.to_owned(),
            "WEBCHAT_KEY_PREFIX" => prefix.to_owned(),
            "WEBCHAT_JWT_SECRET" => "sentinel-test-secret-of-more-than-32-bytes".to_owned(),
            "WEBCHAT_INSTANCE_ID" => instance.to_owned(),
            "WEBCHAT_THROTTLE_STRICT" | "WEBCHAT_THROTTLE_DEFAULT" => "100000/60".to_owned(),
            _ => return None,
        })
    })
    .expect("valid test configuration");
    config.port = 0;
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sentinel_failover_mid_stream_loses_nothing_acknowledged() {
    let Some(deployment) = OwnSentinel::new() else {
        return;
    };
    let prefix = unique_prefix();
    let repos = memory_repositories();
    let mut servers: Vec<TestServer> = Vec::new();
    let mut backends: Vec<Backends> = Vec::new();
    for instance in ["st-a", "st-b"] {
        let (app, b) = build_with(
            &config(&deployment.sentinels_var(), &prefix, instance),
            repos.clone(),
            None,
        )
        .await
        .expect("instance builds");
        assert!(
            app.backends.contains("redis_mode=sentinel"),
            "{}",
            app.backends
        );
        servers.push(TestServer::start(app).await);
        backends.push(b);
    }
    let (a, b) = (&servers[0], &servers[1]);
    let people = users(&[a, b], 3, "s").await;
    let chat = chat_of(&people).await;
    let senders = vec![on(a, &people[0].0), on(b, &people[0].0)];
    let mut on_a = Socket::connect(a, people[1].0.token()).await;
    let mut on_b = Socket::connect(b, people[2].0.token()).await;
    let old_master = deployment.master_port();

    let mut acked = common::send_alternating(&senders, &chat, 20, Duration::from_millis(10)).await;
    // The failover runs while messages keep coming.
    let failing_over = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let new = tokio::task::block_in_place(|| deployment.failover(Duration::from_secs(20)));
        (new, Instant::now())
    };
    let (sent, (new_master, switched_at)) = tokio::join!(
        common::send_alternating(&senders, &chat, 60, Duration::from_millis(30)),
        failing_over
    );
    acked += sent;
    assert_ne!(new_master, old_master);

    // Delivery across instances is back within 5 s of the switch.
    let mut back = None;
    while back.is_none() && switched_at.elapsed() < Duration::from_secs(10) {
        let r = senders[0]
            .post(
                &format!("/api/chats/{chat}/messages"),
                json!({"content": "after"}),
            )
            .await;
        if r.status == 201 {
            acked += 1;
            let seqs = on_b
                .created_in(&chat, acked, Duration::from_millis(500))
                .await;
            if seqs.len() >= acked {
                back = Some(switched_at.elapsed());
            }
        } else {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let back = back.expect("delivery came back");
    assert!(
        back <= Duration::from_secs(5),
        "delivery across instances was back {back:?} after the switch"
    );
    acked += common::send_alternating(&senders, &chat, 20, Duration::from_millis(10)).await;

    // Writes follow the new master: the old one becomes a replica, and a new
    // session (a write through A) is on the new master and valid through B.
    let demoted = Instant::now();
    while deployment.role(old_master) != "slave" {
        assert!(
            demoted.elapsed() < Duration::from_secs(10),
            "the old master was not demoted"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (fresh, login) = a.client().signup(&common::unique("late")).await;
    assert_eq!(on(b, &fresh).get("/api/users/me").await.status, 200);
    let index = format!("{prefix}user:sessions:{{{}}}", common::user_id(&login));
    let mut new = redis::Client::open(format!("redis://127.0.0.1:{new_master}"))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let stored: bool = redis::cmd("EXISTS")
        .arg(&index)
        .query_async(&mut new)
        .await
        .unwrap();
    assert!(stored, "the session index was written to the new master");
    println!("delivery back {back:?} after the switch; {acked} messages acknowledged");

    let expected: Vec<i64> = (1..=acked as i64).collect();
    for (who, socket) in [("socket on A", &mut on_a), ("socket on B", &mut on_b)] {
        let seqs = socket
            .created_in(&chat, acked, Duration::from_secs(15))
            .await;
        assert_exactly_once_in_order(who, &seqs, &expected);
    }
    on_a.close().await;
    on_b.close().await;
    for s in servers {
        s.stop().await;
    }
    for b in &backends {
        b.shutdown().await;
    }
}
