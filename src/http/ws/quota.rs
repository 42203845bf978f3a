//! The cap on open WebSockets per user. The presence store counts a user's sockets
//! on every instance; this instance also counts the upgrades it has accepted but
//! not yet registered there, so a burst of upgrades on one instance cannot slip
//! past the cap while the first sockets are still being registered.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use webchat_domain::UserId;

pub struct SocketQuota {
    max: usize,
    /// Sockets of each user this instance has accepted and not yet closed.
    local: Mutex<HashMap<UserId, usize>>,
}

/// A place under the cap, given back when dropped (the socket closed, or its
/// upgrade never completed).
pub struct QuotaSlot {
    quota: Arc<SocketQuota>,
    user: UserId,
}

impl SocketQuota {
    pub fn new(max: usize) -> Self {
        Self {
            max,
            local: Mutex::new(HashMap::new()),
        }
    }

    pub fn max(&self) -> usize {
        self.max
    }

    /// Takes a place for one more socket of `user`, who holds `registered` sockets
    /// in the presence store (every instance; `None` when the store cannot tell).
    /// `None` when the user is at the cap.
    pub fn acquire(self: &Arc<Self>, user: UserId, registered: Option<u64>) -> Option<QuotaSlot> {
        let mut local = self.local.lock().unwrap_or_else(PoisonError::into_inner);
        let here = local.get(&user).copied().unwrap_or(0);
        // Registered sockets include this instance's own: the larger of the two
        // counts is the best lower bound of the user's open sockets.
        let open = here.max(registered.map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX)));
        if open >= self.max {
            return None;
        }
        local.insert(user, here + 1);
        Some(QuotaSlot {
            quota: self.clone(),
            user,
        })
    }
}

impl Drop for QuotaSlot {
    fn drop(&mut self) {
        let mut local = self
            .quota
            .local
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = local.get_mut(&self.user) {
            *n -= 1;
            if *n == 0 {
                local.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_counts_this_instances_sockets_and_the_stores() {
        let quota = Arc::new(SocketQuota::new(3));
        let user = UserId::new();
        let slots: Vec<_> = (0..3)
            .map(|_| quota.acquire(user, Some(0)).expect("under the cap"))
            .collect();
        assert!(
            quota.acquire(user, Some(0)).is_none(),
            "a fourth local socket"
        );
        assert!(
            quota.acquire(UserId::new(), None).is_some(),
            "another user has their own cap"
        );
        drop(slots);
        assert!(
            quota.acquire(user, None).is_some(),
            "closed sockets free it"
        );
        assert!(
            quota.acquire(user, Some(3)).is_none(),
            "sockets on other instances count"
        );
        assert!(
            quota.local.lock().unwrap().is_empty(),
            "no entry is left for users without sockets"
        );
    }
}
