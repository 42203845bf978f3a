//! One socket's life: registered and subscribed to its user's chats, then a loop
//! that handles the client's frames, pings, re-checks the session and sees that the
//! registry's events get written, until the client leaves, the session ends, the
//! socket falls too far behind, or the server shuts down.
//!
//! Events never wait for this loop on a raw WebSocket: the registry writes them to
//! the socket itself ([`super::writer`]), and the loop only finishes a write the
//! socket could not take at once. Where the transport needs its own task to write
//! (Socket.IO), events are queued for the loop, which writes what is waiting in one
//! batch. Handling a client's frame never blocks delivery: the frame's work (a send,
//! a recovery) runs as a future the loop polls beside everything else, one frame at
//! a time.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, Notify};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tracing::Instrument;
use uuid::Uuid;
use webchat_domain::{ChatId, SocketId, UserId};

use super::budget::{FrameBudget, TypingGate};
use super::protocol::{FrameError, ServerFrame};
use super::registry::{ConnId, Outlet, Queued, OUTBOUND_BUFFER};
use super::transport::{Close, Incoming, Transport};
use super::writer::Writer;
use super::{Gateway, PING_EVERY, SILENCE_LIMIT, WRITE_TIMEOUT};
use crate::metrics::{self, CloseReason};
use crate::usecase::auth::AuthContext;
use crate::usecase::AppResult;

/// The work a client frame asked for, polled by the loop; yields the reply.
pub(super) type Work = Pin<Box<dyn Future<Output = Option<Utf8Bytes>> + Send>>;

/// A socket whose chat list could not be loaded retries after this long, doubling
/// up to [`DEGRADED_RETRY_MAX`].
const DEGRADED_RETRY_FIRST: Duration = Duration::from_secs(1);
const DEGRADED_RETRY_MAX: Duration = Duration::from_secs(15);

/// Loading the user's chat list again, polled by the loop.
type Loading = Pin<Box<dyn Future<Output = AppResult<Vec<ChatId>>> + Send>>;

/// Resolves with the chat list, or never while none is being loaded.
async fn loaded(loading: &mut Option<Loading>) -> AppResult<Vec<ChatId>> {
    match loading.as_mut() {
        Some(loading) => loading.await,
        None => std::future::pending().await,
    }
}

/// The `error` frame a socket gets while it is subscribed to none of its chats.
fn degraded_frame(retry_in: Duration) -> Utf8Bytes {
    let message = format!(
        "your chats could not be loaded: no chat events reach this socket yet; retrying in {} s",
        retry_in.as_secs()
    );
    FrameError::new("degraded", message)
        .to_frame()
        .render()
        .into()
}

/// Why the socket ends after a failed write: it stopped reading (its transport's
/// buffer is full), or it is gone.
fn write_failed<T: Transport>(wire: &T) -> (CloseReason, Close) {
    if wire.fell_behind() {
        (CloseReason::Slow, Some(TOO_SLOW))
    } else {
        (CloseReason::Client, None)
    }
}

const TOO_SLOW: (CloseCode, &str) = (CloseCode::Policy, "too slow to keep up");

/// Resolves when the timer fires, or never while there is none.
async fn timer(timer: &mut Option<Pin<Box<tokio::time::Sleep>>>) {
    match timer.as_mut() {
        Some(timer) => timer.await,
        None => std::future::pending().await,
    }
}

/// The next event queued for the loop, or never when the registry writes them.
async fn queued(rx: &mut Option<mpsc::Receiver<Queued>>) -> Option<Queued> {
    match rx.as_mut() {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Resolves when the registry's writes stalled, or never without a shared writer.
async fn stalled(writer: &Option<Arc<Writer>>) {
    match writer {
        Some(writer) => writer.stalled().await,
        None => std::future::pending().await,
    }
}

/// Resolves with the work's reply, or never while there is no work.
async fn work_done(work: &mut Option<Work>) -> Option<Utf8Bytes> {
    match work.as_mut() {
        Some(work) => work.await,
        None => std::future::pending().await,
    }
}

pub(crate) struct Connection {
    pub(super) gateway: Gateway,
    pub(super) user: UserId,
    pub(super) ctx: AuthContext,
    pub(super) socket_id: SocketId,
    pub(super) typing: TypingGate,
    pub(super) budget: FrameBudget,
    /// The id of the upgrade request, on the connection's span.
    request_id: String,
}

impl Connection {
    pub(crate) fn new(gateway: Gateway, ctx: AuthContext, request_id: String) -> Self {
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

    /// The socket's life, in its `socket` span. The span is put on by hand:
    /// `#[tracing::instrument]` on the loop would keep a second copy of the
    /// connection and the wire in every idle socket's state (2.6 KB -> 1.6 KB).
    pub(crate) fn run<T: Transport>(self, wire: T) -> impl Future<Output = ()> + Send {
        let span = tracing::info_span!(
            "socket",
            user = %self.user,
            socket = %self.socket_id,
            request_id = %self.request_id
        );
        self.serve(wire).instrument(span)
    }

    /// An `async move` block, not an `async fn`: an `async fn` keeps its arguments
    /// twice in its state (as arguments and as the body's locals), 0.6 KB per socket.
    #[allow(clippy::manual_async_fn)]
    fn serve<T: Transport>(mut self, mut wire: T) -> impl Future<Output = ()> + Send {
        async move {
            // Events are written by the registry straight to the socket where the
            // transport lets it (the raw WebSocket), else queued for this loop.
            let writer = wire.writer();
            let (outlet, mut rx) = match &writer {
                Some(writer) => (Outlet::Direct(writer.clone()), None),
                None => {
                    let (tx, rx) = mpsc::channel(OUTBOUND_BUFFER);
                    (Outlet::Queue(tx), Some(rx))
                }
            };
            let kill = Arc::new(Notify::new());
            let registry = self.gateway.registry.clone();
            let uc = self.gateway.uc.clone();
            // Steps taken once or rarely (here, on pings, at the close) are boxed: inline,
            // their state would be part of every idle socket's loop.
            let conn = Box::pin(registry.register(self.user, outlet, kill.clone())).await;
            let mut degraded = !Box::pin(self.subscribe_chats(conn)).await;
            metrics::ws_connected();
            tracing::debug!(degraded, "socket connected");
            // While the chat list cannot be loaded: retried with backoff, the client told
            // each time it fails, and told which chats it has once it succeeds.
            let mut backoff = DEGRADED_RETRY_FIRST;
            // Only a degraded socket holds this timer (a timer is large; most sockets
            // never need it).
            let mut retry = degraded.then(|| Box::pin(tokio::time::sleep(backoff)));
            let mut loading: Option<Loading> = None;
            if degraded {
                // A peer already gone is noticed by the loop's first read.
                Box::pin(wire.say(degraded_frame(backoff))).await;
            }

            // Armed once for the socket's life, not re-created on every wake of the loop.
            let mut shutdown = self.gateway.shutdown.clone();
            let shutting_down = shutdown.changed();
            tokio::pin!(shutting_down);
            let killed = kill.notified();
            tokio::pin!(killed);
            let mut ping =
                tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
            let mut last_heard = Instant::now();
            let mut work: Option<Work> = None;
            let (reason, close): (CloseReason, Close) = loop {
                tokio::select! {
                    out = queued(&mut rx) => match (out, rx.as_mut()) {
                        (Some(out), Some(rx)) => {
                            // A queue that overflows while this write is stalled ends the
                            // socket now, not when the write times out.
                            tokio::select! {
                                ok = wire.write_batch(out, rx) => if !ok {
                                    break write_failed(&wire);
                                },
                                _ = &mut killed => {
                                    break (CloseReason::Slow, Some(TOO_SLOW));
                                }
                            }
                        }
                        _ => break (CloseReason::Client, None),
                    },
                    // The socket stopped taking the registry's writes: this loop writes
                    // the rest once it takes more, within the write timeout, unless the
                    // queue overflows first.
                    _ = stalled(&writer) => {
                        let Some(writer) = &writer else { continue };
                        // Boxed: rare, and a timer would otherwise sit in every loop's state.
                        let drain = Box::pin(tokio::time::timeout(WRITE_TIMEOUT, writer.drain()));
                        tokio::select! {
                            drained = drain => match drained {
                                Ok(true) => {}
                                Ok(false) => break (CloseReason::Client, None),
                                Err(_) => break (CloseReason::Slow, Some(TOO_SLOW)),
                            },
                            _ = &mut killed => {
                                break (CloseReason::Slow, Some(TOO_SLOW));
                            }
                        }
                    }
                    reply = work_done(&mut work) => {
                        work = None;
                        if !wire.reply(reply).await {
                            break write_failed(&wire);
                        }
                    }
                    incoming = wire.next(), if work.is_none() => {
                        let reply = match incoming {
                            Incoming::Frame(input) => {
                                last_heard = Instant::now();
                                match self.handle(conn, input) {
                                    Step::Reply(reply) => Some(Some(reply)),
                                    Step::Work(next) => {
                                        work = Some(next);
                                        None
                                    }
                                    Step::Nothing => Some(None),
                                }
                            }
                            Incoming::Refused(reply) => {
                                last_heard = Instant::now();
                                Some(Some(reply))
                            }
                            Incoming::Heard => {
                                last_heard = Instant::now();
                                None
                            }
                            Incoming::Closed => break (CloseReason::Client, None),
                            Incoming::Broken => break (
                                CloseReason::Error,
                                Some((CloseCode::Size, "frame too large or malformed")),
                            ),
                        };
                        // Every frame is answered once its handling is over (`None`: it
                        // has no answer), here or when its work is done.
                        if let Some(reply) = reply {
                            if !wire.reply(reply).await {
                                break write_failed(&wire);
                            }
                        }
                    }
                    _ = ping.tick() => {
                        if T::WATCHES_SILENCE && last_heard.elapsed() > SILENCE_LIMIT {
                            break (CloseReason::Silent, Some((CloseCode::Away, "no answer to pings")));
                        }
                        if !wire.ping().await {
                            break write_failed(&wire);
                        }
                        Box::pin(uc.presence.touch(self.user, &self.socket_id)).await;
                        // The session, not the access token's 15 minutes, bounds a
                        // socket's life: logout or revocation ends it here.
                        if let Ok(false) = Box::pin(uc.auth.session_alive(&self.ctx)).await {
                            break (CloseReason::SessionEnded, Some((CloseCode::Policy, "session ended")));
                        }
                    }
                    _ = timer(&mut retry), if degraded && loading.is_none() => {
                        let (uc, user) = (uc.clone(), self.user);
                        loading = Some(Box::pin(async move { uc.chats.chat_ids(user).await }));
                    }
                    chats = loaded(&mut loading) => {
                        loading = None;
                        let frame = match chats {
                            Ok(chats) => {
                                Box::pin(registry.join_all(conn, &chats)).await;
                                degraded = false;
                                retry = None;
                                tracing::info!(chats = chats.len(), "socket subscribed after its chat list loaded");
                                ServerFrame::Subscribed { chat_ids: &chats }.render().into()
                            }
                            Err(e) => {
                                tracing::debug!(error = %e, "chat list still unavailable");
                                backoff = (backoff * 2).min(DEGRADED_RETRY_MAX);
                                retry = Some(Box::pin(tokio::time::sleep(backoff)));
                                degraded_frame(backoff)
                            }
                        };
                        if !wire.say(frame).await {
                            break write_failed(&wire);
                        }
                    }
                    _ = &mut killed => {
                        break (CloseReason::Slow, Some(TOO_SLOW));
                    }
                    _ = &mut shutting_down => {
                        break (CloseReason::Shutdown, Some((CloseCode::Away, "server shutting down")));
                    }
                }
            };
            Box::pin(wire.close(close)).await;
            // Presence first: shutdown waits for the registry to empty, so by then
            // every closing socket has been reported offline.
            Box::pin(uc.presence.disconnect(self.user, &self.socket_id)).await;
            Box::pin(registry.unregister(conn)).await;
            metrics::ws_disconnected(reason);
            tracing::debug!("socket closed");
        }
    }

    /// Subscribes the new socket to every chat of its user, then marks the user
    /// online (announced to those chats on their first socket). False when the chat
    /// list could not be loaded: the socket is subscribed to nothing yet.
    async fn subscribe_chats(&self, conn: ConnId) -> bool {
        let uc = &self.gateway.uc;
        let (chats, loaded) = match uc.chats.chat_ids(self.user).await {
            Ok(chats) => (chats, true),
            Err(e) => {
                tracing::warn!(error = %e, "cannot load the user's chats: retrying");
                (Vec::new(), false)
            }
        };
        self.gateway.registry.join_all(conn, &chats).await;
        uc.presence
            .connect_with_chats(self.user, &self.socket_id, chats)
            .await;
        loaded
    }
}

/// What a client frame needs: a reply now, work to run, or nothing.
pub(super) enum Step {
    Reply(Utf8Bytes),
    Work(Work),
    Nothing,
}
