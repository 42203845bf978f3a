//! What one client may send: a token bucket over its frames, so a flood from one
//! client (status toggles, joins) cannot load the stores or the bus for everyone,
//! and a per-chat gate on typing relays.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use webchat_domain::ChatId;

/// Frames a socket may send per second on average, and at once.
pub const FRAMES_PER_SEC: f64 = 20.0;
const FRAME_BURST: f64 = 50.0;
/// Typing events relayed per socket and chat at most this often.
const TYPING_EVERY: Duration = Duration::from_secs(2);

pub struct FrameBudget {
    tokens: f64,
    at: Instant,
}

impl FrameBudget {
    pub fn new() -> Self {
        Self {
            tokens: FRAME_BURST,
            at: Instant::now(),
        }
    }

    /// Spends one frame; false when the client is over its budget.
    pub fn take(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.at).as_secs_f64() * FRAMES_PER_SEC;
        self.tokens = (self.tokens + refill).min(FRAME_BURST);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// When each chat last had a typing event relayed from this socket.
#[derive(Default)]
pub struct TypingGate {
    last: HashMap<ChatId, Instant>,
}

impl TypingGate {
    /// True when a typing event for `chat` may be relayed now.
    pub fn allows(&self, chat: ChatId) -> bool {
        self.last
            .get(&chat)
            .is_none_or(|at| at.elapsed() >= TYPING_EVERY)
    }

    /// Records that a typing event for `chat` was relayed.
    pub fn relayed(&mut self, chat: ChatId) {
        self.last.insert(chat, Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_budget_refuses() {
        let mut budget = FrameBudget::new();
        let admitted = (0..200).filter(|_| budget.take()).count();
        assert!(
            (50..=52).contains(&admitted),
            "a burst of 50 (plus what refilled meanwhile), got {admitted}"
        );
    }

    #[test]
    fn typing_is_relayed_once_per_chat_within_the_interval() {
        let mut gate = TypingGate::default();
        let (a, b) = (ChatId::new(), ChatId::new());
        assert!(gate.allows(a));
        gate.relayed(a);
        assert!(!gate.allows(a));
        assert!(gate.allows(b));
    }
}
