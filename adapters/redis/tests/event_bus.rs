//! RedisEventBus between "processes" (separate RedisBackends on one Redis): each
//! subscription gets each event once, local ones included; SUBSCRIBE is counted.

mod common;

use std::time::Duration;

use futures::StreamExt;
use webchat_domain::{ChatId, Event, Topic, UserId};
use webchat_ports::{EventBus, EventStream};
use webchat_redis::RedisEventBus;

fn typing(chat: ChatId) -> Event {
    Event::Typing {
        chat_id: chat,
        user_id: UserId::new(),
    }
}

async fn next(stream: &mut EventStream) -> Event {
    let event = tokio::time::timeout(Duration::from_secs(3), stream.next())
        .await
        .expect("an event within 3 s")
        .expect("stream open");
    std::sync::Arc::unwrap_or_clone(event)
}

async fn nothing_more(stream: &mut EventStream) {
    let extra = tokio::time::timeout(Duration::from_millis(300), stream.next()).await;
    assert!(extra.is_err(), "no further event expected, got {extra:?}");
}

async fn numsub(url: &str, channel: &str) -> i64 {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let (_, n): (String, i64) = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(channel)
        .query_async(&mut conn)
        .await
        .unwrap();
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_reaches_every_process_once() {
    let Some(url) = common::redis_or_skip().await else {
        return;
    };
    let prefix = common::unique_prefix();
    let a = RedisEventBus::new(common::backend_with_prefix(&url, &prefix));
    let b = RedisEventBus::new(common::backend_with_prefix(&url, &prefix));
    let chat = ChatId::new();
    let topic = Topic::Chat(chat);
    let mut on_a = a.subscribe(&topic).await.unwrap();
    let mut on_b = b.subscribe(&topic).await.unwrap();
    let mut on_b_too = b.subscribe(&topic).await.unwrap();
    let mut elsewhere = b.subscribe(&Topic::Chat(ChatId::new())).await.unwrap();

    let event = typing(chat);
    a.publish(&event).await.unwrap();
    assert_eq!(
        next(&mut on_a).await,
        event,
        "the publisher's own subscriber gets it"
    );
    assert_eq!(
        next(&mut on_b).await,
        event,
        "another process's subscriber gets it"
    );
    assert_eq!(
        next(&mut on_b_too).await,
        event,
        "every subscription of that process gets it"
    );
    nothing_more(&mut on_a).await;
    nothing_more(&mut on_b).await;
    nothing_more(&mut elsewhere).await;

    let from_b = typing(chat);
    b.publish(&from_b).await.unwrap();
    assert_eq!(next(&mut on_a).await, from_b);
    assert_eq!(next(&mut on_b).await, from_b);
    nothing_more(&mut on_b).await;

    let presence = Event::Presence {
        user_id: UserId::new(),
        status: webchat_domain::PresenceStatus::Online,
        last_seen: chrono::Utc::now(),
        chats: vec![chat],
    };
    let mut presence_on_a = a.subscribe(&Topic::Presence).await.unwrap();
    b.publish(&presence).await.unwrap();
    assert_eq!(
        next(&mut presence_on_a).await,
        presence,
        "presence travels on its own channel"
    );
    nothing_more(&mut on_a).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_subscriptions_are_counted_per_channel() {
    let Some(url) = common::redis_or_skip().await else {
        return;
    };
    let prefix = common::unique_prefix();
    let bus = RedisEventBus::new(common::backend_with_prefix(&url, &prefix));
    let user = UserId::new();
    let channel = format!("{prefix}user:{{{user}}}");

    let first = bus.subscribe(&Topic::User(user)).await.unwrap();
    assert_eq!(
        numsub(&url, &channel).await,
        1,
        "the first subscriber SUBSCRIBEs before subscribe returns"
    );
    let mut second = bus.subscribe(&Topic::User(user)).await.unwrap();
    assert_eq!(
        numsub(&url, &channel).await,
        1,
        "one Redis subscription per channel per process"
    );

    drop(first);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        numsub(&url, &channel).await,
        1,
        "a remaining subscriber keeps the channel"
    );
    // Published straight into the channel as another process would, so only the
    // Redis path can deliver it.
    let event = Event::Typing {
        chat_id: ChatId::new(),
        user_id: user,
    };
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let payload = serde_json::json!({"origin": "elsewhere", "event": event}).to_string();
    redis::cmd("PUBLISH")
        .arg(&channel)
        .arg(payload)
        .query_async::<i64>(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        next(&mut second).await,
        event,
        "the remaining subscriber still receives"
    );

    drop(second);
    let mut gone = false;
    for _ in 0..40 {
        if numsub(&url, &channel).await == 0 {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gone, "the last subscriber leaving UNSUBSCRIBEs");

    let mut again = bus.subscribe(&Topic::User(user)).await.unwrap();
    assert_eq!(
        numsub(&url, &channel).await,
        1,
        "subscribing again SUBSCRIBEs again"
    );
    let echo = Event::Typing {
        chat_id: ChatId::new(),
        user_id: user,
    };
    redis::cmd("PUBLISH")
        .arg(&channel)
        .arg(serde_json::json!({"origin": "elsewhere", "event": echo}).to_string())
        .query_async::<i64>(&mut conn)
        .await
        .unwrap();
    assert_eq!(next(&mut again).await, echo);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_subscriber_misses_events_but_keeps_its_subscription() {
    let Some(url) = common::redis_or_skip().await else {
        return;
    };
    let bus = RedisEventBus::new(common::backend(&url));
    let chat = ChatId::new();
    let mut slow = bus.subscribe(&Topic::Chat(chat)).await.unwrap();
    let flood = 1500;
    for _ in 0..flood {
        bus.publish(&typing(chat)).await.unwrap();
    }
    let marker = typing(chat);
    bus.publish(&marker).await.unwrap();
    let mut received = 0;
    loop {
        let event = next(&mut slow).await;
        received += 1;
        if event == marker {
            break;
        }
    }
    assert!(
        received < flood + 1,
        "a subscriber that fell behind skips events ({received} received)"
    );
    let after = typing(chat);
    bus.publish(&after).await.unwrap();
    assert_eq!(
        next(&mut slow).await,
        after,
        "and keeps receiving afterwards"
    );
}
