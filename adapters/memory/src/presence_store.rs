use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use webchat_domain::{chrono_duration, InstanceId, PresenceStatus, SocketId, UserId, UserPresence};
use webchat_ports::{Clock, OnlinePage, PortResult, PresenceChange, PresenceConfig, PresenceStore};

use crate::lock;

/// Presence in memory, laid out like the Redis keys: a record and a socket set per
/// user that expire together, the set of users believed online (pruned by
/// `cleanup_stale`), and instance heartbeats.
pub struct MemoryPresenceStore {
    config: PresenceConfig,
    clock: Arc<dyn Clock>,
    state: Mutex<Presence>,
}

#[derive(Default)]
struct Presence {
    records: HashMap<UserId, Expiring<UserPresence>>,
    sockets: HashMap<UserId, Expiring<BTreeSet<SocketId>>>,
    /// By id: the order pages walk.
    online: BTreeSet<UserId>,
    instances: HashMap<String, DateTime<Utc>>,
}

struct Expiring<T> {
    value: T,
    until: DateTime<Utc>,
}

fn live<T>(map: &HashMap<UserId, Expiring<T>>, user: UserId, now: DateTime<Utc>) -> Option<&T> {
    map.get(&user).filter(|e| e.until > now).map(|e| &e.value)
}

fn is_up(p: &UserPresence) -> bool {
    p.status != PresenceStatus::Offline
}

impl MemoryPresenceStore {
    pub fn new(config: PresenceConfig, clock: Arc<dyn Clock>) -> Self {
        Self {
            config,
            clock,
            state: Mutex::new(Presence::default()),
        }
    }

    /// Writes a record with `status`, and keeps the socket set alive as long.
    fn put(
        &self,
        state: &mut Presence,
        user: UserId,
        status: PresenceStatus,
        socket: Option<&SocketId>,
        now: DateTime<Utc>,
    ) -> UserPresence {
        let presence = UserPresence {
            user_id: user,
            status,
            last_seen: now,
            socket_id: socket.cloned(),
        };
        let until = if is_up(&presence) {
            state.online.insert(user);
            now + chrono_duration(self.config.online_ttl)
        } else {
            state.online.remove(&user);
            state.sockets.remove(&user);
            now + chrono_duration(self.config.offline_ttl)
        };
        if let Some(sockets) = state.sockets.get_mut(&user) {
            sockets.until = until;
        }
        state.records.insert(
            user,
            Expiring {
                value: presence.clone(),
                until,
            },
        );
        presence
    }

    fn register(&self, state: &mut Presence, user: UserId, socket: &SocketId, now: DateTime<Utc>) {
        let fresh = || Expiring {
            value: BTreeSet::new(),
            until: now,
        };
        let sockets = state.sockets.entry(user).or_insert_with(fresh);
        if sockets.until <= now {
            sockets.value.clear();
        }
        sockets.value.insert(socket.clone());
    }

    fn current(&self, state: &Presence, user: UserId, now: DateTime<Utc>) -> UserPresence {
        live(&state.records, user, now)
            .cloned()
            .unwrap_or_else(|| UserPresence::unknown(user, now))
    }
}

impl Presence {
    fn instance_alive(&self, instance: &str, now: DateTime<Utc>) -> bool {
        self.instances
            .get(instance)
            .is_some_and(|until| *until > now)
    }
}

#[async_trait]
impl PresenceStore for MemoryPresenceStore {
    #[tracing::instrument(skip(self))]
    async fn set_online(&self, user: UserId, socket: &SocketId) -> PortResult<PresenceChange> {
        let now = self.clock.now();
        let mut state = lock(&self.state);
        let was = live(&state.records, user, now).map(|p| p.status);
        self.register(&mut state, user, socket, now);
        let presence = self.put(&mut state, user, PresenceStatus::Online, Some(socket), now);
        Ok(PresenceChange {
            presence,
            changed: was != Some(PresenceStatus::Online),
        })
    }

    #[tracing::instrument(skip(self))]
    async fn set_offline(&self, user: UserId, socket: &SocketId) -> PortResult<PresenceChange> {
        let now = self.clock.now();
        let mut state = lock(&self.state);
        let removed = match state.sockets.get_mut(&user) {
            Some(s) if s.until > now => s.value.remove(socket).then_some(s.value.is_empty()),
            _ => None,
        };
        let presence = match removed {
            Some(true) => {
                let was_up = live(&state.records, user, now).is_some_and(is_up);
                let presence =
                    self.put(&mut state, user, PresenceStatus::Offline, Some(socket), now);
                return Ok(PresenceChange {
                    presence,
                    changed: was_up,
                });
            }
            Some(false) | None => self.current(&state, user, now),
        };
        Ok(PresenceChange {
            presence,
            changed: false,
        })
    }

    #[tracing::instrument(skip(self))]
    async fn set_status(
        &self,
        user: UserId,
        status: PresenceStatus,
    ) -> PortResult<Option<PresenceChange>> {
        let now = self.clock.now();
        let mut state = lock(&self.state);
        if live(&state.sockets, user, now).is_none_or(BTreeSet::is_empty) {
            return Ok(None);
        }
        let current = self.current(&state, user, now);
        // A connected user is online or away; "offline" is only ever the last socket's doing.
        if status == PresenceStatus::Offline {
            return Ok(Some(PresenceChange {
                presence: current,
                changed: false,
            }));
        }
        let socket = current.socket_id.clone();
        let presence = self.put(&mut state, user, status, socket.as_ref(), now);
        Ok(Some(PresenceChange {
            presence,
            changed: current.status != status,
        }))
    }

    async fn socket_count(&self, user: UserId) -> PortResult<u64> {
        let now = self.clock.now();
        Ok(live(&lock(&self.state).sockets, user, now).map_or(0, |s| s.len() as u64))
    }

    async fn get_presence(&self, user: UserId) -> PortResult<Option<UserPresence>> {
        let now = self.clock.now();
        Ok(live(&lock(&self.state).records, user, now).cloned())
    }

    async fn online_page(&self, after: Option<UserId>, limit: usize) -> PortResult<OnlinePage> {
        let now = self.clock.now();
        let state = lock(&self.state);
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        Ok(OnlinePage {
            users: state
                .online
                .range((from, Bound::Unbounded))
                .filter_map(|user| live(&state.records, *user, now))
                .filter(|p| is_up(p))
                .take(limit)
                .cloned()
                .collect(),
            // Like the Redis set: users whose record expired count until the cleanup.
            total: state.online.len() as u64,
        })
    }

    async fn touch(&self, user: UserId, socket: &SocketId) -> PortResult<PresenceChange> {
        let now = self.clock.now();
        let mut state = lock(&self.state);
        // Activity proves the socket lives: a record that expired, or that the cleanup
        // took offline while this instance's heartbeat lagged, is put back online.
        let (status, last_changed_by, changed) = match live(&state.records, user, now) {
            Some(p) if is_up(p) => (p.status, p.socket_id.clone(), false),
            _ => (PresenceStatus::Online, Some(socket.clone()), true),
        };
        self.register(&mut state, user, socket, now);
        let presence = self.put(&mut state, user, status, last_changed_by.as_ref(), now);
        Ok(PresenceChange { presence, changed })
    }

    #[tracing::instrument(skip(self))]
    async fn heartbeat_instance(&self, instance: &InstanceId) -> PortResult<()> {
        let until = self.clock.now() + chrono_duration(self.config.instance_ttl);
        lock(&self.state)
            .instances
            .insert(instance.as_str().to_owned(), until);
        Ok(())
    }

    #[tracing::instrument(skip(self))]
    async fn cleanup_stale(&self) -> PortResult<Vec<UserPresence>> {
        let now = self.clock.now();
        let mut state = lock(&self.state);
        let mut gone = Vec::new();
        let believed_online: Vec<UserId> = state.online.iter().copied().collect();
        for user in believed_online {
            let Some(record) = live(&state.records, user, now).cloned() else {
                let last_seen = state.records.get(&user).map_or(now, |e| e.value.last_seen);
                state.online.remove(&user);
                state.records.remove(&user);
                state.sockets.remove(&user);
                gone.push(UserPresence {
                    user_id: user,
                    status: PresenceStatus::Offline,
                    last_seen,
                    socket_id: None,
                });
                continue;
            };
            let sockets = live(&state.sockets, user, now).cloned().unwrap_or_default();
            let alive: BTreeSet<SocketId> = sockets
                .iter()
                .filter(|s| state.instance_alive(s.instance(), now))
                .cloned()
                .collect();
            if alive.is_empty() {
                gone.push(self.put(
                    &mut state,
                    user,
                    PresenceStatus::Offline,
                    record.socket_id.as_ref(),
                    now,
                ));
            } else if alive.len() < sockets.len() {
                if let Some(entry) = state.sockets.get_mut(&user) {
                    entry.value = alive;
                }
            }
        }
        state.records.retain(|_, e| e.until > now);
        state.sockets.retain(|_, e| e.until > now);
        state.instances.retain(|_, until| *until > now);
        Ok(gone)
    }

    #[tracing::instrument(skip(self))]
    async fn clear_all(&self) -> PortResult<u64> {
        let mut state = lock(&self.state);
        let removed = state.records.len()
            + state.sockets.len()
            + usize::from(!state.online.is_empty())
            + state.instances.len();
        *state = Presence::default();
        Ok(removed as u64)
    }
}
