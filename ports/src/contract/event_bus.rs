use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::channel::oneshot;
use futures::future::{self, Either};
use futures::StreamExt;
use webchat_domain::{Chat, ChatId, ChatName, Event, PresenceStatus, Topic, UserId};

use crate::{EventBus, EventStream};

/// How long a suite waits for an event that must arrive (Redis delivers asynchronously).
const PATIENCE: Duration = Duration::from_secs(5);

/// EventBus: every subscription of a topic gets each event once and in order, other
/// topics get nothing, dropped subscriptions do not disturb publishing, and a
/// subscription receives what is published right after `subscribe` returns.
pub async fn event_bus_contract<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn EventBus>>,
{
    delivers_each_event_once_in_order_to_its_topic(make().await).await;
    delivers_right_after_subscribe(make().await).await;
    survives_dropped_subscriptions(make().await).await;
    delivers_only_what_follows_the_subscription(make().await).await;
}

pub(super) fn typing(chat: ChatId) -> Event {
    Event::Typing {
        chat_id: chat,
        user_id: UserId::new(),
    }
}

async fn subscribe(bus: &Arc<dyn EventBus>, topic: &Topic) -> EventStream {
    bus.subscribe(topic).await.expect("subscribe")
}

async fn publish(bus: &Arc<dyn EventBus>, event: &Event) {
    bus.publish(event).await.expect("publish");
}

/// Awaits `fut` for at most `limit` of real time, without depending on a runtime:
/// a plain thread fires the deadline. `None` when the deadline came first.
async fn within<T>(limit: Duration, fut: impl Future<Output = T>) -> Option<T> {
    let (fire, deadline) = oneshot::channel::<()>();
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        let _ = fire.send(());
    });
    match future::select(std::pin::pin!(fut), deadline).await {
        Either::Left((value, _)) => Some(value),
        Either::Right(_) => None,
    }
}

/// The stream's next event; panics naming `behaviour` when none comes in time.
pub(super) async fn next(stream: &mut EventStream, behaviour: &str) -> Event {
    match within(PATIENCE, stream.next()).await {
        Some(Some(event)) => Arc::unwrap_or_clone(event),
        Some(None) => panic!("{behaviour}: the subscription ended"),
        None => panic!("{behaviour}: no event within {PATIENCE:?}"),
    }
}

async fn delivers_each_event_once_in_order_to_its_topic(bus: Arc<dyn EventBus>) {
    let (chat, other_chat, member) = (ChatId::new(), ChatId::new(), UserId::new());
    let chat_topic = Topic::Chat(chat);
    let mut first = subscribe(&bus, &chat_topic).await;
    let mut second = subscribe(&bus, &chat_topic).await;
    let mut other = subscribe(&bus, &Topic::Chat(other_chat)).await;
    let mut presence = subscribe(&bus, &Topic::Presence).await;
    let mut user = subscribe(&bus, &Topic::User(member)).await;

    let sent: Vec<Event> = (0..10).map(|_| typing(chat)).collect();
    for event in &sent {
        publish(&bus, event).await;
    }
    for subscription in [&mut first, &mut second] {
        for event in &sent {
            let got = next(
                subscription,
                "every subscriber of a topic receives its events",
            )
            .await;
            assert_eq!(
                &got, event,
                "a subscriber receives a topic's events in publication order"
            );
        }
    }

    let marker = typing(chat);
    publish(&bus, &marker).await;
    let elsewhere = typing(other_chat);
    publish(&bus, &elsewhere).await;
    let status = Event::Presence {
        user_id: member,
        status: PresenceStatus::Online,
        last_seen: Utc::now(),
        chats: vec![chat],
    };
    publish(&bus, &status).await;
    let joined = Event::ChatJoined {
        user_id: member,
        chat: Chat {
            id: chat,
            name: ChatName::parse("bus").expect("fixture chat name is valid"),
            created_by: member,
            created_at: Utc::now(),
        },
        member_ids: vec![member],
    };
    publish(&bus, &joined).await;

    for subscription in [&mut first, &mut second] {
        let got = next(subscription, "a later event reaches every subscriber").await;
        assert_eq!(
            got, marker,
            "each event is delivered once per subscriber (no duplicates)"
        );
    }
    let got = next(
        &mut other,
        "another chat's subscriber receives its own events",
    )
    .await;
    assert_eq!(
        got, elsewhere,
        "a chat's subscriber receives nothing published on another chat"
    );
    let got = next(&mut presence, "the presence topic delivers").await;
    assert_eq!(
        got, status,
        "the presence topic receives presence events and no chat events"
    );
    let got = next(&mut user, "a user topic delivers").await;
    assert_eq!(
        got, joined,
        "a user topic receives its user's events and no chat events"
    );
}

async fn delivers_right_after_subscribe(bus: Arc<dyn EventBus>) {
    for _ in 0..5 {
        let chat = ChatId::new();
        let mut subscription = subscribe(&bus, &Topic::Chat(chat)).await;
        let event = typing(chat);
        publish(&bus, &event).await;
        let got = next(
            &mut subscription,
            "an event published right after subscribe returns is delivered",
        )
        .await;
        assert_eq!(
            got, event,
            "a fresh subscription receives the event published right after it"
        );
    }
}

async fn survives_dropped_subscriptions(bus: Arc<dyn EventBus>) {
    let chat = ChatId::new();
    let topic = Topic::Chat(chat);
    let dropped = subscribe(&bus, &topic).await;
    let mut kept = subscribe(&bus, &topic).await;
    drop(dropped);

    let event = typing(chat);
    bus.publish(&event)
        .await
        .expect("publish after a subscription was dropped succeeds");
    let got = next(
        &mut kept,
        "a dropped subscription does not stop delivery to the others",
    )
    .await;
    assert_eq!(got, event, "the remaining subscriber receives the event");

    drop(kept);
    bus.publish(&typing(chat))
        .await
        .expect("publish to a topic without subscribers succeeds");
    let mut again = subscribe(&bus, &topic).await;
    let event = typing(chat);
    publish(&bus, &event).await;
    let got = next(
        &mut again,
        "resubscribing to a topic whose subscribers all left works",
    )
    .await;
    assert_eq!(
        got, event,
        "a new subscription after all others were dropped receives new events"
    );
}

async fn delivers_only_what_follows_the_subscription(bus: Arc<dyn EventBus>) {
    let chat = ChatId::new();
    let topic = Topic::Chat(chat);
    publish(&bus, &typing(chat)).await;
    let mut late = subscribe(&bus, &topic).await;
    let event = typing(chat);
    publish(&bus, &event).await;
    let got = next(&mut late, "a late subscriber receives later events").await;
    assert_eq!(
        got, event,
        "a subscription receives nothing published before it"
    );
}
