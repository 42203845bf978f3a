//! webchat's Socket.IO front door (docs/socketio.md), spoken as a minimal Engine.IO
//! v4 client over WebSocket only: the `40{"token"}` connect packet after the open
//! packet, `3` for every Engine.IO ping `2`, sends as events with an ack id
//! (`420["send",{...}]`), and server frames as `42["type",{...}]` events whose
//! payload has the frame's fields, decoded with the same borrowed struct as the
//! raw protocol.

use std::borrow::Cow;

use serde::Serialize;

use super::webchat::{bad, classify, Frame, S};
use super::{Codec, Inbound, ProtocolError};

pub struct SocketIoCodec;

#[derive(Serialize)]
struct SendArgs<'a> {
    chat_id: &'a str,
    content: &'a str,
    client_msg_id: &'a str,
}

/// The packet's JSON after its type digits and ack id.
fn body(packet: &str) -> &str {
    packet.trim_start_matches(|c: char| c.is_ascii_digit())
}

impl Codec for SocketIoCodec {
    fn url(&self, base: &str, _token: &str) -> String {
        let ws = base.replacen("http", "ws", 1);
        format!("{ws}/socket.io/?EIO=4&transport=websocket")
    }

    fn hello(&self, token: &str) -> Option<String> {
        Some(format!("40{}", serde_json::json!({ "token": token })))
    }

    fn heartbeat(&self, text: &str) -> Option<&'static str> {
        (text == "2").then_some("3")
    }

    fn send_frame(&self, chat_id: &str, content: &str, client_msg_id: &str) -> String {
        // One ack id for every send: the answer names its client_msg_id.
        let args = serde_json::to_string(&(
            "send",
            SendArgs {
                chat_id,
                content,
                client_msg_id,
            },
        ))
        .expect("strings always serialize");
        format!("420{args}")
    }

    fn ping_frame(&self) -> String {
        r#"42["ping"]"#.to_owned()
    }

    fn decode<'a>(&self, text: &'a str) -> Result<Inbound<'a>, ProtocolError> {
        if let Some(event) = text.strip_prefix("42") {
            let (name, f): (S<'a>, Frame<'a>) = serde_json::from_str(body(event))
                .map_err(|e| bad(&format!("an event is [name, object] ({e})"), text))?;
            return classify(name.0, f, text);
        }
        if let Some(ack) = text.strip_prefix("43") {
            let (f,): (Frame<'a>,) = serde_json::from_str(body(ack))
                .map_err(|e| bad(&format!("an ack is [object] ({e})"), text))?;
            let kind = if f.error.is_some() { "error" } else { "ack" };
            return classify(Cow::Borrowed(kind), f, text);
        }
        if text.starts_with("40") {
            return Ok(Inbound::Other("connect".into()));
        }
        if let Some(refusal) = text.strip_prefix("44") {
            return Ok(Inbound::Error {
                code: Cow::Owned(format!("connect_error {refusal}")),
                client_msg_id: None,
            });
        }
        match text.as_bytes().first() {
            // Engine.IO open, pong, noop.
            Some(b'0') => Ok(Inbound::Other("open".into())),
            Some(b'3' | b'6') => Ok(Inbound::Other("engine.io".into())),
            _ if text.starts_with("41") => Err(bad("disconnected by the server", text)),
            _ => Err(bad("not a Socket.IO packet this client knows", text)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_events_and_acks() {
        let c = SocketIoCodec;
        let text =
            r#"42["message.created",{"chat_id":"c1","message":{"content":"x y","seq":4},"pts":4}]"#;
        match c.decode(text).unwrap() {
            Inbound::Created {
                chat_id,
                seq,
                content,
            } => {
                assert_eq!((&*chat_id, seq, &*content), ("c1", 4, "x y"));
                assert!(matches!(content, Cow::Borrowed(_)), "content was copied");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            c.decode(r#"430[{"client_msg_id":"k-1","message":{"seq":1}}]"#)
                .unwrap(),
            Inbound::Ack {
                client_msg_id: "k-1".into()
            }
        );
        assert_eq!(
            c.decode(
                r#"430[{"error":"too_many_requests","message":"slow","client_msg_id":"k-2"}]"#
            )
            .unwrap(),
            Inbound::Error {
                code: "too_many_requests".into(),
                client_msg_id: Some("k-2".into())
            }
        );
        assert_eq!(c.decode(r#"42["pong",{}]"#).unwrap(), Inbound::Pong);
        assert_eq!(
            c.decode(r#"0{"sid":"x","pingInterval":25000}"#).unwrap(),
            Inbound::Other("open".into())
        );
        assert_eq!(
            c.decode(r#"40{"sid":"x"}"#).unwrap(),
            Inbound::Other("connect".into())
        );
        assert!(matches!(
            c.decode(r#"44{"message":"unauthorized"}"#).unwrap(),
            Inbound::Error { .. }
        ));
        assert!(c.decode(r#"42["dance",{}]"#).is_err());
        assert_eq!(c.heartbeat("2"), Some("3"));
        assert_eq!(c.heartbeat(r#"42["pong",{}]"#), None);
    }

    #[test]
    fn encodes_packets() {
        let c = SocketIoCodec;
        assert_eq!(
            c.send_frame("c1", "hi", "k-1"),
            r#"420["send",{"chat_id":"c1","content":"hi","client_msg_id":"k-1"}]"#
        );
        assert_eq!(c.hello("t.k").unwrap(), r#"40{"token":"t.k"}"#);
        assert_eq!(
            c.url("http://127.0.0.1:4000", "t"),
            "ws://127.0.0.1:4000/socket.io/?EIO=4&transport=websocket"
        );
    }
}
