//! A Socket.IO socket as a [`Transport`]: events in, events and acknowledgements out.
//!
//! socketioxide runs every event handler as its own task, and tasks may run in any
//! order; our client frames must be handled in the order they were sent (two sends
//! are stored in that order). So the one handler is empty, and the work is done by
//! its argument's extraction ([`Take`]), which socketioxide runs in the connection's
//! read loop, in order: it puts the event into the socket's inbox, which the socket's
//! loop reads one frame at a time, as it reads a `/ws` socket.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use serde_json::value::RawValue;
use socketioxide::adapter::LocalAdapter;
use socketioxide::extract::{AckSender, SocketRef, TryData};
use socketioxide::handler::{FromMessageParts, Value};
use socketioxide::socket::Socket;
use socketioxide::{SendError, SocketError};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, Notify};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::http::ws::registry::Queued;
use crate::http::ws::transport::{delivered, Close, Inbound, Incoming, Transport, BATCH};

/// Events a socket may have waiting. The loop takes the next one when the last
/// one's work is done; this holds the frame budget's burst of 50 and ten seconds of
/// its 20 events/s besides, so a client within its budget does not find the inbox
/// full while a send or a recovery waits on a slow store.
pub const INBOX: usize = 256;

/// A client event, with the callback to answer it through if the client passed one.
pub struct Input {
    name: String,
    payload: serde_json::Value,
    ack: Option<AckSender>,
}

/// Where a socket's events go (a socket extension).
#[derive(Clone)]
pub struct Inbox(pub mpsc::Sender<Input>);

/// A server frame as a Socket.IO event: the frame's `type` names the event, its
/// other fields are the payload.
#[derive(Debug)]
pub struct Event {
    pub name: Box<str>,
    pub payload: Box<RawValue>,
}

impl Event {
    /// Splits a rendered frame (`{"type":"name",...fields}`, as every server frame
    /// is rendered) into the event `name` and `{...fields}`, without re-encoding it.
    pub fn from_frame(frame: &str) -> Self {
        const PREFIX: &str = "{\"type\":\"";
        let split = frame.strip_prefix(PREFIX).and_then(|rest| {
            let end = rest.find('"')?;
            let (name, after) = (&rest[..end], &rest[end + 1..]);
            let payload = if after.starts_with('}') {
                "{}".to_owned()
            } else {
                format!("{{{}", after.strip_prefix(',')?)
            };
            Some((name, RawValue::from_string(payload).ok()?))
        });
        match split {
            Some((name, payload)) => Self {
                name: name.into(),
                payload,
            },
            None => Self::decoded(frame),
        }
    }

    /// The same by decoding the frame (for a frame rendered some other way).
    fn decoded(frame: &str) -> Self {
        let mut fields: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(frame).unwrap_or_default();
        let name = match fields.remove("type") {
            Some(serde_json::Value::String(name)) => name,
            _ => "error".to_owned(),
        };
        let payload = serde_json::value::to_raw_value(&fields)
            .unwrap_or_else(|_| RawValue::from_string("{}".to_owned()).expect("valid JSON"));
        Self {
            name: name.into(),
            payload,
        }
    }
}

/// What an acknowledgement carries for a reply frame: the frame's fields, except
/// that an `error` frame becomes the REST error body (`{error: code, message}`,
/// plus the chat and send it was about).
fn ack_payload(reply: &str) -> serde_json::Value {
    let mut fields: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(reply).unwrap_or_default();
    if fields.remove("type").as_ref().and_then(|t| t.as_str()) == Some("error") {
        if let Some(code) = fields.remove("code") {
            fields.insert("error".to_owned(), code);
        }
    }
    serde_json::Value::Object(fields)
}

/// The argument of the socket's one event handler; extracting it queues the event.
pub struct Take;

impl FromMessageParts<LocalAdapter> for Take {
    type Error = Infallible;

    fn from_message_parts(
        s: &Arc<Socket<LocalAdapter>>,
        v: &mut Value,
        ack_id: &Option<i64>,
    ) -> Result<Self, Infallible> {
        let Ok(event) = socketioxide::extract::Event::from_message_parts(s, v, ack_id) else {
            return Ok(Take);
        };
        let Ok(TryData(payload)) = TryData::<serde_json::Value>::from_message_parts(s, v, ack_id);
        // An event without arguments (`ping`) has a null payload; an undecodable one
        // is refused by the frame parser, as a non-object.
        let payload = payload.unwrap_or_else(|e| {
            let bare = v.as_str().is_some_and(|raw| {
                serde_json::from_str::<Vec<serde::de::IgnoredAny>>(raw).is_ok_and(|a| a.len() == 1)
            });
            if bare {
                serde_json::Value::Null
            } else {
                serde_json::Value::String(e.to_string())
            }
        });
        let ack = ack_id.and_then(|_| AckSender::from_message_parts(s, v, ack_id).ok());
        let Some(Inbox(inbox)) = s.extensions.get::<Inbox>() else {
            return Ok(Take);
        };
        let input = Input {
            name: event.0,
            payload,
            ack,
        };
        match inbox.try_send(input) {
            Ok(()) => {}
            // Only a client far over its frame budget fills the inbox.
            Err(TrySendError::Full(input)) => {
                const CODE: &str = "too_many_requests";
                const MESSAGE: &str = "too many events waiting: slow down";
                match input.ack {
                    Some(ack) => {
                        let _ = ack.send(&serde_json::json!({"error": CODE, "message": MESSAGE}));
                    }
                    None => {
                        let _ = s.emit(
                            "error",
                            &serde_json::json!({"code": CODE, "message": MESSAGE}),
                        );
                    }
                }
            }
            // The socket's loop has ended but the socket is still connected (its
            // disconnect could not be sent yet): end it now.
            Err(TrySendError::Closed(_)) => disconnect(SocketRef::from(s.clone())),
        }
        Ok(Take)
    }
}

/// One Socket.IO socket, as its loop drives it.
pub struct SocketIoWire {
    socket: SocketRef,
    inbox: mpsc::Receiver<Input>,
    /// Notified when socketioxide reports the socket disconnected.
    closed: Arc<Notify>,
    /// The callback of the frame being handled, if the client passed one.
    pending: Option<AckSender>,
    /// A write failed because socketioxide's buffer for this socket was full.
    behind: bool,
}

impl SocketIoWire {
    pub fn new(socket: SocketRef, inbox: mpsc::Receiver<Input>, closed: Arc<Notify>) -> Self {
        Self {
            socket,
            inbox,
            closed,
            pending: None,
            behind: false,
        }
    }

    fn emit(&mut self, event: &Event) -> bool {
        let sent = self.socket.emit(&*event.name, &*event.payload);
        self.sent(sent)
    }

    /// Whether a packet was handed to socketioxide; notes a full buffer.
    fn sent(&mut self, result: Result<(), SendError>) -> bool {
        match result {
            Ok(()) => true,
            Err(e) => {
                self.behind = matches!(e, SendError::Socket(SocketError::InternalChannelFull));
                false
            }
        }
    }
}

impl Transport for SocketIoWire {
    /// Engine.IO pings the client and drops one that stops answering.
    const WATCHES_SILENCE: bool = false;

    fn fell_behind(&self) -> bool {
        self.behind
    }

    /// Hands each frame to socketioxide, whose buffer holds as many packets as the
    /// socket's queue; a full buffer (a client that stopped reading) ends the socket.
    async fn write_batch(&mut self, first: Queued, rx: &mut mpsc::Receiver<Queued>) -> bool {
        let mut created = Vec::new();
        let mut next = Some(first);
        let mut n = 0;
        while let Some(out) = next.take() {
            if !self.emit(out.event()) {
                return false;
            }
            if let Some(at) = out.created {
                created.push(at);
            }
            n += 1;
            if n < BATCH {
                next = rx.try_recv().ok();
            }
        }
        delivered(&created);
        true
    }

    /// A frame the client asked to be acknowledged is acknowledged even when it has
    /// no answer (`typing`, `leave`, a successful `status`): with `{}`.
    async fn reply(&mut self, reply: Option<Utf8Bytes>) -> bool {
        let ack = self.pending.take();
        let sent = match (ack, reply) {
            (Some(ack), Some(reply)) => ack.send(&ack_payload(&reply)),
            (Some(ack), None) => ack.send(&serde_json::json!({})),
            (None, Some(reply)) => return self.emit(&Event::from_frame(&reply)),
            (None, None) => return true,
        };
        self.sent(sent)
    }

    async fn say(&mut self, frame: Utf8Bytes) -> bool {
        self.emit(&Event::from_frame(&frame))
    }

    async fn ping(&mut self) -> bool {
        self.socket.connected()
    }

    async fn next(&mut self) -> Incoming {
        tokio::select! {
            input = self.inbox.recv() => match input {
                Some(input) => {
                    self.pending = input.ack;
                    Incoming::Frame(Inbound::Event {
                        name: input.name,
                        payload: input.payload,
                    })
                }
                None => Incoming::Closed,
            },
            _ = self.closed.notified() => Incoming::Closed,
        }
    }

    /// A server-side end is a Socket.IO disconnect (`io server disconnect` on the
    /// client); the reason is in the server's log and metrics. At shutdown the
    /// transports are closed instead (see `super::endpoint`): the client sees a
    /// transport close and reconnects, to another instance.
    async fn close(self, close: Close) {
        if let Some((code, reason)) = close {
            tracing::debug!(reason, "disconnecting Socket.IO socket");
            if code == CloseCode::Away {
                return;
            }
        }
        disconnect(self.socket);
    }
}

/// How long a socket whose buffer is full is retried for a disconnect: Engine.IO
/// closes it at its next heartbeat anyway (every 25 s, answered within 20 s).
const DISCONNECT_RETRY: Duration = Duration::from_secs(45);

/// Disconnects the socket. A socket that stopped reading has no room for the
/// disconnect packet: then it is retried until it goes through or the connection is
/// gone, so a client that starts reading again is not left connected to no loop.
fn disconnect(socket: SocketRef) {
    if !socket.connected() {
        return;
    }
    if let Err(SocketError::InternalChannelFull) = socket.clone().disconnect() {
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + DISCONNECT_RETRY;
            while socket.connected() && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(500)).await;
                if !matches!(
                    socket.clone().disconnect(),
                    Err(SocketError::InternalChannelFull)
                ) {
                    break;
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_splits_into_event_and_payload_without_its_type() {
        let e = Event::from_frame(r#"{"type":"message.created","chat_id":"c","pts":3}"#);
        assert_eq!(&*e.name, "message.created");
        assert_eq!(e.payload.get(), r#"{"chat_id":"c","pts":3}"#);
        let e = Event::from_frame(r#"{"type":"pong"}"#);
        assert_eq!((&*e.name, e.payload.get()), ("pong", "{}"));
        // Not rendered by us: decoded instead.
        let e = Event::from_frame(r#"{"pts":1,"type":"typing"}"#);
        assert_eq!((&*e.name, e.payload.get()), ("typing", r#"{"pts":1}"#));
    }

    #[test]
    fn an_error_acknowledgement_is_the_rest_error_body() {
        let body = ack_payload(
            r#"{"type":"error","code":"forbidden","message":"not a member","chat_id":"c"}"#,
        );
        assert_eq!(
            body,
            serde_json::json!({"error": "forbidden", "message": "not a member", "chat_id": "c"})
        );
        let body = ack_payload(r#"{"type":"ack","client_msg_id":"k","message":{"seq":1}}"#);
        assert_eq!(
            body,
            serde_json::json!({"client_msg_id": "k", "message": {"seq": 1}})
        );
    }
}
