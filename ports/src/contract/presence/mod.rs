use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;
use webchat_domain::{InstanceId, PresenceStatus, SocketId, UserId, UserPresence};

use crate::contract::fixtures::tag;

use crate::contract::TimeControl;
use crate::{PresenceChange, PresenceConfig, PresenceStore};

mod expiry;
mod sockets;
mod touch;

type Made = (Arc<dyn PresenceStore>, Arc<dyn TimeControl>);

/// PresenceStore: online on the first socket and offline only when the last one goes
/// (on any instance), exact `changed` flags, away/online, listings, `touch` (and its
/// `changed` when it brings back a user the store had taken offline), expiry of
/// records, `cleanup_stale` for expired records and dead instances, `clear_all`.
/// Stores are made with online 2 s, offline 4 s, instance 2 s; advances 4.6 s in all.
pub async fn presence_store_contract<F, Fut>(make: F)
where
    F: Fn(PresenceConfig) -> Fut,
    Fut: Future<Output = Made>,
{
    let fresh = || make(short_lifetimes());
    sockets::knows_nothing_of_unseen_users(fresh().await).await;
    sockets::goes_offline_with_the_last_socket(fresh().await).await;
    sockets::switches_between_online_and_away(fresh().await).await;
    sockets::lists_online_and_away_users(fresh().await).await;
    sockets::pages_online_users_by_id(fresh().await).await;
    sockets::clears_everything(fresh().await).await;
    touch::refreshes_without_changing_the_status(fresh().await).await;
    touch::brings_back_a_user_the_cleanup_took_offline(fresh().await).await;
    touch::brings_back_a_user_after_clear_all(fresh().await).await;
    expiry::expires_records_and_cleans_up_dead_instances(fresh().await).await;
}

/// What every store under test is made with: online 2 s, offline 4 s, instance 2 s.
fn short_lifetimes() -> PresenceConfig {
    PresenceConfig {
        online_ttl: Duration::from_secs(2),
        offline_ttl: Duration::from_secs(4),
        instance_ttl: Duration::from_secs(2),
    }
}

/// A fresh instance id starting with `name`.
fn instance(name: &str) -> InstanceId {
    InstanceId::parse(&format!("{name}{}", tag())).expect("fixture instance id is valid")
}

fn socket(instance: &InstanceId) -> SocketId {
    SocketId::new(instance, Uuid::new_v4())
}

async fn count(store: &Arc<dyn PresenceStore>, user: UserId) -> u64 {
    store.socket_count(user).await.expect("socket_count")
}

async fn online(store: &Arc<dyn PresenceStore>, user: UserId, socket: &SocketId) -> PresenceChange {
    store.set_online(user, socket).await.expect("set_online")
}

async fn offline(
    store: &Arc<dyn PresenceStore>,
    user: UserId,
    socket: &SocketId,
) -> PresenceChange {
    store.set_offline(user, socket).await.expect("set_offline")
}

/// Online or away, as the stored record says.
async fn is_online(store: &Arc<dyn PresenceStore>, user: UserId) -> bool {
    matches!(
        status(store, user).await,
        Some(PresenceStatus::Online | PresenceStatus::Away)
    )
}

async fn status(store: &Arc<dyn PresenceStore>, user: UserId) -> Option<PresenceStatus> {
    let presence = store.get_presence(user).await.expect("get_presence");
    presence.map(|p| p.status)
}

/// Every user online or away, walking `online_page` two at a time; checks that
/// each page is in id order after its cursor and no larger than asked.
async fn all_online(store: &Arc<dyn PresenceStore>) -> Vec<UserPresence> {
    let mut all: Vec<UserPresence> = Vec::new();
    let mut after = None;
    loop {
        let page = store.online_page(after, 2).await.expect("online_page");
        assert!(page.users.len() <= 2, "online_page returns at most `limit`");
        for p in &page.users {
            assert!(
                after.is_none_or(|a| p.user_id > a),
                "online_page lists users by id, after the cursor"
            );
            after = Some(p.user_id);
        }
        let last = page.users.len() < 2;
        all.extend(page.users);
        if last {
            return all;
        }
    }
}

/// How many users the store counts online.
async fn online_total(store: &Arc<dyn PresenceStore>) -> u64 {
    store.online_page(None, 1).await.expect("online_page").total
}

/// The users a listing names, with their status, in id order.
fn by_user(mut listed: Vec<UserPresence>) -> Vec<(UserId, PresenceStatus)> {
    listed.sort_by_key(|p| p.user_id);
    listed.into_iter().map(|p| (p.user_id, p.status)).collect()
}
