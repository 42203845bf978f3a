use async_trait::async_trait;
use futures::stream::BoxStream;
use webchat_domain::event::{Event, Topic};

use crate::PortResult;

/// The events of one subscription, in publication order per publisher. Dropping it
/// unsubscribes.
pub type EventStream = BoxStream<'static, Event>;

/// Fan-out between instances (the seed's Socket.IO Redis adapter).
///
/// A published event reaches every live subscription to its topic
/// (`event.topic()`) in every process sharing the backend, once each, and no
/// subscription of another topic. Subscriptions in the publishing process receive
/// it even when the backend is down. A subscriber too slow to keep up may miss
/// events (a warning is logged); chat clients recover them with `since_seq`.
///
/// # Errors
/// `PortError::Unavailable` when the backend cannot take a publication (local
/// subscribers have still received it) or a subscription; the adapter reconnects
/// and resubscribes by itself.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait EventBus: Send + Sync {
    /// Publishes `event` on `event.topic()`.
    async fn publish(&self, event: &Event) -> PortResult<()>;

    /// Subscribes to `topic`; events published after this returns are delivered.
    async fn subscribe(&self, topic: &Topic) -> PortResult<EventStream>;
}
