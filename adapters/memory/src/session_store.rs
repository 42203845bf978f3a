use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use webchat_domain::{SessionId, TokenFingerprint, UserId, UserSession};
use webchat_ports::{Clock, PortError, PortResult, Rotation, SessionStore};

use crate::lock;

/// Sessions and the token blacklist in memory. Expired entries count as absent at
/// once and are purged when met, or in a sweep every 1024 writes.
pub struct MemorySessionStore {
    clock: Arc<dyn Clock>,
    state: Mutex<Sessions>,
}

const SWEEP_EVERY: u32 = 1024;

#[derive(Default)]
struct Sessions {
    by_id: HashMap<SessionId, UserSession>,
    by_user: HashMap<UserId, BTreeSet<SessionId>>,
    /// Fingerprint -> when the token expires (and the entry with it).
    blacklist: HashMap<TokenFingerprint, DateTime<Utc>>,
    writes: u32,
}

impl MemorySessionStore {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            state: Mutex::new(Sessions::default()),
        }
    }
}

impl Sessions {
    fn live(&mut self, id: SessionId, now: DateTime<Utc>) -> Option<&mut UserSession> {
        if self.by_id.get(&id)?.is_expired(now) {
            self.remove(id);
            return None;
        }
        self.by_id.get_mut(&id)
    }

    fn remove(&mut self, id: SessionId) -> Option<UserSession> {
        let session = self.by_id.remove(&id)?;
        if let Some(index) = self.by_user.get_mut(&session.user_id) {
            index.remove(&id);
            if index.is_empty() {
                self.by_user.remove(&session.user_id);
            }
        }
        Some(session)
    }

    /// Removes the user's sessions that `doomed` picks; returns the live ones removed.
    fn remove_for_user(
        &mut self,
        user: UserId,
        now: DateTime<Utc>,
        doomed: impl Fn(SessionId) -> bool,
    ) -> u64 {
        let ids: Vec<SessionId> = self
            .by_user
            .get(&user)
            .into_iter()
            .flatten()
            .copied()
            .collect();
        let mut live = 0;
        for id in ids.into_iter().filter(|id| doomed(*id)) {
            if self.remove(id).is_some_and(|s| !s.is_expired(now)) {
                live += 1;
            }
        }
        live
    }

    /// Ends the user's sessions but `keep` that expire first until at most `max` live
    /// ones remain; returns how many it ended.
    fn cap(&mut self, user: UserId, keep: SessionId, max: usize, now: DateTime<Utc>) -> u64 {
        let ids: Vec<SessionId> = self
            .by_user
            .get(&user)
            .into_iter()
            .flatten()
            .copied()
            .collect();
        let mut others: Vec<(DateTime<Utc>, SessionId)> = ids
            .into_iter()
            .filter(|id| *id != keep)
            .filter_map(|id| self.live(id, now).map(|s| (s.expires_at, s.id)))
            .collect();
        // Oldest first, ties by id (as Redis orders equal scores by member).
        others.sort();
        let excess = (others.len() + 1).saturating_sub(max.max(1));
        for (_, id) in &others[..excess] {
            self.remove(*id);
        }
        excess as u64
    }

    fn blacklisted(&mut self, token: &TokenFingerprint, now: DateTime<Utc>) -> bool {
        match self.blacklist.get(token) {
            Some(until) if *until > now => true,
            Some(_) => {
                self.blacklist.remove(token);
                false
            }
            None => false,
        }
    }

    fn note_write(&mut self, now: DateTime<Utc>) {
        self.writes += 1;
        if self.writes < SWEEP_EVERY {
            return;
        }
        self.writes = 0;
        let expired: Vec<SessionId> = self
            .by_id
            .values()
            .filter(|s| s.is_expired(now))
            .map(|s| s.id)
            .collect();
        for id in expired {
            self.remove(id);
        }
        self.blacklist.retain(|_, until| *until > now);
    }
}

#[async_trait]
impl SessionStore for MemorySessionStore {
    #[tracing::instrument(skip(self, session), fields(session_id = %session.id, user_id = %session.user_id))]
    async fn create(&self, session: &UserSession, max_per_user: usize) -> PortResult<u64> {
        let now = self.clock.now();
        let mut state = lock(&self.state);
        if state.live(session.id, now).is_some() {
            return Err(PortError::Conflict(format!(
                "session {} exists",
                session.id
            )));
        }
        state.note_write(now);
        state.by_id.insert(session.id, session.clone());
        state
            .by_user
            .entry(session.user_id)
            .or_default()
            .insert(session.id);
        Ok(state.cap(session.user_id, session.id, max_per_user, now))
    }

    async fn get(&self, id: SessionId) -> PortResult<Option<UserSession>> {
        let now = self.clock.now();
        Ok(lock(&self.state).live(id, now).map(|s| s.clone()))
    }

    #[tracing::instrument(skip_all, fields(session_id = %next.id))]
    async fn rotate(&self, next: &UserSession, expected_refresh_hash: &str) -> PortResult<bool> {
        let now = self.clock.now();
        let mut state = lock(&self.state);
        match state.live(next.id, now) {
            Some(stored)
                if stored.user_id == next.user_id
                    && stored.refresh_token_hash == expected_refresh_hash =>
            {
                *stored = next.clone();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    #[tracing::instrument(skip_all, fields(session_id = %next.id))]
    async fn rotate_or_end(
        &self,
        next: &UserSession,
        presented_refresh_hash: &str,
    ) -> PortResult<Rotation> {
        let now = self.clock.now();
        let mut state = lock(&self.state);
        match state.live(next.id, now) {
            Some(stored) if stored.user_id != next.user_id => Ok(Rotation::Absent),
            Some(stored) if stored.refresh_token_hash == presented_refresh_hash => {
                *stored = next.clone();
                Ok(Rotation::Rotated)
            }
            Some(_) => {
                state.remove(next.id);
                Ok(Rotation::Ended)
            }
            None => Ok(Rotation::Absent),
        }
    }

    #[tracing::instrument(skip(self))]
    async fn delete(&self, id: SessionId) -> PortResult<bool> {
        let now = self.clock.now();
        let mut state = lock(&self.state);
        Ok(state.remove(id).is_some_and(|s| !s.is_expired(now)))
    }

    async fn user_sessions(&self, user: UserId) -> PortResult<Vec<UserSession>> {
        let now = self.clock.now();
        let mut state = lock(&self.state);
        let ids: Vec<SessionId> = state
            .by_user
            .get(&user)
            .into_iter()
            .flatten()
            .copied()
            .collect();
        let mut sessions: Vec<UserSession> = ids
            .into_iter()
            .filter_map(|id| state.live(id, now).map(|s| s.clone()))
            .collect();
        sessions.sort_by_key(|s| (s.created_at, s.id));
        Ok(sessions)
    }

    #[tracing::instrument(skip(self))]
    async fn delete_all_for_user(&self, user: UserId) -> PortResult<u64> {
        let now = self.clock.now();
        Ok(lock(&self.state).remove_for_user(user, now, |_| true))
    }

    #[tracing::instrument(skip(self))]
    async fn delete_others_for_user(&self, user: UserId, keep: SessionId) -> PortResult<u64> {
        let now = self.clock.now();
        Ok(lock(&self.state).remove_for_user(user, now, |id| id != keep))
    }

    #[tracing::instrument(skip(self, token))]
    async fn blacklist_token(
        &self,
        token: &TokenFingerprint,
        expires_at: DateTime<Utc>,
    ) -> PortResult<()> {
        let now = self.clock.now();
        if expires_at <= now {
            return Ok(());
        }
        let mut state = lock(&self.state);
        state.note_write(now);
        state.blacklist.insert(token.clone(), expires_at);
        Ok(())
    }

    async fn authorize(
        &self,
        id: SessionId,
        token: &TokenFingerprint,
    ) -> PortResult<Option<UserSession>> {
        let now = self.clock.now();
        let mut state = lock(&self.state);
        if state.blacklisted(token, now) {
            return Ok(None);
        }
        Ok(state.live(id, now).map(|s| s.clone()))
    }

    #[tracing::instrument(skip(self))]
    async fn clear_all(&self) -> PortResult<u64> {
        let mut state = lock(&self.state);
        let removed = state.by_id.len() + state.by_user.len() + state.blacklist.len();
        *state = Sessions::default();
        Ok(removed as u64)
    }
}
