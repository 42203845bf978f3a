//! Conformance suites: one generic async function per port. Every adapter runs every
//! suite that applies to it from its own tests, against the real backend, so the
//! adapters are interchangeable by test rather than by hope.
//!
//! Suites take a factory that builds a fresh, isolated store (its own key prefix or
//! database) and a [`TimeControl`] that moves the store's time forward: the memory
//! adapters advance a [`ManualClock`](crate::ManualClock), the Redis adapter sleeps
//! (its TTLs are real), so suites ask for short lifetimes via the config they pass.
//! Failures panic with a message naming the broken behaviour.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::Clock;

/// Moves a store's notion of time forward.
#[async_trait]
pub trait TimeControl: Send + Sync {
    /// The clock the store reads (timestamps the suite creates come from it).
    fn clock(&self) -> Arc<dyn Clock>;
    /// Lets `by` pass for the store.
    async fn advance(&self, by: Duration);
}
