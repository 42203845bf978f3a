//! The process's single pub/sub connection and the local fan-out behind it.
//!
//! Every local subscription to a channel has its own bounded queue, fed by the link;
//! the Redis SUBSCRIBE is reference-counted: sent for the first local subscriber,
//! undone when the last one drops its stream. The link pumps messages from the
//! connection into the subscribers' queues and pings to notice a half-dead link; the
//! `supervisor` task (re)connects it.
//!
//! A queue grows only as events wait (nothing up front; drained, it keeps at most 16
//! pointer slots): an instance subscribes a channel per chat and
//! per user with a local socket, and a `broadcast` channel's slots, allocated up
//! front, cost 32 KB per chat and 0.6 KB per user whether anything waits or not.
//!
//! In Redis Cluster mode the connection is a RESP3 cluster connection: shard
//! channels (a chat's, a user's) are SSUBSCRIBEd on the master of their slot, the
//! `presence` channel is SUBSCRIBEd (classic pub/sub reaches every node), and
//! `pubsub_cluster` keeps the subscriptions whole across node failures, failovers
//! and slot migrations (redis-rs drops a shard subscription whose slot moved).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use redis::aio::{PubSubSink, PubSubStream};
use redis::cluster_async::ClusterConnection;
use redis::RedisResult;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch};
use tokio_stream::wrappers::BroadcastStream;
use webchat_domain::Event;
use webchat_ports::EventStream;

use crate::queue;
use crate::supervisor::stopped;

/// Events a subscriber may fall behind by before it starts missing some (the oldest
/// are dropped, and the drop is logged). Nothing is allocated for the capacity.
pub(crate) const FANOUT_CAPACITY: usize = 1024;
/// How long a SUBSCRIBE/UNSUBSCRIBE/PING on the link may take.
pub(crate) const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// How often an idle link is pinged, so a silently dead TCP connection is noticed.
pub(crate) const PING_EVERY: Duration = Duration::from_secs(5);

#[derive(Serialize)]
struct EnvelopeRef<'a> {
    origin: &'a str,
    event: &'a Event,
}

#[derive(Deserialize)]
struct Envelope {
    origin: String,
    event: Event,
}

struct Channel {
    subscribers: Vec<Subscriber>,
    /// A shard channel (SSUBSCRIBE in Cluster mode).
    sharded: bool,
}

/// One local subscriber's queue ([`queue`]: bounded, the oldest dropped when full).
struct Subscriber {
    id: u64,
    tx: queue::Sender<Arc<Event>>,
}

/// Where SUBSCRIBE and UNSUBSCRIBE go: a single server's pub/sub connection, or a
/// cluster connection (RESP3; its pushes arrive on the link's push channel).
#[derive(Clone)]
pub(crate) enum Sink {
    Single(PubSubSink),
    Cluster(ClusterConnection),
}

impl Sink {
    pub(crate) async fn subscribe(&mut self, channel: &str, sharded: bool) -> RedisResult<()> {
        match self {
            Self::Single(sink) => sink.subscribe(channel).await,
            Self::Cluster(conn) if sharded => conn.ssubscribe(channel).await,
            Self::Cluster(conn) => conn.subscribe(channel).await,
        }
    }

    async fn unsubscribe(&mut self, channel: &str, sharded: bool) -> RedisResult<()> {
        match self {
            Self::Single(sink) => sink.unsubscribe(channel).await,
            Self::Cluster(conn) if sharded => conn.sunsubscribe(channel).await,
            Self::Cluster(conn) => conn.unsubscribe(channel).await,
        }
    }

    /// Subscribes every one of `channels` (one command on a single server, one per
    /// channel on a cluster, where each shard channel goes to its slot's master).
    async fn subscribe_all(&mut self, channels: &[(String, bool)]) -> RedisResult<()> {
        match self {
            Self::Single(sink) => {
                let names: Vec<&str> = channels.iter().map(|(c, _)| c.as_str()).collect();
                sink.subscribe(names).await
            }
            Self::Cluster(conn) => {
                let conn = conn.clone();
                futures::stream::iter(channels.iter().cloned())
                    .map(|(channel, sharded)| {
                        let mut sink = Self::Cluster(conn.clone());
                        async move { sink.subscribe(&channel, sharded).await }
                    })
                    .buffer_unordered(RESUBSCRIBE_CONCURRENCY)
                    .collect::<Vec<_>>()
                    .await
                    .into_iter()
                    .collect()
            }
        }
    }
}

/// SUBSCRIBEs in flight at once when a cluster link resubscribes.
pub(crate) const RESUBSCRIBE_CONCURRENCY: usize = 64;

/// The connection currently attached, and its generation.
pub(crate) struct Attached {
    pub(crate) sink: Sink,
    generation: u64,
}

/// The pub/sub link: the process's one pub/sub connection (attached and detached
/// by the supervisor) and the local channels it feeds.
///
/// Lock order: `attached` (async, held across SUBSCRIBE/UNSUBSCRIBE round trips)
/// before `channels` (sync, never held across an `.await`). Code holding `channels`
/// never waits for `attached`; `Subscription::drop` takes `channels` alone and
/// leaves the UNSUBSCRIBE to a task that takes `attached` first.
pub(crate) struct PubSubLink {
    origin: String,
    /// Local subscribers per channel (the registry of channels).
    channels: Mutex<HashMap<String, Channel>>,
    /// Names each local subscriber (its queue is found by it when it drops).
    subscriber_ids: AtomicU64,
    /// Serialises every SUBSCRIBE/UNSUBSCRIBE with the registry change it belongs
    /// to, so a reconnect's resubscription and a new subscriber never miss each other.
    attached: tokio::sync::Mutex<Option<Attached>>,
    alive: AtomicBool,
    generations: AtomicU64,
    /// The newest link generation a command found broken; the pump of that
    /// generation drops the connection so the supervisor reconnects.
    broken: watch::Sender<u64>,
    /// True once the supervisor's first connection attempt has ended either way:
    /// until then a subscriber waits for it rather than go local-only and miss
    /// what other processes publish in a freshly started process's first moments.
    settled: watch::Sender<bool>,
    /// Told each time a connection is attached: events published while there was
    /// none (or on the old one after it failed) never reached this process.
    attaches: broadcast::Sender<()>,
    /// Cluster mode: channels whose subscription is lost (their node failed, their
    /// slot moved, a SUBSCRIBE failed), for `pubsub_cluster` to subscribe again.
    lost: Mutex<std::collections::HashSet<String>>,
    lost_changed: tokio::sync::Notify,
}

impl PubSubLink {
    pub(crate) fn new(origin: String) -> Self {
        Self {
            origin,
            channels: Mutex::new(HashMap::new()),
            subscriber_ids: AtomicU64::new(0),
            attached: tokio::sync::Mutex::new(None),
            alive: AtomicBool::new(false),
            generations: AtomicU64::new(0),
            broken: watch::channel(0).0,
            settled: watch::channel(false).0,
            attaches: broadcast::channel(4).0,
            lost: Mutex::new(std::collections::HashSet::new()),
            lost_changed: tokio::sync::Notify::new(),
        }
    }

    /// Marks `channels` as needing a new subscription (Cluster mode).
    pub(crate) fn lose(&self, channels: impl IntoIterator<Item = String>) {
        let mut lost = self.lost.lock().unwrap_or_else(|p| p.into_inner());
        let before = lost.len();
        lost.extend(channels);
        if lost.len() != before {
            self.lost_changed.notify_one();
        }
    }

    /// Takes the lost channels still subscribed locally, with their kind.
    pub(crate) fn take_lost(&self) -> Vec<(String, bool)> {
        let lost: Vec<String> = self
            .lost
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
            .collect();
        let registry = self.registry();
        lost.into_iter()
            .filter_map(|c| registry.get(&c).map(|entry| (c, entry.sharded)))
            .collect()
    }

    pub(crate) fn has_lost(&self) -> bool {
        !self
            .lost
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_empty()
    }

    /// Resolves when channels were lost since the last `take_lost`.
    pub(crate) async fn lost_changed(&self) {
        self.lost_changed.notified().await;
    }

    /// Every channel subscribed locally, with its kind.
    pub(crate) fn channels(&self) -> Vec<(String, bool)> {
        self.registry()
            .iter()
            .map(|(c, entry)| (c.clone(), entry.sharded))
            .collect()
    }

    /// Whether `channel` has local subscribers.
    pub(crate) fn is_subscribed(&self, channel: &str) -> bool {
        self.registry().contains_key(channel)
    }

    /// The attached connection's lock (Cluster mode resubscriptions hold it, as
    /// `subscribe` does, so the two never miss each other).
    pub(crate) async fn attached(&self) -> tokio::sync::MutexGuard<'_, Option<Attached>> {
        self.attached.lock().await
    }

    /// Tells the reconnect listeners that events may have been missed (a cluster
    /// link resubscribed channels it had lost).
    pub(crate) fn notify_resubscribed(&self) {
        let _ = self.attaches.send(());
    }

    /// Drops the attached connection at once (its master was demoted): the
    /// supervisor connects again, to the new master, and resubscribes.
    pub(crate) fn reconnect_now(&self) {
        let generation = self.generations.load(Ordering::SeqCst);
        self.broken.send_modify(|b| *b = (*b).max(generation));
    }

    pub(crate) fn set_alive(&self, alive: bool) {
        self.alive.store(alive, Ordering::SeqCst);
    }

    /// The supervisor's first connection attempt has ended.
    pub(crate) fn settle(&self) {
        self.settled.send_replace(true);
    }

    pub(crate) fn is_alive(&self) -> bool {
        self.alive.load(Ordering::SeqCst)
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, HashMap<String, Channel>> {
        self.channels.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The payload published for `event`.
    pub(crate) fn encode(&self, event: &Event) -> serde_json::Result<String> {
        serde_json::to_string(&EnvelopeRef {
            origin: &self.origin,
            event,
        })
    }

    /// Hands `event` to this process's subscribers of `channel`.
    pub(crate) fn deliver_local(&self, channel: &str, event: &Event) {
        if let Some(entry) = self.registry().get(channel) {
            let event = Arc::new(event.clone());
            for subscriber in &entry.subscribers {
                subscriber.tx.send(Arc::clone(&event));
            }
        }
    }

    /// A stream of `channel`'s events. While the link is up this returns after Redis
    /// confirmed the subscription; while it is down the subscription is local only
    /// and the supervisor completes it on reconnect (local events keep flowing).
    #[tracing::instrument(skip(self))]
    pub(crate) async fn subscribe(
        self: &Arc<Self>,
        channel: String,
        capacity: usize,
        sharded: bool,
    ) -> EventStream {
        let mut settled = self.settled.subscribe();
        if !*settled.borrow_and_update() {
            let _ = tokio::time::timeout(COMMAND_TIMEOUT, settled.wait_for(|done| *done)).await;
        }
        let mut attached = self.attached.lock().await;
        let id = self.subscriber_ids.fetch_add(1, Ordering::Relaxed);
        // The stream owns the guard: dropping it releases the subscription.
        let guard = Subscription {
            link: Arc::clone(self),
            channel: channel.clone(),
            id,
        };
        let (tx, rx) = queue::channel(capacity, guard);
        let first = {
            let mut registry = self.registry();
            let entry = registry.entry(channel.clone()).or_insert_with(|| Channel {
                subscribers: Vec::new(),
                sharded,
            });
            entry.subscribers.push(Subscriber { id, tx });
            entry.subscribers.len() == 1
        };
        if first {
            if let Some(current) = attached.as_mut() {
                let cluster = matches!(current.sink, Sink::Cluster(_));
                let outcome = tokio::time::timeout(
                    COMMAND_TIMEOUT,
                    current.sink.subscribe(&channel, sharded),
                );
                let failed = match outcome.await {
                    Ok(Ok(())) => {
                        tracing::debug!(channel, "redis SUBSCRIBE confirmed");
                        None
                    }
                    Ok(Err(e)) => Some(e.to_string()),
                    Err(_) => Some("timed out".to_owned()),
                };
                match failed {
                    None => {}
                    // One node of a cluster failing is not the link failing: the
                    // channel is subscribed again once its node answers.
                    Some(error) if cluster => {
                        tracing::warn!(channel, error, "redis SSUBSCRIBE failed; retrying");
                        self.lose([channel.clone()]);
                    }
                    Some(error) => self.mark_broken(&mut attached, "SUBSCRIBE", &error),
                }
            } else {
                tracing::debug!(channel, "pub/sub down; subscribing on reconnect");
            }
        }
        drop(attached);
        rx.boxed()
    }

    /// A notice per attached connection (see `EventBus::reconnects`).
    pub(crate) fn attached_notices(&self) -> futures::stream::BoxStream<'static, ()> {
        BroadcastStream::new(self.attaches.subscribe())
            .filter_map(|notice| futures::future::ready(notice.ok()))
            .boxed()
    }

    fn mark_broken(&self, attached: &mut Option<Attached>, op: &str, error: &str) {
        if let Some(current) = attached.take() {
            tracing::warn!(op, error, "redis pub/sub command failed; reconnecting");
            self.alive.store(false, Ordering::SeqCst);
            self.broken
                .send_modify(|b| *b = (*b).max(current.generation));
        }
    }

    /// The last local subscriber of `channel` left: undo the Redis subscription,
    /// unless a new subscriber arrived meanwhile.
    async fn unsubscribe_if_unused(self: Arc<Self>, channel: String, sharded: bool) {
        let mut attached = self.attached.lock().await;
        if self.registry().contains_key(&channel) {
            return;
        }
        if let Some(current) = attached.as_mut() {
            let cluster = matches!(current.sink, Sink::Cluster(_));
            let outcome =
                tokio::time::timeout(COMMAND_TIMEOUT, current.sink.unsubscribe(&channel, sharded));
            match outcome.await {
                Ok(Ok(())) => tracing::debug!(channel, "redis UNSUBSCRIBE confirmed"),
                // A cluster node that cannot answer dropped the subscription anyway.
                Ok(Err(_)) | Err(_) if cluster => {}
                Ok(Err(e)) => self.mark_broken(&mut attached, "UNSUBSCRIBE", &e.to_string()),
                Err(_) => self.mark_broken(&mut attached, "UNSUBSCRIBE", "timed out"),
            }
        }
    }

    /// Installs a fresh connection and subscribes every channel that has local
    /// subscribers. Returns the link's generation.
    pub(crate) async fn attach(&self, mut sink: Sink) -> Result<(u64, usize), String> {
        let mut attached = self.attached.lock().await;
        let channels = self.channels();
        // Everything lost on the previous link is subscribed here.
        self.lost.lock().unwrap_or_else(|p| p.into_inner()).clear();
        if !channels.is_empty() {
            match tokio::time::timeout(COMMAND_TIMEOUT, sink.subscribe_all(&channels)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(e.to_string()),
                Err(_) => return Err("resubscribe timed out".to_owned()),
            }
        }
        let generation = self.generations.fetch_add(1, Ordering::SeqCst) + 1;
        *attached = Some(Attached { sink, generation });
        self.alive.store(true, Ordering::SeqCst);
        // An error only means nobody listens for reconnects.
        let _ = self.attaches.send(());
        Ok((generation, channels.len()))
    }

    pub(crate) async fn detach(&self) {
        self.alive.store(false, Ordering::SeqCst);
        *self.attached.lock().await = None;
    }

    pub(crate) fn dispatch(&self, msg: redis::Msg) {
        let channel = msg.get_channel_name();
        let envelope: Envelope = match serde_json::from_slice(msg.get_payload_bytes()) {
            Ok(envelope) => envelope,
            Err(e) => {
                tracing::warn!(channel, error = %e, "unreadable event on redis channel; dropped");
                return;
            }
        };
        // Our own publications were already delivered locally by `publish`.
        if envelope.origin != self.origin {
            self.deliver_local(channel, &envelope.event);
        }
    }

    /// Forwards messages until the link fails or shutdown; returns why it stopped.
    pub(crate) async fn pump(
        &self,
        mut stream: PubSubStream,
        mut sink: PubSubSink,
        generation: u64,
        stop: &mut watch::Receiver<bool>,
    ) -> Option<&'static str> {
        let mut broken = self.broken.subscribe();
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.reset();
        loop {
            tokio::select! {
                _ = stopped(stop) => return None,
                _ = broken_at(&mut broken, generation) => return Some("a command on the link failed"),
                msg = stream.next() => match msg {
                    Some(msg) => self.dispatch(msg),
                    None => return Some("connection closed"),
                },
                _ = ping.tick() => {
                    let pong = tokio::time::timeout(COMMAND_TIMEOUT, sink.ping::<redis::Value>()).await;
                    if !matches!(pong, Ok(Ok(_))) {
                        return Some("ping failed");
                    }
                }
            }
        }
    }
}

/// Keeps one local subscription counted; dropping it (with its stream) releases it.
struct Subscription {
    link: Arc<PubSubLink>,
    channel: String,
    id: u64,
}

impl std::fmt::Display for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.channel)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let last = {
            let mut registry = self.link.registry();
            let unused = registry.get_mut(&self.channel).and_then(|entry| {
                entry.subscribers.retain(|s| s.id != self.id);
                entry.subscribers.is_empty().then_some(entry.sharded)
            });
            if unused.is_some() {
                registry.remove(&self.channel);
            }
            unused
        };
        if let Some(sharded) = last {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                let link = Arc::clone(&self.link);
                runtime
                    .spawn(link.unsubscribe_if_unused(std::mem::take(&mut self.channel), sharded));
            }
        }
    }
}

/// Resolves once a command found link `generation` broken.
async fn broken_at(broken: &mut watch::Receiver<u64>, generation: u64) {
    // The sender lives in the link, which outlives every pump.
    let _closed = broken.wait_for(|b| *b >= generation).await.is_err();
}
