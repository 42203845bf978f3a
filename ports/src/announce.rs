use std::sync::Arc;

use async_trait::async_trait;
use webchat_domain::{Event, Message};

use crate::{EventBus, MessageCache, PortResult};

/// What became of the two halves of an announcement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announced {
    /// The cache write-through (`MessageCache::cache_message`).
    pub cached: PortResult<()>,
    /// The publication (`EventBus::publish`; local subscribers got the event either
    /// way).
    pub published: PortResult<()>,
}

/// Announces a message the repository just stored: writes it through to the cache
/// and publishes its `message.created`, in one round trip to the backend where the
/// adapter keeps both in one store (the send path's budget), else one after the
/// other. Same semantics as `MessageCache::cache_message` followed by
/// `EventBus::publish`.
///
/// # Errors
/// Each half reports its own `PortError::Unavailable`; neither stops the other.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait Announcer: Send + Sync {
    async fn created(&self, message: &Message, event: &Event) -> Announced;
}

/// The announcer for a cache and a bus that share nothing: write through, then
/// publish.
pub struct CacheThenPublish {
    cache: Arc<dyn MessageCache>,
    bus: Arc<dyn EventBus>,
}

impl CacheThenPublish {
    pub fn new(cache: Arc<dyn MessageCache>, bus: Arc<dyn EventBus>) -> Self {
        Self { cache, bus }
    }
}

#[async_trait]
impl Announcer for CacheThenPublish {
    async fn created(&self, message: &Message, event: &Event) -> Announced {
        let cached = self.cache.cache_message(message).await;
        let published = self.bus.publish(event).await;
        Announced { cached, published }
    }
}
