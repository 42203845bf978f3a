//! webchat's WebSocket protocol (README "WebSocket protocol"): JSON text frames with
//! a `type`. Decoding reads only `type`, `chat_id`, `code`, `client_msg_id`,
//! `message.seq` and `message.content` through a borrowed serde struct; serde skips
//! the other fields without building them, so a delivery costs one pass over the
//! frame and no allocation.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::{Codec, Inbound, ProtocolError};

pub struct WebchatCodec;

/// A string that borrows from the frame when it has no escapes. (serde borrows a
/// `Cow` only when it is a field's own type, not inside an `Option`: hence the
/// newtype.)
#[derive(Deserialize)]
pub(super) struct S<'a>(#[serde(borrow)] pub(super) Cow<'a, str>);

/// A frame's fields the tool reads; as a Socket.IO payload it has no `type` (the
/// event names it) and an acknowledged error says `error` instead of `code`.
#[derive(Deserialize)]
pub(super) struct Frame<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<S<'a>>,
    #[serde(borrow, default)]
    chat_id: Option<S<'a>>,
    #[serde(borrow, default)]
    message: Option<MsgField<'a>>,
    #[serde(borrow, default)]
    code: Option<S<'a>>,
    #[serde(borrow, default)]
    pub(super) error: Option<S<'a>>,
    #[serde(borrow, default)]
    client_msg_id: Option<S<'a>>,
}

#[derive(Deserialize)]
struct Msg<'a> {
    #[serde(default)]
    seq: Option<i64>,
    #[serde(borrow, default)]
    content: Option<S<'a>>,
}

/// `message` is an object in events and acks but a string in error frames: take
/// the object's two fields, skip anything else, without buffering (an untagged
/// enum would buffer the whole value first).
enum MsgField<'a> {
    Obj(Msg<'a>),
    NotObj,
}

impl<'de: 'a, 'a> Deserialize<'de> for MsgField<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = MsgField<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a message object or any other value")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                Msg::deserialize(MapAccessDeserializer::new(map)).map(MsgField::Obj)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(MsgField::NotObj)
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(MsgField::NotObj)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(MsgField::NotObj)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(MsgField::NotObj)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(MsgField::NotObj)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(MsgField::NotObj)
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(MsgField::NotObj)
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

#[derive(Serialize)]
struct SendFrame<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    chat_id: &'a str,
    content: &'a str,
    client_msg_id: &'a str,
}

pub(super) fn bad(what: &str, text: &str) -> ProtocolError {
    let clip = crate::api::clip(text);
    ProtocolError(format!("{what}; frame: {clip}"))
}

impl Codec for WebchatCodec {
    fn url(&self, base: &str, token: &str) -> String {
        // Access tokens are JWTs: URL-safe base64 and dots, nothing to escape.
        let ws = base.replacen("http", "ws", 1);
        format!("{ws}/ws?token={token}")
    }

    fn send_frame(&self, chat_id: &str, content: &str, client_msg_id: &str) -> String {
        serde_json::to_string(&SendFrame {
            kind: "send",
            chat_id,
            content,
            client_msg_id,
        })
        .expect("strings always serialize")
    }

    fn ping_frame(&self) -> String {
        r#"{"type":"ping"}"#.to_owned()
    }

    fn decode<'a>(&self, text: &'a str) -> Result<Inbound<'a>, ProtocolError> {
        let mut f: Frame<'a> = serde_json::from_str(text)
            .map_err(|e| bad(&format!("not a JSON object with a string type ({e})"), text))?;
        let Some(kind) = f.kind.take() else {
            return Err(bad("a frame needs a string type", text));
        };
        classify(kind.0, f, text)
    }
}

/// What a frame of type `kind` (its other fields in `f`) is to the tool.
pub(super) fn classify<'a>(
    kind: Cow<'a, str>,
    f: Frame<'a>,
    text: &str,
) -> Result<Inbound<'a>, ProtocolError> {
    match &*kind {
        "message.created" => {
            let (Some(chat_id), Some(MsgField::Obj(m))) = (f.chat_id, f.message) else {
                return Err(bad("message.created needs chat_id and message", text));
            };
            let (Some(seq), Some(content)) = (m.seq, m.content) else {
                return Err(bad("message needs an integer seq and content", text));
            };
            Ok(Inbound::Created {
                chat_id: chat_id.0,
                seq,
                content: content.0,
            })
        }
        "ack" => match f.client_msg_id {
            Some(id) if matches!(f.message, Some(MsgField::Obj(_))) => Ok(Inbound::Ack {
                client_msg_id: id.0,
            }),
            _ => Err(bad("ack needs client_msg_id and message", text)),
        },
        "error" => match f.code.or(f.error) {
            Some(code) => Ok(Inbound::Error {
                code: code.0,
                client_msg_id: f.client_msg_id.map(|s| s.0),
            }),
            None => Err(bad("error frame needs a string code", text)),
        },
        "pong" => Ok(Inbound::Pong),
        "presence" | "typing" | "joined" | "chat.joined" | "message.updated"
        | "message.deleted" | "message.pinned" | "message.unpinned" => Ok(Inbound::Other(kind)),
        other => Err(bad(&format!("unknown frame type {other:?}"), text)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_delivery_without_copying() {
        let text = r#"{"type":"message.created","chat_id":"c1","message":{"id":"m","chat_id":"c1","sender_id":"u","content":"rabc t1 s2 n3 w0","seq":17,"client_msg_id":"abc-3","created_at":"2026-01-01T00:00:00Z","edited_at":null,"pinned_at":null}}"#;
        match WebchatCodec.decode(text).unwrap() {
            Inbound::Created {
                chat_id,
                seq,
                content,
            } => {
                assert_eq!((&*chat_id, seq, &*content), ("c1", 17, "rabc t1 s2 n3 w0"));
                assert!(matches!(content, Cow::Borrowed(_)), "content was copied");
                assert!(matches!(chat_id, Cow::Borrowed(_)), "chat_id was copied");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn decodes_acks_errors_pongs_and_others() {
        let c = WebchatCodec;
        assert_eq!(
            c.decode(r#"{"type":"ack","client_msg_id":"abc-1","message":{"seq":1}}"#)
                .unwrap(),
            Inbound::Ack {
                client_msg_id: "abc-1".into()
            }
        );
        assert_eq!(
            c.decode(r#"{"type":"error","code":"too_many_requests","message":"x","client_msg_id":"abc-2"}"#)
                .unwrap(),
            Inbound::Error {
                code: "too_many_requests".into(),
                client_msg_id: Some("abc-2".into())
            }
        );
        assert_eq!(c.decode(r#"{"type":"pong"}"#).unwrap(), Inbound::Pong);
        assert_eq!(
            c.decode(r#"{"type":"presence","user_id":"u","status":"online","last_seen":"x"}"#)
                .unwrap(),
            Inbound::Other("presence".into())
        );
    }

    #[test]
    fn refuses_what_breaks_the_protocol() {
        let c = WebchatCodec;
        assert!(c.decode("nope").is_err());
        assert!(c.decode(r#"{"type":"dance"}"#).is_err());
        assert!(c
            .decode(
                r#"{"type":"message.created","chat_id":"c","message":{"seq":"7","content":"x"}}"#
            )
            .is_err());
        assert!(c
            .decode(r#"{"type":"message.created","chat_id":"c","message":{"content":"x"}}"#)
            .is_err());
        assert!(c.decode(r#"{"type":"ack","client_msg_id":"a"}"#).is_err());
    }

    #[test]
    fn encodes_frames() {
        let c = WebchatCodec;
        assert_eq!(
            c.send_frame("c1", "hi \"x\"", "abc-1"),
            r#"{"type":"send","chat_id":"c1","content":"hi \"x\"","client_msg_id":"abc-1"}"#
        );
        assert_eq!(
            c.url("http://127.0.0.1:4000", "t.k.n"),
            "ws://127.0.0.1:4000/ws?token=t.k.n"
        );
    }
}
