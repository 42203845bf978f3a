//! The Socket.IO front door at `/socket.io/` (docs/socketio.md): Engine.IO v4 with
//! both transports (long-polling, then the upgrade to WebSocket), served by
//! socketioxide and mounted into poem here.
//!
//! A Socket.IO socket is one more socket of the gateway: it runs the same loop as a
//! `/ws` socket ([`crate::http::ws::Connection`]) over the [`wire::SocketIoWire`]
//! transport, so delivery, ordering, recovery, presence, budgets, throttles and
//! the sockets-per-user cap are the ones every socket has. Client frames arrive as
//! events named after their `type`; server frames leave as events named after
//! theirs; `send` and `join` (any frame, in fact) answer through the client's
//! acknowledgement callback when it passes one. Socket.IO rooms are not used:
//! membership stays with the use cases and the socket registry.

mod wire;

use std::sync::{Arc, Mutex, PoisonError};

use engineioxide::service::NotFoundService;
use http_body_util::BodyExt;
use poem::http::StatusCode;
use poem::web::Data;
use poem::{handler, Body, Endpoint, EndpointExt, IntoResponse, Request, Response};
use socketioxide::extract::{SocketRef, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::service::SocketIoService;
use socketioxide::SocketIo;
use tokio::sync::Notify;
use tower_service::Service as _;

pub use self::wire::Event;
use self::wire::{Inbox, Input, SocketIoWire, Take, INBOX};
use super::error::{ApiError, ErrorBody};
use super::observe::{RequestId, REQUEST_ID};
use super::throttle::ClientIp;
use super::throttle::MAX_BODY;
use super::ws::registry::OUTBOUND_BUFFER;
use super::ws::{accept_key, bad_upgrade, Connection, Gateway, QuotaSlot};
use crate::usecase::auth::AuthContext;
use crate::usecase::throttle::{address_subject, PolicyName, WS_ROUTE};
use crate::usecase::AppError;
use crate::usecase::UseCases;

type Service = SocketIoService<NotFoundService>;

/// The route Engine.IO handshakes are counted under.
const ROUTE: &str = "/socket.io";

/// The largest WebSocket message read, as on `/ws`; a larger one ends the connection.
const MAX_WS_MESSAGE: usize = 1 << 20;

/// What the connect middleware admitted, handed to the connect handler (an
/// extension must be `Clone`: the parts are taken out once).
#[derive(Clone)]
struct Admitted(Arc<Mutex<Option<Admission>>>);

struct Admission {
    ctx: AuthContext,
    slot: QuotaSlot,
    inbox: tokio::sync::mpsc::Receiver<Input>,
    closed: Arc<Notify>,
}

/// A refused connect: the client's `connect_error` carries this code as its message.
#[derive(Debug)]
struct Refused(&'static str);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// The `/socket.io` endpoint over the gateway every socket shares.
pub fn endpoint(gateway: Gateway) -> impl Endpoint {
    let (service, io) = SocketIo::builder()
        // A polling request's body is held to the REST body limit; a WebSocket
        // message to what `/ws` reads; a socket may fall as far behind as a `/ws`
        // socket before it is dropped.
        .max_payload(MAX_BODY as u64)
        .ws_max_message_size(MAX_WS_MESSAGE)
        .ws_max_frame_size(MAX_WS_MESSAGE)
        .ws_read_buffer_size(super::ws::READ_BUFFER)
        .max_buffer_size(OUTBOUND_BUFFER)
        .build_svc();
    let mut shutdown = gateway.shutdown.clone();
    let admit_gw = gateway.clone();
    let admit = move |socket: SocketRef, TryData(auth): TryData<serde_json::Value>| {
        let gateway = admit_gw.clone();
        async move { admit(gateway, socket, auth.ok()).await }
    };
    let connected = move |socket: SocketRef| {
        let gateway = gateway.clone();
        async move { connected(gateway, socket) }
    };
    io.ns("/", connected.with(admit));
    // At shutdown every transport is closed (not each socket disconnected): clients
    // see a transport close and reconnect, to another instance.
    tokio::spawn(async move {
        let _ = shutdown.changed().await;
        io.close().await;
    });
    serve.data(service)
}

/// Checks the handshake's `auth: {token}` exactly as a `/ws` upgrade is checked
/// (token, the user's `/ws` budget, the sockets-per-user cap), and readies the
/// socket's inbox before the client is told it is connected, so no event it sends
/// right away is missed.
async fn admit(
    gateway: Gateway,
    socket: SocketRef,
    auth: Option<serde_json::Value>,
) -> Result<(), Refused> {
    let token = auth
        .as_ref()
        .and_then(|auth| auth.get("token"))
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    let uc = &gateway.uc;
    let ctx = match uc.auth.authenticate(token).await {
        Ok(ctx) => ctx,
        // The store could not tell: not the token's fault.
        Err(
            e @ (AppError::Unavailable(_) | AppError::AuthUnavailable(_) | AppError::Internal(_)),
        ) => return Err(Refused(e.code())),
        // A refused token counts against the client's address, as a refused `/ws`
        // upgrade does: guessing is throttled.
        Err(_) => {
            let ip = socket.req_parts().extensions.get::<ClientIp>();
            let subject = address_subject(ip.map_or("unknown", |ip| ip.0.as_str()));
            return Err(
                match uc
                    .throttle
                    .hit(PolicyName::Default, &subject, WS_ROUTE)
                    .await
                {
                    Err(e @ AppError::TooManyRequests(_)) => Refused(e.code()),
                    _ => Refused("unauthorized"),
                },
            );
        }
    };
    uc.throttle
        .hit(
            PolicyName::Default,
            &format!("user:{}", ctx.user_id),
            WS_ROUTE,
        )
        .await
        .map_err(|e| Refused(e.code()))?;
    let registered = uc.presence.socket_count(ctx.user_id).await;
    let slot = gateway
        .quota
        .acquire(ctx.user_id, registered)
        .ok_or(Refused("too_many_requests"))?;
    let (tx, rx) = tokio::sync::mpsc::channel(INBOX);
    let closed = Arc::new(Notify::new());
    socket.extensions.insert(Inbox(tx));
    let admission = Admission {
        ctx,
        slot,
        inbox: rx,
        closed: closed.clone(),
    };
    socket
        .extensions
        .insert(Admitted(Arc::new(Mutex::new(Some(admission)))));
    socket.on_fallback(async |_: Take| {});
    socket.on_disconnect(move || {
        let closed = closed.clone();
        async move { closed.notify_one() }
    });
    Ok(())
}

/// Runs the admitted socket's loop.
fn connected(gateway: Gateway, socket: SocketRef) {
    let admitted = socket
        .extensions
        .remove::<Admitted>()
        .and_then(|a| a.0.lock().unwrap_or_else(PoisonError::into_inner).take());
    let Some(Admission {
        ctx,
        slot,
        inbox,
        closed,
    }) = admitted
    else {
        let _ = socket.disconnect();
        return;
    };
    let request_id = socket
        .req_parts()
        .headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    tokio::spawn(async move {
        let wire = SocketIoWire::new(socket, inbox, closed);
        Connection::new(gateway, ctx, request_id).run(wire).await;
        drop(slot);
    });
}

/// The request as socketioxide sees it, with the id the observer gave it.
fn http_request<B>(req: &Request, body: B) -> poem::http::Request<B> {
    let mut out = poem::http::Request::new(body);
    *out.method_mut() = req.method().clone();
    *out.uri_mut() = req.uri().clone();
    *out.version_mut() = req.version();
    *out.headers_mut() = req.headers().clone();
    if let Some(RequestId(id)) = req.extensions().get::<RequestId>() {
        if let Ok(value) = id.parse() {
            out.headers_mut().insert(REQUEST_ID, value);
        }
    }
    if let Some(ip) = req.extensions().get::<ClientIp>() {
        out.extensions_mut().insert(ip.clone());
    }
    out
}

/// An Engine.IO handshake (a request without a session id) opens a session that
/// holds memory until its client connects or times out: each counts against the
/// client's address under the `default` policy, as an unauthenticated `/ws` upgrade
/// does. The requests of an open session are not counted.
async fn admit_handshake(req: &Request, uc: &UseCases) -> Result<(), Response> {
    let query = req.uri().query().unwrap_or_default();
    if query.split('&').any(|p| p.starts_with("sid=")) {
        return Ok(());
    }
    let ip = req.extensions().get::<ClientIp>();
    let subject = address_subject(ip.map_or("unknown", |ip| ip.0.as_str()));
    match uc.throttle.hit(PolicyName::Default, &subject, ROUTE).await {
        Err(e @ AppError::TooManyRequests(_)) => Err(ApiError::from(e).into_response()),
        _ => Ok(()),
    }
}

/// Engine.IO requests: a WebSocket upgrade is accepted here (poem owns the
/// connection) and handed to socketioxide once upgraded; a polling request is
/// passed through with its body.
#[handler]
async fn serve(
    req: &Request,
    body: Body,
    service: Data<&Service>,
    uc: Data<&UseCases>,
) -> Response {
    if let Err(refused) = admit_handshake(req, uc.0).await {
        return refused;
    }
    let mut service = service.0.clone();
    if req.header(poem::http::header::UPGRADE).is_some() {
        let Some(accept) = accept_key(req) else {
            return bad_upgrade();
        };
        // What socketioxide checks after the upgrade, checked before it, so a bad
        // request gets a 400 rather than a socket closed at once.
        let query = req.uri().query().unwrap_or_default();
        let has = |param: &str| query.split('&').any(|p| p == param);
        if !has("transport=websocket") || !has("EIO=4") {
            return bad_request("a WebSocket upgrade needs EIO=4 and transport=websocket");
        }
        let head = http_request(req, ());
        let Ok(on_upgrade) = req.take_upgrade() else {
            return bad_upgrade();
        };
        tokio::spawn(async move {
            if let Ok(upgraded) = on_upgrade.await {
                if let Err(e) = service.call((upgraded, head)).await {
                    tracing::debug!(error = %e, "Socket.IO upgrade refused");
                }
            }
        });
        return super::ws::switching_protocols(&accept);
    }
    let body = match body.into_bytes_limit(MAX_BODY).await {
        Ok(body) => body,
        Err(_) => {
            let message = format!("a Socket.IO request body is at most {MAX_BODY} bytes");
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                poem::web::Json(ErrorBody::new("payload_too_large", message)),
            )
                .into_response();
        }
    };
    let Ok(response) = service
        .call(http_request(req, http_body_util::Full::new(body)))
        .await;
    let (parts, body) = response.into_parts();
    match body.collect().await {
        Ok(body) => Response::from_parts(
            poem::ResponseParts {
                status: parts.status,
                version: parts.version,
                headers: parts.headers,
                extensions: parts.extensions,
            },
            Body::from(body.to_bytes()),
        ),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn bad_request(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        poem::web::Json(ErrorBody::new("bad_request", message)),
    )
        .into_response()
}
