use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::stream::BoxStream;
use futures::StreamExt;
use tokio::sync::broadcast;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;
use webchat_domain::event::{Event, Topic};
use webchat_ports::{EventBus, EventStream, PortResult};

use crate::lock;

/// Fan-out within one process: a `tokio::sync::broadcast` channel per topic. A
/// subscriber that falls more than the capacity behind skips what it missed (with a
/// warning) instead of slowing the publisher down.
///
/// A broadcast channel allocates all its slots up front, and every connected user
/// has a topic of their own: events travel as `Arc`s (one pointer per slot), and a
/// user's topic, which only carries the rare `chat.joined`, gets a small buffer.
pub struct MemoryEventBus {
    capacity: usize,
    topics: Mutex<HashMap<Topic, broadcast::Sender<Arc<Event>>>>,
}

impl MemoryEventBus {
    /// How many events a subscriber may fall behind before it skips some.
    pub const DEFAULT_CAPACITY: usize = 1024;
    /// The same for a user's own topic.
    pub const USER_TOPIC_CAPACITY: usize = 16;

    pub fn new() -> Self {
        Self::with_capacity(Self::DEFAULT_CAPACITY)
    }

    /// A bus whose subscribers may each fall `capacity` events behind (at least 1).
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            topics: Mutex::new(HashMap::new()),
        }
    }
}

impl Default for MemoryEventBus {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl EventBus for MemoryEventBus {
    async fn publish(&self, event: &Event) -> PortResult<()> {
        let topic = event.topic();
        let mut topics = lock(&self.topics);
        if let Some(sender) = topics.get(&topic) {
            // An error only means every subscriber has gone: forget the topic.
            if sender.send(Arc::new(event.clone())).is_err() {
                topics.remove(&topic);
            }
        }
        Ok(())
    }

    #[tracing::instrument(skip(self))]
    async fn subscribe(&self, topic: &Topic) -> PortResult<EventStream> {
        let receiver = lock(&self.topics)
            .entry(topic.clone())
            .or_insert_with(|| {
                let capacity = match topic {
                    Topic::User(_) => self.capacity.min(Self::USER_TOPIC_CAPACITY),
                    _ => self.capacity,
                };
                broadcast::channel(capacity).0
            })
            .subscribe();
        let topic = topic.clone();
        let events = BroadcastStream::new(receiver).filter_map(move |received| {
            let event = match received {
                Ok(event) => Some(event),
                Err(BroadcastStreamRecvError::Lagged(missed)) => {
                    tracing::warn!(?topic, missed, "slow event subscriber skipped events");
                    None
                }
            };
            futures::future::ready(event)
        });
        Ok(events.boxed())
    }

    /// Everything happens in this process: no event is ever lost to a reconnect.
    fn reconnects(&self) -> BoxStream<'static, ()> {
        futures::stream::pending().boxed()
    }
}

#[cfg(test)]
mod tests {
    use webchat_domain::{ChatId, UserId};

    use super::*;

    fn typing(chat: ChatId) -> Event {
        Event::Typing {
            chat_id: chat,
            user_id: UserId::new(),
        }
    }

    #[tokio::test]
    async fn a_lagging_subscriber_skips_to_the_retained_events() {
        let bus = MemoryEventBus::with_capacity(2);
        let chat = ChatId::new();
        let mut slow = bus.subscribe(&Topic::Chat(chat)).await.unwrap();
        let sent: Vec<Event> = (0..5).map(|_| typing(chat)).collect();
        for event in &sent {
            bus.publish(event).await.unwrap();
        }
        assert_eq!(
            slow.next().await.as_deref(),
            Some(&sent[3]),
            "skips what it missed"
        );
        assert_eq!(
            slow.next().await.as_deref(),
            Some(&sent[4]),
            "then reads on in order"
        );
        let later = typing(chat);
        bus.publish(&later).await.unwrap();
        assert_eq!(
            slow.next().await.as_deref(),
            Some(&later),
            "and keeps receiving new events"
        );
    }

    #[tokio::test]
    async fn topics_without_subscribers_are_forgotten() {
        let bus = MemoryEventBus::new();
        let chat = ChatId::new();
        drop(bus.subscribe(&Topic::Chat(chat)).await.unwrap());
        bus.publish(&typing(chat)).await.unwrap();
        assert!(
            lock(&bus.topics).is_empty(),
            "publishing to an abandoned topic drops its channel"
        );
    }
}
