//! RedisAnnouncer: a send's cache write-through and its publication cost one
//! command, and another instance receives the event and reads the extended window.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use common::{history, message, raw};
use futures::StreamExt;
use webchat_domain::{ChatId, Event, Message, Topic};
use webchat_ports::{Announced, Announcer, CacheConfig, EventBus, EventStream, MessageCache};
use webchat_redis::{RedisAnnouncer, RedisEventBus, RedisMessageCache};

const HOUR: CacheConfig = CacheConfig {
    ttl: Duration::from_secs(3600),
    read_ttl: Duration::from_secs(300),
};

fn created(m: &Message) -> Event {
    Event::MessageCreated {
        chat_id: m.chat_id,
        message: m.clone(),
        pts: m.version,
    }
}

async fn next(stream: &mut EventStream, what: &str) -> Event {
    let event = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .unwrap_or_else(|_| panic!("{what}: no event within 5 s"))
        .unwrap_or_else(|| panic!("{what}: the subscription ended"));
    Arc::unwrap_or_clone(event)
}

/// `INFO commandstats` as command name -> calls.
async fn command_calls(conn: &mut redis::aio::MultiplexedConnection) -> HashMap<String, u64> {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(conn)
        .await
        .unwrap();
    info.lines()
        .filter_map(|line| line.strip_prefix("cmdstat_"))
        .filter_map(|line| {
            let (name, rest) = line.split_once(':')?;
            let calls = rest
                .strip_prefix("calls=")?
                .split(',')
                .next()?
                .parse()
                .ok()?;
            Some((name.to_owned(), calls))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_reaches_another_instance_and_the_window_in_one_command() {
    let Some(_) = common::redis_or_skip().await else {
        return;
    };
    let Some(server) = common::OwnRedis::new() else {
        return;
    };
    let url = server.url();
    let prefix = common::unique_prefix();
    let (here, there) = (
        common::backend_with_prefix(&url, &prefix),
        common::backend_with_prefix(&url, &prefix),
    );
    let announcer = RedisAnnouncer::new(here.clone(), HOUR);
    let elsewhere = RedisMessageCache::new(there.clone(), HOUR);
    let (local_bus, remote_bus) = (RedisEventBus::new(here), RedisEventBus::new(there));
    let chat = ChatId::new();
    let mut local = local_bus.subscribe(&Topic::Chat(chat)).await.unwrap();
    let mut remote = remote_bus.subscribe(&Topic::Chat(chat)).await.unwrap();
    let mut all = history(chat, 4);
    all.reverse(); // oldest first: seqs 1..=4
    let read = [all[1].clone(), all[0].clone()]; // newest first, as warm_up takes it
    elsewhere.warm_up(chat, &read, 2).await.unwrap();

    // The first announcement loads the script (a fresh server answers NOSCRIPT).
    let third = &all[2];
    announcer.created(third, &created(third)).await;
    next(&mut local, "warm-up announcement, here").await;
    next(&mut remote, "warm-up announcement, there").await;

    let mut conn = raw(&url).await;
    redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    let fourth = &all[3];
    let outcome = announcer.created(fourth, &created(fourth)).await;
    let calls = command_calls(&mut conn).await;
    println!("commands counted for one announcement: {calls:?}");

    assert_eq!(
        outcome,
        Announced {
            cached: Ok(()),
            published: Ok(()),
        }
    );
    // commandstats also counts the commands a script calls: the client sent one
    // EVALSHA, and every other command counted is one the script ran (PUBLISH once,
    // so no second PUBLISH from the client), the test's own, or a keep-alive PING.
    assert_eq!(calls.get("evalsha"), Some(&1), "one script: {calls:?}");
    assert_eq!(
        calls.get("publish"),
        Some(&1),
        "the script published once: {calls:?}"
    );
    let inside_the_script = [
        "get", "set", "pexpire", "lindex", "lpush", "lrem", "ltrim", "lrange", "unlink", "publish",
    ];
    let the_tests_own = ["config|resetstat", "info", "ping"];
    for name in calls.keys() {
        assert!(
            name == "evalsha"
                || inside_the_script.contains(&name.as_str())
                || the_tests_own.contains(&name.as_str()),
            "{name} was sent besides the one script: {calls:?}"
        );
    }

    assert_eq!(
        next(&mut remote, "the other instance").await,
        created(fourth),
        "another instance's subscriber receives the event"
    );
    assert_eq!(
        next(&mut local, "this instance").await,
        created(fourth),
        "this instance's subscriber receives the event (delivered locally)"
    );
    let marker = Event::Typing {
        chat_id: chat,
        user_id: webchat_domain::UserId::new(),
    };
    local_bus.publish(&marker).await.unwrap();
    assert_eq!(
        next(&mut local, "marker, here").await,
        marker,
        "this instance got the event exactly once (its own echo is skipped)"
    );
    assert_eq!(
        next(&mut remote, "marker, there").await,
        marker,
        "the other instance got the event exactly once"
    );
    let window = elsewhere.recent(chat, 10).await.unwrap();
    let expected: Vec<Message> = all.iter().rev().cloned().collect();
    assert_eq!(
        window,
        Some(expected),
        "the other instance reads the window extended by the send"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_script_fails_both_halves_and_still_delivers_locally() {
    let Some(_) = common::redis_or_skip().await else {
        return;
    };
    let Some(mut server) = common::OwnRedis::new() else {
        return;
    };
    let backend = common::backend(&server.url());
    let announcer = RedisAnnouncer::new(backend.clone(), HOUR);
    let bus = RedisEventBus::new(backend);
    let chat = ChatId::new();
    let mut local = bus.subscribe(&Topic::Chat(chat)).await.unwrap();
    server.kill();

    let first = message(chat, 1);
    let outcome = announcer.created(&first, &created(&first)).await;
    assert!(
        outcome.cached.is_err() && outcome.published.is_err(),
        "with Redis down both halves report the failure: {outcome:?}"
    );
    assert_eq!(
        next(&mut local, "local delivery while Redis is down").await,
        created(&first),
        "this instance's subscribers get the event anyway"
    );
}
