//! Conformance suites: one generic async function per port. Every adapter runs every
//! suite that applies to it from its own tests, against the real backend, so the
//! adapters are interchangeable by test rather than by hope.
//!
//! Suites take a factory that builds a fresh, isolated store (its own key prefix or
//! database) and a [`TimeControl`] that moves the store's time forward: the memory
//! adapters advance a [`ManualClock`], the Redis adapter sleeps
//! (its TTLs are real), so suites ask for short lifetimes via the config they pass
//! and advance at most a few seconds in all. Repository factories may hand out stores
//! over a database shared with earlier calls, so those suites use unique names and
//! never assume empty tables.
//!
//! Only `futures` drives concurrency here (`join_all`): the ports crate must not
//! depend on a runtime. Failures panic with a message naming the broken behaviour.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::{Clock, ManualClock};

mod announce;
mod cache;
mod event_bus;
mod fixtures;
mod presence;
mod rate_limit;
mod repository;
mod services;
mod session;

pub use announce::{announcer_contract, Announcing};
pub use cache::message_cache_contract;
pub use event_bus::event_bus_contract;
pub use presence::presence_store_contract;
pub use rate_limit::rate_limiter_contract;
pub use repository::{
    chat_repository_contract, message_repository_contract, user_repository_contract,
};
pub use services::{services_required, skip_or_fail};
pub use session::session_store_contract;

/// Moves a store's notion of time forward.
#[async_trait]
pub trait TimeControl: Send + Sync {
    /// The clock the store reads (timestamps the suite creates come from it).
    fn clock(&self) -> Arc<dyn Clock>;
    /// Lets `by` pass for the store.
    async fn advance(&self, by: Duration);
}

/// [`TimeControl`] over a [`ManualClock`]: for stores that read time only through
/// their clock (the memory adapters), so advancing costs no real time.
#[derive(Debug, Clone, Default)]
pub struct ManualTimeControl {
    clock: Arc<ManualClock>,
}

impl ManualTimeControl {
    pub fn new() -> Self {
        Self::default()
    }

    /// The clock to hand to the store under test.
    pub fn manual_clock(&self) -> Arc<ManualClock> {
        Arc::clone(&self.clock)
    }
}

#[async_trait]
impl TimeControl for ManualTimeControl {
    fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    async fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }
}
