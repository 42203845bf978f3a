//! The task that keeps the process's pub/sub connection up: connects with the
//! seed's backoff, resubscribes every channel that still has local subscribers
//! (via the link), logs every connect, disconnect and retry, and stops on shutdown.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::PubSub;
use redis::cluster_async::ClusterConnection;
use redis::PushInfo;
use tokio::sync::{mpsc, watch};
use webchat_domain::reconnect_backoff;

use crate::connection::SharedConn;
use crate::pubsub::{PubSubLink, Sink};

/// A fresh pub/sub connection: a single server's (or the master's Sentinel
/// named), or a RESP3 cluster connection with the channel its pushes arrive on.
pub(crate) enum PubSubConn {
    Single(PubSub),
    Cluster(ClusterConnection, mpsc::UnboundedReceiver<PushInfo>),
}

/// Opens a pub/sub connection.
pub(crate) type PubSubConnector = Arc<
    dyn Fn() -> Pin<Box<dyn Future<Output = redis::RedisResult<PubSubConn>> + Send>> + Send + Sync,
>;

/// Resolves once shutdown is asked for (or every backend handle is gone).
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    // An error means the sender is gone: the backend was dropped, so stop too.
    let _gone = stop.wait_for(|stop| *stop).await.is_err();
}

/// The pub/sub supervisor: runs until shutdown.
pub(crate) async fn supervise(
    link: Arc<PubSubLink>,
    connector: PubSubConnector,
    mut stop: watch::Receiver<bool>,
    connect_timeout: Duration,
    commands: SharedConn,
) {
    let mut attempt: u32 = 0;
    loop {
        let connected = tokio::select! {
            _ = stopped(&mut stop) => break,
            r = tokio::time::timeout(connect_timeout, connector()) => r,
        };
        match connected {
            Ok(Ok(pubsub)) => {
                let (sink, pump) = match pubsub {
                    PubSubConn::Single(pubsub) => {
                        let (sink, stream) = pubsub.split();
                        (Sink::Single(sink.clone()), Pump::Single(stream, sink))
                    }
                    PubSubConn::Cluster(conn, pushes) => {
                        (Sink::Cluster(conn.clone()), Pump::Cluster(conn, pushes))
                    }
                };
                let attached = link.attach(sink).await;
                link.settle();
                match attached {
                    Ok((generation, channels)) => {
                        tracing::info!(channels, attempt, "redis pub/sub connected");
                        attempt = 0;
                        let why = match pump {
                            Pump::Single(stream, sink) => {
                                link.pump(stream, sink, generation, &mut stop).await
                            }
                            Pump::Cluster(conn, pushes) => {
                                crate::pubsub_cluster::pump(&link, pushes, conn, &mut stop).await
                            }
                        };
                        link.detach().await;
                        match why {
                            Some(why) => {
                                tracing::warn!(reason = why, "redis pub/sub disconnected");
                                // The command connection to the same server likely
                                // dropped too: have it checked before a caller finds out.
                                commands.check_now();
                            }
                            None => break,
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "redis pub/sub resubscribe failed"),
                }
            }
            Ok(Err(e)) => {
                link.settle();
                tracing::warn!(attempt, error = %e, "redis pub/sub connect failed")
            }
            Err(_) => {
                link.settle();
                tracing::warn!(attempt, "redis pub/sub connect timed out")
            }
        }
        attempt = attempt.saturating_add(1);
        let delay = reconnect_backoff(attempt);
        tracing::info!(
            attempt,
            delay_ms = delay.as_millis() as u64,
            "redis pub/sub retrying"
        );
        tokio::select! {
            _ = stopped(&mut stop) => break,
            _ = tokio::time::sleep(delay) => {}
        }
    }
    link.detach().await;
    tracing::info!("redis pub/sub stopped");
}

/// What feeds the link once attached.
enum Pump {
    Single(redis::aio::PubSubStream, redis::aio::PubSubSink),
    Cluster(ClusterConnection, mpsc::UnboundedReceiver<PushInfo>),
}
