//! The WebSocket gateway at `/ws` (docs/protocol.md, "WebSocket").
//!
//! - [`connection`]: one socket's life: register, subscribe, the read/write loop,
//!   heartbeat and session checks, the close.
//! - [`frames`]: what each client frame does.
//! - [`budget`]: the per-socket limits on what a client may send.
//! - [`protocol`]: client frames in, server frames out (their JSON).
//! - [`registry`]: this instance's sockets and the events they receive.

mod budget;
mod connection;
mod frames;
pub mod protocol;
pub mod registry;

use std::sync::Arc;
use std::time::Duration;

use poem::web::websocket::{WebSocket, WebSocketConfig};
use poem::web::Data;
use poem::{handler, IntoResponse, Request, Response};
use tokio::sync::watch;

use self::connection::Connection;
use self::registry::SocketRegistry;
use super::error::ApiError;
use crate::usecase::{AppError, UseCases};

/// How often the server pings, and how long a silent socket may live.
pub const PING_EVERY: Duration = Duration::from_secs(25);
pub const SILENCE_LIMIT: Duration = Duration::from_secs(60);
/// How long one write may take before the peer counts as gone.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// What every socket shares.
#[derive(Clone)]
pub struct Gateway {
    pub uc: UseCases,
    pub registry: Arc<SocketRegistry>,
    pub shutdown: watch::Receiver<bool>,
}

/// Authenticates before upgrading: a refused token is an HTTP 401, not a socket.
#[handler]
pub async fn upgrade(req: &Request, ws: WebSocket, gateway: Data<&Gateway>) -> Response {
    let Some(token) = super::throttle::access_token(req).map(str::to_owned) else {
        return ApiError::from(AppError::Unauthorized).into_response();
    };
    let ctx = match gateway.uc.auth.authenticate(&token).await {
        Ok(ctx) => ctx,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let request_id = req
        .extensions()
        .get::<super::observe::RequestId>()
        .map_or_else(String::new, |id| id.0.clone());
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
            Connection::new(gateway, ctx, request_id).run(socket).await;
        })
        .into_response()
}
