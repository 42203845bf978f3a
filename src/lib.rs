//! webchat: the application layer.
//!
//! - [`usecase`]: what the API does, over the ports (`Arc<dyn Port>`).
//! - [`app`]: the composition root that picks adapters and builds the use cases.
//! - [`config`]: typed configuration from the environment (docs/protocol.md).
//! - [`http`]: the REST API, the WebSocket gateway, `/metrics` (docs/operations.md).
//! - [`metrics`]: one recording function per Prometheus series.

pub mod app;
pub mod config;
pub mod http;
pub mod metrics;
pub mod usecase;
