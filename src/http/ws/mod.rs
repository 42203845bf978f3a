//! The WebSocket gateway at `/ws` (CONTRACT.md, "WebSocket").

pub mod hub;
pub mod protocol;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use poem::web::websocket::{CloseCode, Message, WebSocket, WebSocketConfig, WebSocketStream};
use poem::web::Data;
use poem::{handler, IntoResponse, Request, Response};
use tokio::sync::{mpsc, watch, Notify};
use uuid::Uuid;
use webchat_domain::{ChatId, SocketId, UserId};

use self::hub::{ConnId, Hub, OUTBOUND_BUFFER};
use self::protocol::{ClientFrame, FrameError};
use super::error::ApiError;
use crate::app::App;
use crate::usecase::auth::AuthContext;
use crate::usecase::throttle::{PolicyName, SEND_ROUTE};
use crate::usecase::AppError;

/// How often the server pings, and how long a silent socket may live.
pub const PING_EVERY: Duration = Duration::from_secs(25);
pub const SILENCE_LIMIT: Duration = Duration::from_secs(60);
/// Typing events relayed per socket and chat at most this often.
const TYPING_EVERY: Duration = Duration::from_secs(2);
/// How long one write may take before the peer counts as gone.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Frames a socket may send per second on average, and at once.
const FRAMES_PER_SEC: f64 = 20.0;
const FRAME_BURST: f64 = 50.0;

/// What every socket shares.
#[derive(Clone)]
pub struct Gateway {
    pub app: App,
    pub hub: Arc<Hub>,
    pub shutdown: watch::Receiver<bool>,
}

/// Authenticates before upgrading: a refused token is an HTTP 401, not a socket.
#[handler]
pub async fn upgrade(req: &Request, ws: WebSocket, gateway: Data<&Gateway>) -> Response {
    let Some(token) = super::throttle::access_token(req).map(str::to_owned) else {
        return ApiError::from(AppError::Unauthorized).into_response();
    };
    let ctx = match gateway.app.auth.authenticate(&token).await {
        Ok(ctx) => ctx,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let gateway = gateway.0.clone();
    // Small buffers: tungstenite's defaults (128 KiB each way) would cost ~300 KiB
    // per idle socket; chat frames are small and a write is flushed at once.
    let config = WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_write_buffer_size(1 << 20)
        .max_message_size(Some(1 << 20))
        .max_frame_size(Some(1 << 20));
    ws.config(config)
        .on_upgrade(move |socket| async move {
            Connection::new(gateway, ctx).run(socket).await;
        })
        .into_response()
}

type Sink = futures::stream::SplitSink<WebSocketStream, Message>;

/// Writes one frame; false when the peer is gone or has stopped reading (a write
/// that cannot finish within WRITE_TIMEOUT must not stall the socket's loop).
async fn write(sink: &mut Sink, message: Message) -> bool {
    matches!(
        tokio::time::timeout(WRITE_TIMEOUT, sink.send(message)).await,
        Ok(Ok(()))
    )
}

/// A token bucket over the frames one socket sends, so a flood from one client
/// (status toggles, joins) cannot load the stores or the bus for everyone.
struct FrameBudget {
    tokens: f64,
    at: Instant,
}

impl FrameBudget {
    fn new() -> Self {
        Self {
            tokens: FRAME_BURST,
            at: Instant::now(),
        }
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.at).as_secs_f64() * FRAMES_PER_SEC;
        self.tokens = (self.tokens + refill).min(FRAME_BURST);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

struct Connection {
    gateway: Gateway,
    user: UserId,
    ctx: AuthContext,
    socket_id: SocketId,
    typing: HashMap<ChatId, Instant>,
    budget: FrameBudget,
}

impl Connection {
    fn new(gateway: Gateway, ctx: AuthContext) -> Self {
        let socket_id = SocketId::new(&gateway.app.instance, Uuid::new_v4());
        Self {
            gateway,
            user: ctx.user_id,
            ctx,
            socket_id,
            typing: HashMap::new(),
            budget: FrameBudget::new(),
        }
    }

    #[tracing::instrument(skip_all, fields(user = %self.user, socket = %self.socket_id))]
    async fn run(mut self, socket: WebSocketStream) {
        let (mut sink, mut stream) = socket.split();
        let (tx, mut rx) = mpsc::channel(OUTBOUND_BUFFER);
        let kill = Arc::new(Notify::new());
        let hub = self.gateway.hub.clone();
        let app = self.gateway.app.clone();
        let conn = hub.register(self.user, tx, kill.clone()).await;
        let chats = match app.chats.chat_ids(self.user).await {
            Ok(chats) => chats,
            Err(e) => {
                tracing::warn!(error = %e, "cannot load the user's chats");
                Vec::new()
            }
        };
        for chat in &chats {
            if let Err(e) = hub.join(conn, *chat).await {
                tracing::warn!(error = %e, %chat, "cannot subscribe socket to chat");
            }
        }
        app.presence
            .connect_with_chats(self.user, &self.socket_id, chats)
            .await;
        tracing::debug!("socket connected");

        let mut shutdown = self.gateway.shutdown.clone();
        let mut ping =
            tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
        let mut last_heard = Instant::now();
        let close: Option<(CloseCode, &str)> = loop {
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
                                ).to_frame())
                            }
                        }
                        Some(Ok(Message::Binary(_))) => {
                            last_heard = Instant::now();
                            Some(FrameError::new("bad_frame", "binary frames are not supported").to_frame())
                        }
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => {
                            last_heard = Instant::now();
                            None
                        }
                        Some(Ok(Message::Close(_))) | None => break None,
                        Some(Err(e)) => {
                            tracing::debug!(error = %e, "socket read failed");
                            break Some((CloseCode::Size, "frame too large or malformed"));
                        }
                    };
                    if let Some(reply) = reply {
                        if !write(&mut sink, Message::Text(reply)).await {
                            break None;
                        }
                    }
                }
                out = rx.recv() => match out {
                    Some(frame) => {
                        if !write(&mut sink, Message::Text(frame)).await {
                            break None;
                        }
                    }
                    None => break None,
                },
                _ = ping.tick() => {
                    if last_heard.elapsed() > SILENCE_LIMIT {
                        break Some((CloseCode::Away, "no answer to pings"));
                    }
                    if !write(&mut sink, Message::Ping(Vec::new())).await {
                        break None;
                    }
                    app.presence.touch(self.user, &self.socket_id).await;
                    // The session, not the access token's 15 minutes, bounds a
                    // socket's life: logout or revocation ends it here.
                    if let Ok(false) = app.auth.session_alive(&self.ctx).await {
                        break Some((CloseCode::Policy, "session ended"));
                    }
                }
                _ = kill.notified() => break Some((CloseCode::Policy, "too slow to keep up")),
                _ = shutdown.changed() => break Some((CloseCode::Away, "server shutting down")),
            }
        };
        if let Some((code, reason)) = close {
            write(&mut sink, Message::Close(Some((code, reason.to_owned())))).await;
        }
        let _ = tokio::time::timeout(WRITE_TIMEOUT, sink.close()).await;
        // Presence first: shutdown waits for the hub to empty, so by then every
        // closing socket has been reported offline.
        app.presence.disconnect(self.user, &self.socket_id).await;
        hub.unregister(conn).await;
        tracing::debug!("socket closed");
    }

    /// Handles one text frame; returns the direct reply, if any.
    async fn handle(&mut self, conn: ConnId, text: &str) -> Option<String> {
        let frame = match protocol::parse(text) {
            Ok(frame) => frame,
            Err(e) => return Some(e.to_frame()),
        };
        let app = self.gateway.app.clone();
        let hub = self.gateway.hub.clone();
        match frame {
            ClientFrame::Ping => Some(protocol::pong()),
            ClientFrame::Join { chat_id, since_seq } => {
                let result = async {
                    app.chats.ensure_member(self.user, chat_id).await?;
                    if let Err(e) = hub.join(conn, chat_id).await {
                        tracing::warn!(error = %e, "event bus unavailable on join");
                    }
                    match since_seq {
                        Some(seq) => app.messages.since(self.user, chat_id, seq).await,
                        None => Ok(Vec::new()),
                    }
                }
                .await;
                Some(match result {
                    Ok(missed) => protocol::joined(chat_id, &missed),
                    Err(e) => FrameError::from_app(&e)
                        .about(Some(chat_id), None)
                        .to_frame(),
                })
            }
            ClientFrame::Leave { chat_id } => {
                hub.leave(conn, chat_id).await;
                None
            }
            ClientFrame::Send {
                chat_id,
                content,
                client_msg_id,
            } => {
                let result = async {
                    let subject = format!("user:{}", self.user);
                    app.throttle
                        .hit(PolicyName::Strict, &subject, SEND_ROUTE)
                        .await?;
                    app.messages
                        .send(self.user, chat_id, &content, client_msg_id.as_deref())
                        .await
                }
                .await;
                Some(match result {
                    Ok(message) => protocol::ack(client_msg_id.as_deref(), &message),
                    Err(e) => FrameError::from_app(&e)
                        .about(Some(chat_id), client_msg_id.as_deref())
                        .to_frame(),
                })
            }
            ClientFrame::Typing { chat_id } => {
                if self
                    .typing
                    .get(&chat_id)
                    .is_some_and(|at| at.elapsed() < TYPING_EVERY)
                {
                    return None;
                }
                if !hub.is_joined(conn, chat_id) {
                    if let Err(e) = app.chats.ensure_member(self.user, chat_id).await {
                        return Some(
                            FrameError::from_app(&e)
                                .about(Some(chat_id), None)
                                .to_frame(),
                        );
                    }
                }
                self.typing.insert(chat_id, Instant::now());
                app.messages.typing(self.user, chat_id).await;
                None
            }
            ClientFrame::Status { status } => {
                app.presence.set_status(self.user, status).await;
                None
            }
        }
    }
}
