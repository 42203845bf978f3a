//! Opening many sockets with a bounded number of connects in flight, and closing
//! them all to collect what each one saw.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::client::socket::{self, Cmd, Finished, Ready};
use crate::client::state::{Shared, SocketState};
use crate::client::{Codec, Dial};
use crate::util::progress;

pub struct Opened {
    pub cmds: Vec<mpsc::UnboundedSender<Cmd>>,
    pub tasks: Vec<JoinHandle<Finished>>,
    /// per socket, when it connected and answered its ping (None: failed)
    pub ready: Vec<Option<Ready>>,
    pub failed: usize,
    pub first_error: Option<String>,
    pub elapsed: Duration,
}

/// Connects every (url, state) pair, `concurrency` at a time; a socket counts as
/// open once it answered its ping.
pub async fn open_all<C: Codec>(
    codec: Arc<C>,
    shared: Arc<Shared>,
    sockets: Vec<(Dial, SocketState)>,
    concurrency: usize,
) -> Opened {
    let total = sockets.len();
    let t0 = Instant::now();
    let results: Vec<_> = futures::stream::iter(sockets.into_iter().enumerate())
        .map(|(i, (url, state))| {
            let h = socket::spawn(codec.clone(), shared.clone(), url, state);
            async move {
                let ready = h
                    .ready
                    .await
                    .unwrap_or_else(|_| Err("socket task ended".into()));
                if (i + 1) % 5000 == 0 {
                    progress!("  {} of {total} sockets connecting or open", i + 1);
                }
                (h.cmd, h.task, ready)
            }
        })
        .buffered(concurrency.max(1))
        .collect()
        .await;
    let elapsed = t0.elapsed();
    let mut out = Opened {
        cmds: Vec::with_capacity(total),
        tasks: Vec::with_capacity(total),
        ready: Vec::with_capacity(total),
        failed: 0,
        first_error: None,
        elapsed,
    };
    for (cmd, task, ready) in results {
        out.cmds.push(cmd);
        out.tasks.push(task);
        match ready {
            Ok(r) => out.ready.push(Some(r)),
            Err(e) => {
                out.failed += 1;
                out.first_error.get_or_insert(e);
                out.ready.push(None);
            }
        }
    }
    out
}

/// Asks every socket for its unique measured deliveries by the drain's end.
pub async fn unique_by_drain_end(cmds: &[mpsc::UnboundedSender<Cmd>]) -> u64 {
    let mut replies = Vec::with_capacity(cmds.len());
    for c in cmds {
        let (tx, rx) = oneshot::channel();
        if c.send(Cmd::Snapshot(tx)).is_ok() {
            replies.push(rx);
        }
    }
    let mut sum = 0;
    for r in replies {
        sum += r.await.unwrap_or(0);
    }
    sum
}

/// Closes every socket (by dropping its command channel) and collects the states,
/// in socket order.
pub async fn close_all(
    cmds: Vec<mpsc::UnboundedSender<Cmd>>,
    tasks: Vec<JoinHandle<Finished>>,
) -> Vec<Finished> {
    drop(cmds);
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        match t.await {
            Ok(f) => out.push(f),
            Err(e) => eprintln!("WARNING: a socket task panicked: {e}"),
        }
    }
    out
}
