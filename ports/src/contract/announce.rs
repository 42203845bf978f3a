use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use webchat_domain::{ChatId, Event, Message, MessageId, Topic, UserId};

use super::event_bus::{next, typing};
use super::fixtures::micros;
use crate::{Announced, Announcer, CacheConfig, EventBus, MessageCache};

/// What an announcer suite case works with: the announcer and the cache and bus it
/// announces through (or, for an adapter that fuses them, a cache and bus over the
/// same backend).
pub type Announcing = (Arc<dyn Announcer>, Arc<dyn MessageCache>, Arc<dyn EventBus>);

const LASTING: CacheConfig = CacheConfig {
    ttl: Duration::from_secs(120),
    read_ttl: Duration::from_secs(60),
};

/// Announcer: `created` is `MessageCache::cache_message` followed by
/// `EventBus::publish`: the window is extended (or kept, or dropped) by the cache's
/// rules and the watermark raised, a tombstoned message stays out, and every
/// subscriber of the chat receives the event exactly once. Both halves report `Ok`.
pub async fn announcer_contract<F, Fut>(make: F)
where
    F: Fn(CacheConfig) -> Fut,
    Fut: Future<Output = Announcing>,
{
    extends_the_window_and_publishes_once(make(LASTING).await).await;
    raises_the_watermark_and_never_creates_a_window(make(LASTING).await).await;
    follows_the_window_rules(make(LASTING).await).await;
    keeps_a_deleted_message_out(make(LASTING).await).await;
}

fn message(chat: ChatId, seq: i64, at: DateTime<Utc>) -> Message {
    Message {
        id: MessageId::new(),
        chat_id: chat,
        sender_id: UserId::new(),
        content: format!("announced {seq}"),
        seq,
        client_msg_id: None,
        created_at: at,
        edited_at: None,
        pinned_at: None,
        version: seq,
    }
}

fn history(chat: ChatId, n: i64) -> Vec<Message> {
    let at = micros(Utc::now());
    (1..=n).rev().map(|seq| message(chat, seq, at)).collect()
}

fn created(m: &Message) -> Event {
    Event::MessageCreated {
        chat_id: m.chat_id,
        message: m.clone(),
        pts: m.version,
    }
}

async fn announce(announcer: &Arc<dyn Announcer>, m: &Message) {
    let outcome = announcer.created(m, &created(m)).await;
    assert_eq!(
        outcome,
        Announced {
            cached: Ok(()),
            published: Ok(()),
        },
        "created reports both halves done"
    );
}

async fn recent(cache: &Arc<dyn MessageCache>, chat: ChatId) -> Option<Vec<Message>> {
    cache.recent(chat, 100).await.expect("recent")
}

async fn warm_up(cache: &Arc<dyn MessageCache>, chat: ChatId, list: &[Message], as_of: i64) {
    cache.warm_up(chat, list, as_of).await.expect("warm_up");
}

async fn extends_the_window_and_publishes_once((announcer, cache, bus): Announcing) {
    let chat = ChatId::new();
    let mut subscription = bus.subscribe(&Topic::Chat(chat)).await.expect("subscribe");
    let mut all = history(chat, 4);
    let fourth = all.remove(0);
    warm_up(&cache, chat, &all, 3).await;

    announce(&announcer, &fourth).await;
    let window = recent(&cache, chat)
        .await
        .expect("created keeps the window");
    assert_eq!(
        window.first(),
        Some(&fourth),
        "created extends the window with the message right after its head"
    );
    assert_eq!(window.len(), 4, "created only adds the one message");
    assert_eq!(
        next(
            &mut subscription,
            "a subscriber of the chat receives the event"
        )
        .await,
        created(&fourth),
        "a subscriber of the chat receives the created event"
    );
    let marker = typing(chat);
    bus.publish(&marker).await.expect("publish");
    assert_eq!(
        next(&mut subscription, "a later event reaches the subscriber").await,
        marker,
        "a subscriber receives the created event exactly once"
    );
}

async fn raises_the_watermark_and_never_creates_a_window((announcer, cache, _bus): Announcing) {
    let chat = ChatId::new();
    let first = message(chat, 1, micros(Utc::now()));
    announce(&announcer, &first).await;
    assert_eq!(
        recent(&cache, chat).await,
        None,
        "created never creates a window"
    );
    assert_eq!(
        cache.get_cached(first.id).await.expect("get_cached"),
        None,
        "created caches no copy by id"
    );
    warm_up(&cache, chat, &[], 0).await;
    assert_eq!(
        recent(&cache, chat).await,
        None,
        "created raises the watermark (a warm_up read before it changes nothing)"
    );
    warm_up(&cache, chat, std::slice::from_ref(&first), 1).await;
    assert_eq!(
        recent(&cache, chat).await,
        Some(vec![first]),
        "created raises the watermark to the message's version only"
    );
}

async fn follows_the_window_rules((announcer, cache, _bus): Announcing) {
    let chat = ChatId::new();
    let all = history(chat, 3);
    warm_up(&cache, chat, &all, 3).await;
    announce(&announcer, &all[1]).await;
    assert_eq!(
        recent(&cache, chat).await,
        Some(all.clone()),
        "created of a message the window holds leaves it as it was"
    );
    announce(&announcer, &message(chat, 5, micros(Utc::now()))).await;
    assert_eq!(
        recent(&cache, chat).await,
        None,
        "created past a missed seq drops the window"
    );
}

async fn keeps_a_deleted_message_out((announcer, cache, _bus): Announcing) {
    let chat = ChatId::new();
    let all = history(chat, 3);
    let head = all[0].clone();
    cache
        .delete_cached(chat, head.id, 10)
        .await
        .expect("delete_cached");
    let rest = all[1..].to_vec();
    warm_up(&cache, chat, &rest, 10).await;
    // The send of seq 3 announced after its delete.
    announce(&announcer, &head).await;
    assert_eq!(
        recent(&cache, chat).await,
        Some(rest),
        "created of a deleted message leaves the window as it was"
    );
}
