//! One socket's life: registered and subscribed to its user's chats, then a loop
//! that reads client frames, writes what the registry queues for it, pings, and
//! re-checks the session, until the client leaves, the session ends, the socket
//! falls too far behind, or the server shuts down.

use std::time::Instant;

use futures::{SinkExt, StreamExt};
use poem::web::websocket::{CloseCode, Message, WebSocketStream};
use tokio::sync::{mpsc, Notify};
use uuid::Uuid;
use webchat_domain::{SocketId, UserId};

use super::budget::{FrameBudget, TypingGate, FRAMES_PER_SEC};
use super::protocol::FrameError;
use super::registry::{ConnId, Outbound, OUTBOUND_BUFFER};
use super::{Gateway, PING_EVERY, SILENCE_LIMIT, WRITE_TIMEOUT};
use crate::metrics::{self, CloseReason};
use crate::usecase::auth::AuthContext;

type Sink = futures::stream::SplitSink<WebSocketStream, Message>;

/// Writes one frame; false when the peer is gone or has stopped reading (a write
/// that cannot finish within WRITE_TIMEOUT must not stall the socket's loop).
async fn write(sink: &mut Sink, message: Message) -> bool {
    matches!(
        tokio::time::timeout(WRITE_TIMEOUT, sink.send(message)).await,
        Ok(Ok(()))
    )
}

pub(super) struct Connection {
    pub(super) gateway: Gateway,
    pub(super) user: UserId,
    pub(super) ctx: AuthContext,
    pub(super) socket_id: SocketId,
    pub(super) typing: TypingGate,
    budget: FrameBudget,
    /// The id of the upgrade request, on the connection's span.
    request_id: String,
}

impl Connection {
    pub(super) fn new(gateway: Gateway, ctx: AuthContext, request_id: String) -> Self {
        let socket_id = SocketId::new(gateway.uc.presence.instance(), Uuid::new_v4());
        Self {
            gateway,
            user: ctx.user_id,
            ctx,
            socket_id,
            typing: TypingGate::default(),
            budget: FrameBudget::new(),
            request_id,
        }
    }

    #[tracing::instrument(
        name = "socket",
        skip_all,
        fields(user = %self.user, socket = %self.socket_id, request_id = %self.request_id)
    )]
    pub(super) async fn run(mut self, socket: WebSocketStream) {
        let (mut sink, mut stream) = socket.split();
        let (tx, mut rx) = mpsc::channel(OUTBOUND_BUFFER);
        let kill = std::sync::Arc::new(Notify::new());
        let registry = self.gateway.registry.clone();
        let uc = self.gateway.uc.clone();
        let conn = registry.register(self.user, tx, kill.clone()).await;
        metrics::ws_connected();
        self.subscribe_chats(conn).await;
        tracing::debug!("socket connected");

        let mut shutdown = self.gateway.shutdown.clone();
        let mut ping =
            tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
        let mut last_heard = Instant::now();
        let (reason, close): (CloseReason, Option<(CloseCode, &str)>) = loop {
            tokio::select! {
                incoming = stream.next() => {
                    let reply = match incoming {
                        Some(Ok(Message::Text(text))) => {
                            last_heard = Instant::now();
                            if self.budget.take() {
                                self.handle(conn, &text).await
                            } else {
                                Some(FrameError::new(
                                    "too_many_requests",
                                    format!("at most {FRAMES_PER_SEC} frames per second"),
                                ).to_frame().render())
                            }
                        }
                        Some(Ok(Message::Binary(_))) => {
                            last_heard = Instant::now();
                            Some(FrameError::new("bad_frame", "binary frames are not supported").to_frame().render())
                        }
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => {
                            last_heard = Instant::now();
                            None
                        }
                        Some(Ok(Message::Close(_))) | None => break (CloseReason::Client, None),
                        Some(Err(e)) => {
                            tracing::debug!(error = %e, "socket read failed");
                            break (CloseReason::Error, Some((CloseCode::Size, "frame too large or malformed")));
                        }
                    };
                    if let Some(reply) = reply {
                        if !write(&mut sink, Message::Text(reply)).await {
                            break (CloseReason::Client, None);
                        }
                    }
                }
                out = rx.recv() => match out {
                    Some(Outbound { frame, created }) => {
                        if !write(&mut sink, Message::Text(frame)).await {
                            break (CloseReason::Client, None);
                        }
                        if let Some(created) = created {
                            let latency = (chrono::Utc::now() - created).to_std().unwrap_or_default();
                            metrics::delivery_latency(latency);
                        }
                    }
                    None => break (CloseReason::Client, None),
                },
                _ = ping.tick() => {
                    if last_heard.elapsed() > SILENCE_LIMIT {
                        break (CloseReason::Silent, Some((CloseCode::Away, "no answer to pings")));
                    }
                    if !write(&mut sink, Message::Ping(Vec::new())).await {
                        break (CloseReason::Client, None);
                    }
                    uc.presence.touch(self.user, &self.socket_id).await;
                    // The session, not the access token's 15 minutes, bounds a
                    // socket's life: logout or revocation ends it here.
                    if let Ok(false) = uc.auth.session_alive(&self.ctx).await {
                        break (CloseReason::SessionEnded, Some((CloseCode::Policy, "session ended")));
                    }
                }
                _ = kill.notified() => break (CloseReason::Slow, Some((CloseCode::Policy, "too slow to keep up"))),
                _ = shutdown.changed() => break (CloseReason::Shutdown, Some((CloseCode::Away, "server shutting down"))),
            }
        };
        if let Some((code, reason)) = close {
            write(&mut sink, Message::Close(Some((code, reason.to_owned())))).await;
        }
        let _ = tokio::time::timeout(WRITE_TIMEOUT, sink.close()).await;
        // Presence first: shutdown waits for the registry to empty, so by then
        // every closing socket has been reported offline.
        uc.presence.disconnect(self.user, &self.socket_id).await;
        registry.unregister(conn).await;
        metrics::ws_disconnected(reason);
        tracing::debug!(reason = reason.as_str(), "socket closed");
    }

    /// Subscribes the new socket to every chat of its user, then marks the user
    /// online (announced to those chats on their first socket).
    async fn subscribe_chats(&self, conn: ConnId) {
        let uc = &self.gateway.uc;
        let chats = match uc.chats.chat_ids(self.user).await {
            Ok(chats) => chats,
            Err(e) => {
                tracing::warn!(error = %e, "cannot load the user's chats");
                Vec::new()
            }
        };
        self.gateway.registry.join_all(conn, &chats).await;
        uc.presence
            .connect_with_chats(self.user, &self.socket_id, chats)
            .await;
    }
}
