//! The WebSocket gateway at `/ws` (docs/protocol.md, "WebSocket").
//!
//! - [`connection`]: one socket's life: register, subscribe, the read/write loop,
//!   heartbeat and session checks, the close.
//! - [`frames`]: what each client frame does.
//! - [`budget`]: the per-socket limits on what a client may send.
//! - [`protocol`]: client frames in, server frames out (their JSON).
//! - [`registry`]: this instance's sockets and the events they receive.
//! - [`transport`]: the wire a socket's loop talks over (this raw WebSocket, or
//!   Socket.IO in [`crate::http::socketio`]).
//! - [`writer`]: the raw WebSocket's write side, which the registry writes events
//!   to directly.

mod budget;
mod connection;
mod frames;
pub mod protocol;
mod quota;
pub mod registry;
pub(crate) mod transport;
pub(crate) mod writer;

use std::sync::Arc;
use std::time::Duration;

use poem::http::{header, HeaderValue, Method, StatusCode};
use poem::web::Data;
use poem::{handler, Body, IntoResponse, Request, Response};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;

pub(crate) use self::connection::Connection;
pub use self::quota::{QuotaSlot, SocketQuota};
use self::registry::SocketRegistry;
use super::error::{ApiError, ErrorBody};
use crate::usecase::{AppError, UseCases};

/// How often the server pings, and how long a silent socket may live.
pub const PING_EVERY: Duration = Duration::from_secs(25);
pub const SILENCE_LIMIT: Duration = Duration::from_secs(60);
/// How long one write may take before the peer counts as gone.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// What every socket shares, over either front door.
#[derive(Clone)]
pub struct Gateway {
    pub uc: UseCases,
    pub registry: Arc<SocketRegistry>,
    pub shutdown: watch::Receiver<bool>,
    /// The cap on open sockets per user.
    pub quota: Arc<SocketQuota>,
}

/// What a socket reads at once, and what an idle socket's read buffer holds. Client
/// frames are small (a ping, a typing or join frame is under 100 bytes, most sends
/// fit); a larger frame grows the buffer for as long as it takes.
pub const READ_BUFFER: usize = 256;

/// The socket settings. Small buffers: an idle socket holds only its read buffer
/// ([`READ_BUFFER`]). Events do not pass through tungstenite (the registry writes
/// them, [`writer`]); its write buffer holds only the loop's own frames.
fn socket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(64 * 1024)
        .max_write_buffer_size(1 << 20)
        .max_message_size(Some(1 << 20))
        .max_frame_size(Some(1 << 20))
}

fn too_many_sockets(max: usize) -> Response {
    let body = ErrorBody::new(
        "too_many_requests",
        format!("at most {max} open WebSockets per user: close one first"),
    );
    (StatusCode::TOO_MANY_REQUESTS, poem::web::Json(body)).into_response()
}

pub(crate) fn bad_upgrade() -> Response {
    let body = ErrorBody::new("bad_request", "expected a WebSocket upgrade");
    (StatusCode::BAD_REQUEST, poem::web::Json(body)).into_response()
}

/// The `Sec-WebSocket-Accept` of a valid upgrade request, or `None`.
pub(crate) fn accept_key(req: &Request) -> Option<String> {
    let protocol = req.header(header::UPGRADE)?;
    let connection = req.header(header::CONNECTION)?;
    let valid = req.method() == Method::GET
        && protocol.eq_ignore_ascii_case("websocket")
        && connection
            .split(',')
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
        && req.header(header::SEC_WEBSOCKET_VERSION) == Some("13");
    let key = req.headers().get(header::SEC_WEBSOCKET_KEY)?;
    valid.then(|| derive_accept_key(key.as_bytes()))
}

/// Authenticates before upgrading: a refused token is an HTTP 401, not a socket,
/// and a user at the socket cap gets 429.
/// The upgrade is done here (not through poem's extractor) so the socket speaks
/// tungstenite's own frames, whose text is shared bytes: an event rendered once is
/// written to every socket without a copy per socket.
#[handler]
pub async fn upgrade(req: &Request, gateway: Data<&Gateway>) -> Response {
    let Some(accept) = accept_key(req) else {
        return bad_upgrade();
    };
    let Some(token) = super::throttle::access_token(req).map(str::to_owned) else {
        return ApiError::from(AppError::Unauthorized).into_response();
    };
    let ctx = match gateway.uc.auth.authenticate(&token).await {
        Ok(ctx) => ctx,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let registered = gateway.uc.presence.socket_count(ctx.user_id).await;
    let Some(slot) = gateway.quota.acquire(ctx.user_id, registered) else {
        return too_many_sockets(gateway.quota.max());
    };
    let request_id = req
        .extensions()
        .get::<super::observe::RequestId>()
        .map_or_else(String::new, |id| id.0.clone());
    let Ok(on_upgrade) = req.take_upgrade() else {
        return bad_upgrade();
    };
    let gateway = gateway.0.clone();
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let writer = writer::Writer::new(upgraded);
        let io = writer::SocketIo::new(writer.clone());
        let socket =
            WebSocketStream::from_raw_socket(io, Role::Server, Some(socket_config())).await;
        // The loop gets a task of its own and this one ends: a task keeps the size
        // of its largest state for life, and the upgrade's (0.6 KB) is dead weight
        // once the socket is open. Inline, this task's future was 5.8 KB; the loop
        // boxed inside it, 0.6 + 1.5 KB; its own task, the loop and a task header.
        // Spawned as is, with `map` (a plain struct) to release the quota slot
        // after it: an `async` block awaiting it would keep its captures twice.
        let run = Connection::new(gateway, ctx, request_id)
            .run(transport::WebSocket::new(socket, writer));
        tokio::spawn(futures::FutureExt::map(run, move |()| drop(slot)));
    });
    switching_protocols(&accept)
}

/// The answer that completes a WebSocket upgrade.
pub(crate) fn switching_protocols(accept: &str) -> Response {
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "upgrade")
        .header(header::UPGRADE, "websocket")
        .header(
            header::SEC_WEBSOCKET_ACCEPT,
            HeaderValue::from_str(accept).unwrap_or(HeaderValue::from_static("")),
        )
        .body(Body::empty())
}
