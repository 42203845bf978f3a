//! Authoritative cache writes that failed (the cache was down or timed out), kept
//! and retried until they land: a copy the cache holds must not outlive the outage
//! with content older than the database's. Retries are safe in any order, since the
//! cache never lets an older version replace a newer one.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use webchat_domain::{reconnect_backoff, ChatId, Message, MessageId};
use webchat_ports::{MessageCache, PortResult};

/// Repairs kept at most; past this the oldest is dropped with an error in the log
/// (its entries expire with the cache ttl).
const MAX_PENDING: usize = 10_000;

/// A write to make again.
#[derive(Debug, Clone)]
pub(super) enum Repair {
    /// A new message never reached the chat's window: forget what the cache holds
    /// for the chat (the next read rebuilds it).
    Forget(ChatId),
    Update(Message),
    Delete {
        chat: ChatId,
        id: MessageId,
        version: i64,
    },
}

impl Repair {
    async fn apply(&self, cache: &dyn MessageCache) -> PortResult<()> {
        match self {
            Self::Forget(chat) => cache.invalidate_chat(*chat).await,
            Self::Update(message) => cache.update_cached(message).await,
            Self::Delete { chat, id, version } => cache.delete_cached(*chat, *id, *version).await,
        }
    }
}

pub(super) struct CacheRepair {
    cache: Arc<dyn MessageCache>,
    pending: Mutex<VecDeque<Repair>>,
    running: AtomicBool,
}

impl CacheRepair {
    pub(super) fn new(cache: Arc<dyn MessageCache>) -> Arc<Self> {
        Arc::new(Self {
            cache,
            pending: Mutex::default(),
            running: AtomicBool::new(false),
        })
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, VecDeque<Repair>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many repairs wait.
    pub(super) fn pending(&self) -> usize {
        self.queue().len()
    }

    /// Keeps `repair` and makes sure a task retries it.
    pub(super) fn push(self: &Arc<Self>, repair: Repair) {
        {
            let mut queue = self.queue();
            if queue.len() >= MAX_PENDING {
                let dropped = queue.pop_front();
                tracing::error!(?dropped, "cache repair queue full: dropping the oldest");
            }
            queue.push_back(repair);
        }
        if !self.running.swap(true, Ordering::SeqCst) {
            let this = Arc::clone(self);
            tokio::spawn(async move { this.run().await });
        }
    }

    /// Retries until the queue is empty, backing off while the cache stays down.
    async fn run(self: Arc<Self>) {
        let mut attempt = 0u32;
        loop {
            attempt = attempt.saturating_add(1);
            tokio::time::sleep(reconnect_backoff(attempt).max(Duration::from_millis(50))).await;
            loop {
                let Some(next) = self.queue().front().cloned() else {
                    break;
                };
                if let Err(e) = next.apply(self.cache.as_ref()).await {
                    tracing::debug!(error = %e, "cache repair failed; retrying");
                    break;
                }
                self.queue().pop_front();
                attempt = 0;
            }
            let queue = self.queue();
            if queue.is_empty() {
                self.running.store(false, Ordering::SeqCst);
                drop(queue);
                tracing::info!("cache repairs done");
                return;
            }
        }
    }
}
