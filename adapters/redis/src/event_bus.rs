//! The EventBus over Redis pub/sub.
//!
//! Channels: `{prefix}chat:{chatId}`, `{prefix}user:{userId}`, `{prefix}presence`.
//! Payload: `{"origin": <instance id>, "event": <Event>}`. `publish` hands the event
//! to this process's subscribers first (so local sockets get local events while
//! Redis is down), then PUBLISHes; copies coming back from Redis with this process's
//! origin are skipped, so nobody receives an event twice.
//!
//! `subscribe` does not fail while Redis is down: the subscription is taken locally
//! (local events flow at once) and the pub/sub supervisor SUBSCRIBEs it as soon as
//! the link is back. While the link is up, it returns once Redis confirmed the
//! SUBSCRIBE, so an event published right after reaches it from any process.

use async_trait::async_trait;
use webchat_domain::{Event, Topic};
use webchat_ports::{EventBus, EventStream, PortResult};

use crate::backend::{corrupt, unavailable, RedisBackend};
use crate::pubsub::FANOUT_CAPACITY;

/// Buffer of a user's channel (see `subscribe`).
const USER_CHANNEL_CAPACITY: usize = 16;

/// Fan-out between instances through the backend's single pub/sub connection.
#[derive(Debug, Clone)]
pub struct RedisEventBus {
    backend: RedisBackend,
}

impl RedisEventBus {
    pub fn new(backend: RedisBackend) -> Self {
        Self { backend }
    }
}

/// The first half of a publication, shared by [`RedisEventBus::publish`] and the
/// announcer: hands `event` to this process's subscribers of its channel, then
/// returns that channel and the envelope to PUBLISH on it (the copy that comes back
/// to this process carries its origin and is skipped).
pub(crate) fn deliver_locally(
    backend: &RedisBackend,
    event: &Event,
) -> (String, PortResult<String>) {
    let channel = backend.keys().channel(&event.topic());
    let link = backend.pubsub();
    link.deliver_local(&channel, event);
    let payload = link.encode(event).map_err(|e| corrupt("event", e));
    (channel, payload)
}

#[async_trait]
impl EventBus for RedisEventBus {
    #[tracing::instrument(skip(self, event), fields(topic = ?event.topic()))]
    async fn publish(&self, event: &Event) -> PortResult<()> {
        let (channel, payload) = deliver_locally(&self.backend, event);
        let mut conn = self.backend.conn().await?;
        let _receivers: u64 = redis::cmd(self.backend.publish_command(&event.topic()))
            .arg(&channel)
            .arg(payload?)
            .query_async(&mut conn)
            .await
            .map_err(|e| unavailable("PUBLISH", e))?;
        Ok(())
    }

    #[tracing::instrument(skip(self))]
    async fn subscribe(&self, topic: &Topic) -> PortResult<EventStream> {
        let channel = self.backend.keys().channel(topic);
        // A user's channel only carries the rare `chat.joined`; every connected user
        // has one, so its buffer stays small.
        let capacity = match topic {
            Topic::User(_) => USER_CHANNEL_CAPACITY,
            _ => FANOUT_CAPACITY,
        };
        let sharded = crate::keys::Keys::is_sharded(topic);
        Ok(self
            .backend
            .pubsub()
            .subscribe(channel, capacity, sharded)
            .await)
    }

    /// After every (re)connection of the pub/sub link: what was published while it
    /// was down never reached this process's subscribers.
    fn reconnects(&self) -> futures::stream::BoxStream<'static, ()> {
        self.backend.pubsub().attached_notices()
    }
}
