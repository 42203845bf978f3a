use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::BoxStream;
use webchat_domain::event::{Event, Topic};

use crate::PortResult;

/// The events of one subscription, in publication order per publisher, shared with
/// every other subscriber of the process (no copy per subscriber). Dropping it
/// unsubscribes.
pub type EventStream = BoxStream<'static, Arc<Event>>;

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

    /// Yields once each time the bus may have lost events of its subscriptions
    /// (it reconnected to its backend and resubscribed): whoever needs every event
    /// then catches up from the source of truth. A bus that cannot lose events
    /// never yields.
    fn reconnects(&self) -> BoxStream<'static, ()>;
}
