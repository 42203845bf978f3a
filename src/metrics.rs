//! Prometheus metrics (docs/operations.md): one function per series, so a call site
//! is one line, over the `metrics` facade. [`install`] puts the process-wide
//! Prometheus recorder in place and `/metrics` renders it; until then (and with
//! `WEBCHAT_METRICS=0`) every function here is a no-op.
//!
//! The names are public so that code outside this crate (the Redis adapter) can
//! record the same series through the `metrics` facade.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub const WS_CONNECTIONS: &str = "webchat_ws_connections";
pub const WS_CONNECTS: &str = "webchat_ws_connects_total";
pub const WS_DISCONNECTS: &str = "webchat_ws_disconnects_total";
pub const MESSAGES_SENT: &str = "webchat_messages_sent_total";
pub const EVENTS_DELIVERED: &str = "webchat_events_delivered_total";
pub const DELIVERY_LATENCY: &str = "webchat_delivery_latency_seconds";
pub const CACHE_HITS: &str = "webchat_cache_hits_total";
pub const CACHE_MISSES: &str = "webchat_cache_misses_total";
pub const THROTTLED: &str = "webchat_throttled_requests_total";
pub const RATE_LIMITER_FAIL_OPEN: &str = "webchat_rate_limiter_fail_open_total";
pub const REDIS_RECONNECTS: &str = "webchat_redis_reconnects_total";
pub const PUBSUB_RESUBSCRIPTIONS: &str = "webchat_pubsub_resubscriptions_total";
pub const HTTP_DURATION: &str = "webchat_http_request_duration_seconds";
pub const POSTGRES_POOL: &str = "webchat_postgres_pool_connections";
pub const REDIS_POOL: &str = "webchat_redis_pool_connections";

/// Request durations: 1 ms (a cached read) to 10 s (a request stuck on a backend).
const HTTP_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Delivery latencies: sub-millisecond on one instance, up to the gap fill (100 ms)
/// and repairs after a pub/sub outage (seconds).
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
/// The per-delivery series, looked up once (a lookup hashes the key on every call).
static DELIVERED: OnceLock<(metrics::Counter, metrics::Histogram)> = OnceLock::new();

/// Installs the Prometheus recorder for this process (once; later calls return the
/// same handle). Histograms are kept bounded by an upkeep thread.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.into()), HTTP_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(DELIVERY_LATENCY.into()),
                        LATENCY_BUCKETS,
                    )
                })
                .expect("bucket lists are not empty");
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("another metrics recorder is installed: /metrics stays empty");
            }
            describe();
            let _ = DELIVERED.set((counter!(EVENTS_DELIVERED), histogram!(DELIVERY_LATENCY)));
            let upkeep = handle.clone();
            let spawned = std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || loop {
                    std::thread::sleep(Duration::from_secs(5));
                    upkeep.run_upkeep();
                });
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "cannot start the metrics upkeep thread");
            }
            handle
        })
        .clone()
}

/// The current metrics in the Prometheus text format, if [`install`]ed.
pub fn render() -> Option<String> {
    HANDLE.get().map(PrometheusHandle::render)
}

fn describe() {
    describe_gauge!(
        WS_CONNECTIONS,
        "Open WebSocket connections on this instance"
    );
    describe_counter!(WS_CONNECTS, "WebSocket connections opened");
    describe_counter!(
        WS_DISCONNECTS,
        "WebSocket connections closed, by reason (client, silent, session_ended, slow, shutdown, error)"
    );
    describe_counter!(
        MESSAGES_SENT,
        "Messages stored by sends (idempotent repeats not counted)"
    );
    describe_counter!(EVENTS_DELIVERED, "Event frames queued to local sockets");
    describe_histogram!(
        DELIVERY_LATENCY,
        metrics::Unit::Seconds,
        "From a message's creation to its message.created frame written to a socket"
    );
    describe_counter!(
        CACHE_HITS,
        "Message cache reads answered by the cache, by read"
    );
    describe_counter!(
        CACHE_MISSES,
        "Message cache reads that went to the repository, by read"
    );
    describe_counter!(
        THROTTLED,
        "Requests and WebSocket sends refused by a throttling policy"
    );
    describe_counter!(
        RATE_LIMITER_FAIL_OPEN,
        "Requests let through unchecked because the rate limiter could not answer"
    );
    describe_counter!(
        REDIS_RECONNECTS,
        "Redis connections re-established, by connection"
    );
    describe_counter!(
        PUBSUB_RESUBSCRIPTIONS,
        "Times the event bus reconnected and resubscribed its channels"
    );
    describe_histogram!(
        HTTP_DURATION,
        metrics::Unit::Seconds,
        "HTTP requests by method, route template and status"
    );
    describe_gauge!(
        POSTGRES_POOL,
        "PostgreSQL pool connections, by state (in_use, idle)"
    );
    describe_gauge!(
        REDIS_POOL,
        "Redis command pool connections, by state (in_use, idle)"
    );
    // Counters that mean something at zero are there from the first scrape.
    for name in [
        WS_CONNECTS,
        MESSAGES_SENT,
        EVENTS_DELIVERED,
        RATE_LIMITER_FAIL_OPEN,
        PUBSUB_RESUBSCRIPTIONS,
    ] {
        counter!(name).increment(0);
    }
    gauge!(WS_CONNECTIONS).increment(0.0);
}

/// A WebSocket connection opened (upgraded and registered).
pub fn ws_connected() {
    counter!(WS_CONNECTS).increment(1);
    gauge!(WS_CONNECTIONS).increment(1.0);
}

/// Why a socket closed: the `reason` label of [`ws_disconnected`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The client closed it or went away.
    Client,
    /// No sign of life for longer than the silence limit.
    Silent,
    /// Its session ended (logout, revocation).
    SessionEnded,
    /// It could not keep up with its outbound queue.
    Slow,
    /// The server is shutting down.
    Shutdown,
    /// A protocol error or an oversized frame.
    Error,
}

impl CloseReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Client => "client",
            Self::Silent => "silent",
            Self::SessionEnded => "session_ended",
            Self::Slow => "slow",
            Self::Shutdown => "shutdown",
            Self::Error => "error",
        }
    }
}

/// A WebSocket connection closed.
pub fn ws_disconnected(reason: CloseReason) {
    counter!(WS_DISCONNECTS, "reason" => reason.as_str()).increment(1);
    gauge!(WS_CONNECTIONS).decrement(1.0);
}

/// A send stored a new message.
pub fn message_sent() {
    counter!(MESSAGES_SENT).increment(1);
}

/// `n` event frames were queued to local sockets.
pub fn events_delivered(n: u64) {
    if let (true, Some((delivered, _))) = (n > 0, DELIVERED.get()) {
        delivered.increment(n);
    }
}

/// An event reached a socket `latency` after it was published.
pub fn delivery_latency(latency: Duration) {
    if let Some((_, latency_histogram)) = DELIVERED.get() {
        latency_histogram.record(latency.as_secs_f64());
    }
}

/// Which cache read a hit or miss was: the `read` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheRead {
    /// A history page from the chat's recent window.
    History,
    /// `join` recovery from the recent window.
    Recovery,
    /// One message by id.
    Message,
    /// A chat's pinned messages.
    Pinned,
}

impl CacheRead {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::History => "history",
            Self::Recovery => "recovery",
            Self::Message => "message",
            Self::Pinned => "pinned",
        }
    }
}

/// A cache read answered by the cache (`hit`) or not (a miss, also when the cache
/// could not answer).
pub fn cache_read(read: CacheRead, hit: bool) {
    let name = if hit { CACHE_HITS } else { CACHE_MISSES };
    counter!(name, "read" => read.as_str()).increment(1);
}

/// A request (or WebSocket send) refused by the named throttling policy.
pub fn throttled(policy: &'static str) {
    counter!(THROTTLED, "policy" => policy).increment(1);
}

/// A request passed unchecked because the rate limiter could not answer.
pub fn rate_limiter_failed_open() {
    counter!(RATE_LIMITER_FAIL_OPEN).increment(1);
}

/// A Redis connection came back: `connection` is `pubsub` or `command`. For the
/// Redis adapter to call (it knows when a reconnect happens).
pub fn redis_reconnected(connection: &'static str) {
    counter!(REDIS_RECONNECTS, "connection" => connection).increment(1);
}

/// The event bus reconnected and resubscribed its channels (a
/// `EventBus::reconnects` notice).
pub fn pubsub_resubscribed() {
    counter!(PUBSUB_RESUBSCRIPTIONS).increment(1);
}

/// An HTTP request finished: `route` is a route template or `other`, never a raw
/// path; `method` is one of the standard methods or `other`.
pub fn http_request(method: &'static str, route: &str, status: u16, took: Duration) {
    histogram!(
        HTTP_DURATION,
        "method" => method,
        "route" => route.to_owned(),
        "status" => status.to_string(),
    )
    .record(took.as_secs_f64());
}

/// The PostgreSQL pool's connections in use and idle.
pub fn postgres_pool(in_use: u32, idle: u32) {
    gauge!(POSTGRES_POOL, "state" => "in_use").set(f64::from(in_use));
    gauge!(POSTGRES_POOL, "state" => "idle").set(f64::from(idle));
}

/// The Redis command pool's connections in use and idle. For the Redis adapter (or
/// a sampler over its pool state) to call.
pub fn redis_pool(in_use: u32, idle: u32) {
    gauge!(REDIS_POOL, "state" => "in_use").set(f64::from(in_use));
    gauge!(REDIS_POOL, "state" => "idle").set(f64::from(idle));
}
