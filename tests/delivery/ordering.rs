//! Racing senders: every socket, on either instance, gets every message once and in
//! seq order, though the messages were sent at once from both instances.

use std::time::Duration;

use futures::future::join_all;
use webchat::app::App;
use webchat::config::Config;
use webchat_domain::RateLimitPolicy;

use crate::common::TestServer;
use crate::support::{assert_exactly_once_in_order, chat_of, users, Cluster, Socket};

const SENDERS: usize = 6;
const EACH: usize = 40;

/// Every sender sends `EACH` frames at once from its own socket; all sockets then
/// read until they hold every message.
async fn race(servers: &[&TestServer]) {
    let people = users(servers, SENDERS, "r").await;
    let chat = chat_of(&people).await;
    let mut sockets = Vec::new();
    for (i, (api, _)) in people.iter().enumerate() {
        sockets.push(Socket::connect(servers[i % servers.len()], api.token()).await);
    }
    let total = SENDERS * EACH;
    let expected: Vec<i64> = (1..=total as i64).collect();
    let results = join_all(sockets.into_iter().enumerate().map(|(i, mut socket)| {
        let chat = chat.clone();
        async move {
            for n in 0..EACH {
                socket.send(&chat, &format!("s{i} n{n}")).await;
            }
            let seqs = socket
                .created_in(&chat, total, Duration::from_secs(30))
                .await;
            assert!(
                socket
                    .until(Duration::from_secs(5), |s| s.acks >= EACH)
                    .await,
                "socket {i}: every send acknowledged"
            );
            (i, seqs, socket)
        }
    }))
    .await;
    for (i, seqs, socket) in results {
        assert_exactly_once_in_order(&format!("socket {i}"), &seqs, &expected);
        socket.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_senders_on_two_instances_deliver_once_in_order() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    race(&[cluster.a(), cluster.b()]).await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_backends_keep_the_same_order() {
    let mut config = Config::for_tests();
    config.throttle_strict = RateLimitPolicy::parse_spec("strict", "100000/60").unwrap();
    let server = TestServer::start(App::in_memory(&config)).await;
    race(&[&server]).await;
    server.stop().await;
}
