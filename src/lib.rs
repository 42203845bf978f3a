//! webchat: the application layer.
//!
//! - [`usecase`]: what the API does, over the ports (`Arc<dyn Port>`).
//! - [`app`]: the composition root that picks adapters and builds the use cases.
//! - [`config`]: typed configuration from the environment (docs/protocol.md).

pub mod app;
pub mod config;
pub mod http;
pub mod usecase;
