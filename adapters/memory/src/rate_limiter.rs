use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use webchat_domain::{RateLimitDecision, RateLimitPolicy};
use webchat_ports::{Clock, PortResult, RateLimiter};

use crate::lock;

/// Fixed-window counters in memory. One lock around count-and-decide makes
/// concurrent hits count exactly.
pub struct MemoryRateLimiter {
    clock: Arc<dyn Clock>,
    state: Mutex<Windows>,
}

/// Ended windows are dropped in a sweep every this many hits.
const SWEEP_EVERY: u32 = 1024;

#[derive(Default)]
struct Windows {
    /// (policy, subject, route) -> the open window.
    open: HashMap<(String, String, String), Window>,
    hits: u32,
}

struct Window {
    ends_at: DateTime<Utc>,
    count: u32,
}

impl MemoryRateLimiter {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            state: Mutex::new(Windows::default()),
        }
    }
}

#[async_trait]
impl RateLimiter for MemoryRateLimiter {
    async fn hit(
        &self,
        policy: &RateLimitPolicy,
        subject: &str,
        route: &str,
    ) -> PortResult<RateLimitDecision> {
        let now = self.clock.now();
        let window_len = webchat_domain::chrono_duration(policy.window);
        let mut state = lock(&self.state);
        state.hits += 1;
        if state.hits >= SWEEP_EVERY {
            state.hits = 0;
            state.open.retain(|_, w| w.ends_at > now);
        }
        let key = (policy.name.clone(), subject.to_owned(), route.to_owned());
        let window = state.open.entry(key).or_insert_with(|| Window {
            ends_at: now + window_len,
            count: 0,
        });
        if window.ends_at <= now {
            *window = Window {
                ends_at: now + window_len,
                count: 0,
            };
        }
        window.count = window.count.saturating_add(1);
        Ok(RateLimitDecision {
            allowed: window.count <= policy.limit,
            limit: policy.limit,
            remaining: policy.limit.saturating_sub(window.count),
            reset_after: (window.ends_at - now).to_std().unwrap_or_default(),
        })
    }
}
