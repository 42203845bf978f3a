//! Socket clients. A `Codec` is everything protocol-specific (URL, handshake,
//! heartbeat, outgoing frames, decoding incoming ones); `socket` drives any codec
//! over a WebSocket and keeps the per-socket delivery state. Two codecs: webchat's
//! JSON frames at `/ws`, and Socket.IO (Engine.IO v4 over WebSocket) at `/socket.io/`.

pub mod socket;
pub mod socketio;
pub mod state;
pub mod webchat;

#[cfg(test)]
mod state_tests;

use std::borrow::Cow;

/// One incoming frame, as much of it as the tool reads. Strings borrow from the
/// frame's text (they are copied only if the server escaped characters in them).
#[derive(Debug, PartialEq)]
pub enum Inbound<'a> {
    /// `message.created`: one delivery.
    Created {
        chat_id: Cow<'a, str>,
        seq: i64,
        content: Cow<'a, str>,
    },
    /// The server accepted a send.
    Ack {
        client_msg_id: Cow<'a, str>,
    },
    /// An error frame, with the send it answers when the server names it.
    Error {
        code: Cow<'a, str>,
        client_msg_id: Option<Cow<'a, str>>,
    },
    Pong,
    /// Any other known frame type (presence, typing, ...): counted, ignored.
    Other(Cow<'a, str>),
}

/// A frame that breaks the protocol (not JSON, an unknown type, a message without
/// an integer seq...). Counted and reported: the run fails.
#[derive(Debug, Clone, PartialEq)]
pub struct ProtocolError(pub String);

/// Where a socket connects and what it says first.
#[derive(Debug, Clone)]
pub struct Dial {
    pub url: String,
    pub hello: Option<String>,
}

pub trait Codec: Send + Sync + 'static {
    fn dial(&self, base: &str, token: &str) -> Dial {
        Dial {
            url: self.url(base, token),
            hello: self.hello(token),
        }
    }
    /// The WebSocket URL for a server base URL (http://host:port) and a token.
    fn url(&self, base: &str, token: &str) -> String;
    /// What to send first, once connected (Socket.IO's connect packet with the token).
    fn hello(&self, _token: &str) -> Option<String> {
        None
    }
    /// The answer to a transport heartbeat, if `text` is one (Engine.IO's ping).
    fn heartbeat(&self, _text: &str) -> Option<&'static str> {
        None
    }
    /// A send of `content` into `chat_id`, echoed back by `client_msg_id`.
    fn send_frame(&self, chat_id: &str, content: &str, client_msg_id: &str) -> String;
    /// An application-level ping; its `Inbound::Pong` proves the server reads this
    /// socket (and, for webchat, has subscribed it to its chats).
    fn ping_frame(&self) -> String;
    fn decode<'a>(&self, text: &'a str) -> Result<Inbound<'a>, ProtocolError>;
}
