use std::sync::Arc;

use webchat_domain::Event;
use webchat_ports::EventBus;

/// Publishes events after the state change they announce has been stored. A bus
/// failure never fails the request: the change is durable, local subscribers were
/// served by the bus itself, and clients recover missed chat events with since_seq.
#[derive(Clone)]
pub struct Publisher {
    bus: Arc<dyn EventBus>,
}

impl Publisher {
    pub fn new(bus: Arc<dyn EventBus>) -> Self {
        Self { bus }
    }

    pub async fn publish(&self, event: Event) {
        if let Err(e) = self.bus.publish(&event).await {
            tracing::warn!(error = %e, topic = ?event.topic(), "event bus publish failed");
        }
    }
}
