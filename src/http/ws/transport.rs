//! What a socket's loop ([`super::connection`]) needs from the wire it talks over:
//! the raw WebSocket here, Socket.IO in [`crate::http::socketio`]. The loop owns
//! everything that makes sockets equal citizens (registry, presence, budgets,
//! throttles, session checks, the slow-socket kill); a transport only moves frames.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

use super::registry::Queued;
use super::writer::{Offered, SocketIo, Writer};
use super::WRITE_TIMEOUT;
use crate::metrics;

/// How long the closing handshake may take before the socket is dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Frames written per flush at most, so one busy socket cannot hog its task.
pub(crate) const BATCH: usize = 64;

/// One client frame as it arrived.
pub enum Inbound {
    /// A text frame of the WebSocket protocol (JSON with a `type`).
    Text(Utf8Bytes),
    /// A named event and its payload (Socket.IO): the name is the frame's `type`.
    Event {
        name: String,
        payload: serde_json::Value,
    },
}

/// What the client did, as the loop sees it.
pub enum Incoming {
    Frame(Inbound),
    /// A frame the protocol refuses outright (binary); answered with this reply.
    Refused(Utf8Bytes),
    /// A sign of life that needs no answer (a pong).
    Heard,
    /// The client left.
    Closed,
    /// The connection broke or carried a malformed or oversized frame.
    Broken,
}

/// Why the server ends a socket: a close code and reason for the client.
pub type Close = Option<(CloseCode, &'static str)>;

/// A socket's wire. `next` must be cancel-safe: the loop polls it in a `select!`.
pub trait Transport: Send {
    /// Whether the loop ends a socket it has not heard from for the silence limit
    /// (false where the transport has its own heartbeat).
    const WATCHES_SILENCE: bool;

    /// Writes `first` and whatever else is queued (up to [`BATCH`]); false when
    /// the peer is gone or cannot keep up.
    fn write_batch(
        &mut self,
        first: Queued,
        rx: &mut mpsc::Receiver<Queued>,
    ) -> impl Future<Output = bool> + Send;

    /// The socket's shared write side, when the registry writes its events itself
    /// (then nothing is queued for [`Self::write_batch`]).
    fn writer(&self) -> Option<Arc<Writer>> {
        None
    }

    /// Whether the last failed write failed because the client stopped reading
    /// (the transport's own buffer is full), rather than because it is gone.
    fn fell_behind(&self) -> bool {
        false
    }

    /// Answers the last frame handed out by `next` (`None`: it has no answer).
    fn reply(&mut self, reply: Option<Utf8Bytes>) -> impl Future<Output = bool> + Send;

    /// A frame the server sends on its own (`degraded`, `subscribed`).
    fn say(&mut self, frame: Utf8Bytes) -> impl Future<Output = bool> + Send;

    /// The server's heartbeat.
    fn ping(&mut self) -> impl Future<Output = bool> + Send;

    fn next(&mut self) -> impl Future<Output = Incoming> + Send;

    /// Ends the connection, telling the client why when the server ends it.
    fn close(self, close: Close) -> impl Future<Output = ()> + Send;
}

/// Records the delivery latency of each `message.created` just written.
pub(crate) fn delivered(created: &[DateTime<Utc>]) {
    if created.is_empty() {
        return;
    }
    let now = Utc::now();
    for at in created {
        metrics::delivery_latency((now - *at).to_std().unwrap_or_default());
    }
}

/// The raw WebSocket at `/ws`: tungstenite reads the client's frames and writes the
/// loop's own; events are written by the registry through the shared [`Writer`].
pub struct WebSocket {
    socket: WebSocketStream<SocketIo>,
    writer: Arc<Writer>,
}

impl WebSocket {
    pub fn new(socket: WebSocketStream<SocketIo>, writer: Arc<Writer>) -> Self {
        Self { socket, writer }
    }

    async fn write(&mut self, message: Message) -> bool {
        matches!(
            tokio::time::timeout(WRITE_TIMEOUT, self.socket.send(message)).await,
            Ok(Ok(()))
        )
    }
}

impl Transport for WebSocket {
    const WATCHES_SILENCE: bool = true;

    fn writer(&self) -> Option<Arc<Writer>> {
        Some(Arc::clone(&self.writer))
    }

    /// Not used: the registry writes this socket's events itself ([`Self::writer`]).
    /// Queued events would go out the same way, after what the registry queued.
    async fn write_batch(&mut self, first: Queued, rx: &mut mpsc::Receiver<Queued>) -> bool {
        let mut next = Some(first);
        while let Some(out) = next.take() {
            if self.writer.offer(&out) != Offered::Queued {
                return false;
            }
            next = rx.try_recv().ok();
        }
        matches!(
            tokio::time::timeout(WRITE_TIMEOUT, self.writer.drain()).await,
            Ok(true)
        )
    }

    async fn reply(&mut self, reply: Option<Utf8Bytes>) -> bool {
        match reply {
            Some(text) => self.write(Message::Text(text)).await,
            None => true,
        }
    }

    async fn say(&mut self, frame: Utf8Bytes) -> bool {
        self.write(Message::Text(frame)).await
    }

    async fn ping(&mut self) -> bool {
        self.write(Message::Ping(Default::default())).await
    }

    async fn next(&mut self) -> Incoming {
        match self.socket.next().await {
            Some(Ok(Message::Text(text))) => Incoming::Frame(Inbound::Text(text)),
            Some(Ok(Message::Binary(_))) => Incoming::Refused(super::frames::binary_refused()),
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => Incoming::Heard,
            Some(Ok(Message::Close(_))) | None => Incoming::Closed,
            Some(Err(e)) => {
                tracing::debug!(error = %e, "socket read failed");
                Incoming::Broken
            }
        }
    }

    /// The closing handshake is bounded on its own: a peer that stopped reading
    /// must not hold its socket (and its user's presence) another write timeout.
    async fn close(mut self, close: Close) {
        self.writer.close();
        let handshake = async {
            if let Some((code, reason)) = close {
                let frame = CloseFrame {
                    code,
                    reason: reason.into(),
                };
                self.socket.feed(Message::Close(Some(frame))).await?;
            }
            SinkExt::close(&mut self.socket).await
        };
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, handshake).await;
    }
}
