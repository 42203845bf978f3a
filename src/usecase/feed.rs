//! Live events for this instance's sockets: what the WebSocket gateway subscribes to.

use std::sync::Arc;

use webchat_domain::Topic;
use webchat_ports::{EventBus, EventStream};

use super::AppResult;

pub struct Feed {
    bus: Arc<dyn EventBus>,
}

impl Feed {
    pub fn new(bus: Arc<dyn EventBus>) -> Self {
        Self { bus }
    }

    /// The events of `topic` published from now on, by any instance.
    pub async fn subscribe(&self, topic: &Topic) -> AppResult<EventStream> {
        Ok(self.bus.subscribe(topic).await?)
    }
}
