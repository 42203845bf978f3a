use std::time::Duration;

use async_trait::async_trait;
use webchat_domain::{InstanceId, PresenceStatus, SocketId, UserId, UserPresence};

use crate::PortResult;

/// Lifetimes of presence records (docs/protocol.md: 300 s online, refreshed by activity;
/// 24 h once offline; an instance counts as dead once its heartbeat is this old).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceConfig {
    pub online_ttl: Duration,
    pub offline_ttl: Duration,
    pub instance_ttl: Duration,
}

impl PresenceConfig {
    /// The lifetimes for an instance whose cleanup job runs every `interval` and
    /// heart-beats [`HEARTBEATS_PER_CLEANUP`] times as often: an instance's mark
    /// lives one interval, so one that died is found by the first cleanup after its
    /// mark expired, within two intervals of its last heartbeat.
    pub fn for_cleanup_interval(interval: Duration) -> Self {
        Self {
            instance_ttl: interval,
            ..Self::default()
        }
    }
}

/// How many heartbeats an instance sends per cleanup interval: two can be missed
/// before it counts as dead.
pub const HEARTBEATS_PER_CLEANUP: u32 = 3;

impl Default for PresenceConfig {
    fn default() -> Self {
        Self {
            online_ttl: Duration::from_secs(300),
            offline_ttl: Duration::from_secs(24 * 3600),
            instance_ttl: Duration::from_secs(90),
        }
    }
}

/// The result of a presence write: the record as it now stands, and whether the
/// user's visible status changed (the caller broadcasts one `presence` event then).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceChange {
    pub presence: UserPresence,
    pub changed: bool,
}

/// A page of [`PresenceStore::online_page`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OnlinePage {
    /// Online or away users, by id.
    pub users: Vec<UserPresence>,
    /// Everyone online or away, not only this page.
    pub total: u64,
}

/// Who is online, shared by every instance (the seed's UserPresenceService).
///
/// A user is online while at least one socket of theirs, on any instance, is
/// registered; `away` is online with a different face. A user goes `offline` only
/// when the last socket goes. Records expire: an online record lives `online_ttl`
/// past the last activity (`touch`), an offline one `offline_ttl`.
///
/// # Errors
/// Every method returns `PortError::Unavailable` when the backend cannot answer;
/// callers then answer presence reads from their local view.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait PresenceStore: Send + Sync {
    /// Registers `socket` for `user` and marks them online. `changed` is true when
    /// the user was not online (or was away) before.
    async fn set_online(&self, user: UserId, socket: &SocketId) -> PortResult<PresenceChange>;

    /// Unregisters `socket`. When it was the user's last socket the user becomes
    /// offline (`changed` true); otherwise the status stays. Unknown sockets are a
    /// no-op returning the current record.
    async fn set_offline(&self, user: UserId, socket: &SocketId) -> PortResult<PresenceChange>;

    /// Sets `online` or `away` for a user who has a socket. Returns `None` when the
    /// user has no registered socket (an offline user cannot be away).
    async fn set_status(
        &self,
        user: UserId,
        status: PresenceStatus,
    ) -> PortResult<Option<PresenceChange>>;

    /// How many sockets the user has registered, on every instance (a socket set
    /// past its lifetime counts as none).
    async fn socket_count(&self, user: UserId) -> PortResult<u64>;

    /// The stored record, or `None` for a user never seen or whose record expired.
    async fn get_presence(&self, user: UserId) -> PortResult<Option<UserPresence>>;

    /// One page of the users online or away, ordered by user id: at most `limit`
    /// of them with an id greater than `after` (from the first when `None`), and
    /// how many users the store counts online in all. A user whose record expired
    /// is left out of the pages at once, and out of `total` from the next
    /// `cleanup_stale`.
    async fn online_page(&self, after: Option<UserId>, limit: usize) -> PortResult<OnlinePage>;

    /// Activity on `socket`: refreshes the lifetime of the user's online record and
    /// socket set (an idle but connected user stays online) and registers the socket
    /// again if it was dropped. Activity proves the socket lives, so a user who is
    /// not online — no record, an expired one, or an offline one (`cleanup_stale`
    /// or `clear_all` took a still-connected user offline) — is written back online
    /// with this socket and `changed` is true: the caller announces them as
    /// `set_online` would. For a user already online or away `changed` is false and
    /// the status stays. `presence` is the record as it now stands.
    async fn touch(&self, user: UserId, socket: &SocketId) -> PortResult<PresenceChange>;

    /// Declares `instance` alive for another `instance_ttl`.
    async fn heartbeat_instance(&self, instance: &InstanceId) -> PortResult<()>;

    /// The periodic cleanup (every 30 s): forgets online users whose record expired
    /// and sockets whose instance stopped heart-beating; returns the users that went
    /// offline because of it, each once, so the caller can announce them.
    async fn cleanup_stale(&self) -> PortResult<Vec<UserPresence>>;

    /// Removes every presence record (`webchat admin clear-presence`); returns how
    /// many keys or records went.
    async fn clear_all(&self) -> PortResult<u64>;
}
