//! Keeping a Redis Cluster pub/sub link whole.
//!
//! redis-rs resubscribes what it tracks when it reconnects a node, but a shard
//! subscription whose slot moved to another master is dropped by the server (a
//! `sunsubscribe` push) and forgotten by redis-rs, and a push or a resubscription
//! can be lost while a node fails over. So this pump subscribes again, itself,
//! every channel that still has local subscribers whenever:
//!
//! - the server unsubscribed it (`sunsubscribe` / `unsubscribe` push: its slot
//!   moved, or the node is being demoted);
//! - a node connection dropped (redis-rs's `Disconnection` push): every channel;
//! - a SUBSCRIBE failed (`PubSubLink::lose`);
//! - the audit (every `PING_EVERY`) finds a master holding fewer of this
//!   connection's subscriptions (`CLIENT INFO`: `sub=`, `ssub=`) than the channels
//!   whose slot it serves: every channel of that master.
//!
//! Retries back off like a reconnect (`min(attempt * 50 ms, 2 s)`). Once a round
//! left nothing lost, the reconnect listeners are told (`EventBus::reconnects`):
//! what was published meanwhile never arrived, and the socket registry fills the
//! gaps from the change log. While channels stay lost the link reports not alive.

use std::collections::HashMap;

use futures::StreamExt;
use redis::cluster_async::ClusterConnection;
use redis::{PushInfo, PushKind, Value};
use tokio::sync::{mpsc, watch};
use webchat_domain::reconnect_backoff;

use crate::cluster::{masters, Node};
use crate::pubsub::{PubSubLink, COMMAND_TIMEOUT, PING_EVERY, RESUBSCRIBE_CONCURRENCY};
use crate::slots::slot;
use crate::supervisor::stopped;

/// Audits in a row that may fail (the cluster unreachable) before the whole
/// connection is rebuilt.
const AUDIT_FAILURES: u32 = 3;

/// Forwards messages and keeps the subscriptions whole until shutdown (`None`) or
/// until the cluster stays unreachable (`Some(why)`: the supervisor rebuilds).
pub(crate) async fn pump(
    link: &PubSubLink,
    mut pushes: mpsc::UnboundedReceiver<PushInfo>,
    conn: ClusterConnection,
    stop: &mut watch::Receiver<bool>,
) -> Option<&'static str> {
    let mut audit = tokio::time::interval(PING_EVERY);
    audit.reset();
    let mut audit_failures = 0;
    let mut attempt: u32 = 0;
    // When the next resubscription round runs (`None`: nothing is lost).
    let mut retry_at: Option<tokio::time::Instant> = None;
    loop {
        let due = async {
            match retry_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = stopped(stop) => return None,
            push = pushes.recv() => match push {
                Some(push) => handle(link, push),
                None => return Some("push channel closed"),
            },
            _ = link.lost_changed() => {
                link.set_alive(false);
                retry_at.get_or_insert_with(|| {
                    tokio::time::Instant::now() + reconnect_backoff(1)
                });
            }
            _ = due => {
                let lost = link.take_lost();
                let failed = resubscribe(link, &lost).await;
                if failed.is_empty() {
                    attempt = 0;
                    retry_at = None;
                    if !link.has_lost() {
                        link.set_alive(true);
                    }
                    if !lost.is_empty() {
                        tracing::info!(channels = lost.len(), "redis cluster pub/sub resubscribed");
                        link.notify_resubscribed();
                    }
                } else {
                    attempt = attempt.saturating_add(1);
                    tracing::warn!(channels = failed.len(), attempt, "redis cluster resubscribe failed; retrying");
                    link.lose(failed);
                    retry_at = Some(tokio::time::Instant::now() + reconnect_backoff(attempt));
                }
            }
            _ = audit.tick() => match tokio::time::timeout(COMMAND_TIMEOUT * 2, audit_once(link, &conn)).await {
                Ok(Ok(missing)) => {
                    audit_failures = 0;
                    if !missing.is_empty() {
                        tracing::warn!(channels = missing.len(), "redis cluster pub/sub audit found lost subscriptions");
                        link.lose(missing);
                    }
                }
                _ => {
                    audit_failures += 1;
                    if audit_failures >= AUDIT_FAILURES {
                        return Some("the cluster did not answer the pub/sub audit");
                    }
                }
            },
        }
    }
}

/// One push: a message to deliver, or news of a lost subscription.
fn handle(link: &PubSubLink, push: PushInfo) {
    match push.kind {
        PushKind::Message | PushKind::SMessage => {
            if let Some(msg) = redis::Msg::from_push_info(push) {
                link.dispatch(msg);
            }
        }
        PushKind::SUnsubscribe | PushKind::Unsubscribe => {
            // Ours (the last local subscriber left) unless someone subscribes it.
            if let Some(channel) = push.data.first().and_then(text) {
                if link.is_subscribed(&channel) {
                    tracing::info!(
                        channel,
                        "redis dropped a subscription (slot moved?); subscribing again"
                    );
                    link.lose([channel]);
                }
            }
        }
        PushKind::Disconnection => {
            tracing::warn!(
                "a redis cluster node connection dropped; subscribing every channel again"
            );
            link.lose(link.channels().into_iter().map(|(c, _)| c));
        }
        _ => {}
    }
}

fn text(value: &Value) -> Option<String> {
    redis::from_redis_value_ref::<String>(value).ok()
}

/// Subscribes `channels` again, under the attached lock (so a concurrent
/// `subscribe`/unsubscribe is ordered with it); returns those that failed.
async fn resubscribe(link: &PubSubLink, channels: &[(String, bool)]) -> Vec<String> {
    if channels.is_empty() {
        return Vec::new();
    }
    let attached = link.attached().await;
    let Some(sink) = attached.as_ref().map(|a| a.sink.clone()) else {
        return channels.iter().map(|(c, _)| c.clone()).collect();
    };
    let results: Vec<(String, bool)> = futures::stream::iter(channels.iter().cloned())
        .map(|(channel, sharded)| {
            let mut sink = sink.clone();
            async move {
                // Unsubscribed meanwhile: nothing to do.
                let ok = !link.is_subscribed(&channel)
                    || matches!(
                        tokio::time::timeout(COMMAND_TIMEOUT, sink.subscribe(&channel, sharded))
                            .await,
                        Ok(Ok(()))
                    );
                (channel, ok)
            }
        })
        .buffer_unordered(RESUBSCRIBE_CONCURRENCY)
        .collect()
        .await;
    drop(attached);
    results
        .into_iter()
        .filter(|(_, ok)| !ok)
        .map(|(c, _)| c)
        .collect()
}

/// The channels of every master whose count of this connection's subscriptions
/// (`CLIENT INFO` on the connection to it) is below the count of channels whose
/// slot it serves.
async fn audit_once(
    link: &PubSubLink,
    conn: &ClusterConnection,
) -> redis::RedisResult<Vec<String>> {
    let mut conn = conn.clone();
    let nodes = masters(&mut conn).await?;
    let owner = |channel: &str| -> Option<&Node> {
        let s = slot(channel.as_bytes());
        nodes
            .iter()
            .find(|(_, ranges)| ranges.iter().any(|(a, b)| (*a..=*b).contains(&s)))
            .map(|(node, _)| node)
    };
    let mut expected: HashMap<&Node, (usize, usize, Vec<String>)> = HashMap::new();
    let channels = link.channels();
    for (channel, sharded) in &channels {
        if let Some(node) = owner(channel) {
            let entry = expected.entry(node).or_default();
            if *sharded {
                entry.1 += 1;
            } else {
                entry.0 += 1;
            }
            entry.2.push(channel.clone());
        }
    }
    let mut missing = Vec::new();
    for (node, (subs, ssubs, names)) in expected {
        let info = conn
            .route_command(redis::cmd("CLIENT").arg("INFO").clone(), node.routing())
            .await?
            .extract_error()?;
        let info: String = redis::from_redis_value(info)?;
        let field = |name: &str| -> usize {
            info.split_whitespace()
                .find_map(|kv| kv.strip_prefix(name))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        if field("sub=") < subs || field("ssub=") < ssubs {
            tracing::debug!(%node, subs, ssubs, info, "pub/sub audit: subscriptions missing");
            missing.extend(names);
        }
    }
    Ok(missing)
}
