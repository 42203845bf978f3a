//! What this instance has recently verified about chat membership, so reads the
//! cache can answer keep working while the database is down (docs/protocol.md,
//! Degradation: "cached reads still serve"). Only positive answers are kept and
//! only consulted when the repository cannot answer; there is no member removal,
//! so a remembered membership cannot turn false behind our back.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use webchat_domain::{ChatId, UserId};

/// How long a verified membership vouches for a member during an outage.
const REMEMBER_FOR: Duration = Duration::from_secs(15 * 60);
/// Entries kept at most; past that the memo starts over (it is only a fallback).
const MAX_ENTRIES: usize = 100_000;

#[derive(Default)]
pub struct MembershipMemo {
    verified: Mutex<HashMap<(ChatId, UserId), Instant>>,
}

impl MembershipMemo {
    pub fn remember(&self, chat: ChatId, user: UserId) {
        let mut verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        if verified.len() >= MAX_ENTRIES {
            verified.clear();
        }
        verified.insert((chat, user), Instant::now());
    }

    /// True when `user` was verified a member of `chat` recently.
    pub fn vouches(&self, chat: ChatId, user: UserId) -> bool {
        self.verified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(chat, user))
            .is_some_and(|at| at.elapsed() < REMEMBER_FOR)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vouches_only_for_what_was_verified() {
        let memo = MembershipMemo::default();
        let (chat, user) = (ChatId::new(), UserId::new());
        assert!(!memo.vouches(chat, user));
        memo.remember(chat, user);
        assert!(memo.vouches(chat, user));
        assert!(!memo.vouches(chat, UserId::new()));
        assert!(!memo.vouches(ChatId::new(), user));
    }
}
