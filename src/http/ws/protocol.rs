//! The WebSocket protocol (docs/protocol.md): client frames in, server frames out.
//! Messages and chats have the REST DTOs' JSON shapes, so both transports agree.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize, Serializer};
use webchat_domain::{Chat, ChatHead, ChatId, Event, Message, MessageId, PresenceStatus, UserId};

use crate::http::error::log_server_error;
use crate::usecase::message::Recovery;
use crate::usecase::AppError;

/// Largest text frame handled (docs/protocol.md); larger ones get an error frame.
pub const MAX_FRAME: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientFrame {
    Join {
        chat_id: ChatId,
        since_seq: Option<i64>,
        since_pts: Option<i64>,
    },
    Leave {
        chat_id: ChatId,
    },
    Send {
        chat_id: ChatId,
        content: String,
        client_msg_id: Option<String>,
    },
    Typing {
        chat_id: ChatId,
    },
    Status {
        status: PresenceStatus,
    },
    Ping,
}

/// Why a frame was refused: becomes an `error` frame, never a disconnect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError {
    pub code: &'static str,
    pub message: String,
    pub chat_id: Option<ChatId>,
    pub client_msg_id: Option<String>,
}

impl FrameError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            chat_id: None,
            client_msg_id: None,
        }
    }

    /// The frame for a use case's refusal; server-side failures are logged here,
    /// as REST logs them.
    pub fn from_app(e: &AppError) -> Self {
        log_server_error(e);
        Self::new(e.code(), e.public_message())
    }

    pub fn about(mut self, chat_id: Option<ChatId>, client_msg_id: Option<&str>) -> Self {
        self.chat_id = chat_id;
        self.client_msg_id = client_msg_id.map(str::to_owned);
        self
    }

    pub fn to_frame(&self) -> ServerFrame<'_> {
        ServerFrame::Error {
            code: self.code,
            message: &self.message,
            chat_id: self.chat_id,
            client_msg_id: self.client_msg_id.as_deref(),
        }
    }
}

/// Every field any frame may carry; checked per type below so errors are precise.
#[derive(Deserialize)]
struct RawFrame {
    #[serde(rename = "type")]
    kind: String,
    chat_id: Option<String>,
    since_seq: Option<i64>,
    since_pts: Option<i64>,
    content: Option<String>,
    client_msg_id: Option<String>,
    status: Option<String>,
}

fn bad(message: impl Into<String>) -> FrameError {
    FrameError::new("bad_frame", message)
}

fn chat_id(raw: &RawFrame) -> Result<ChatId, FrameError> {
    let id = raw
        .chat_id
        .as_deref()
        .ok_or_else(|| bad(format!("`{}` needs a chat_id", raw.kind)))?;
    id.parse()
        .map_err(|_| FrameError::new("validation", format!("chat_id is not a UUID: {id:?}")))
}

pub fn parse(text: &str) -> Result<ClientFrame, FrameError> {
    if text.len() > MAX_FRAME {
        return Err(bad(format!("frame exceeds {MAX_FRAME} bytes")));
    }
    let raw: RawFrame = serde_json::from_str(text)
        .map_err(|e| bad(format!("expected a JSON object with a string `type`: {e}")))?;
    from_raw(&raw)
}

/// A client frame sent as a named event (Socket.IO): the event is the frame's
/// `type`, the payload its other fields. A frame with no fields (`ping`) may come
/// without a payload.
pub fn parse_event(event: &str, payload: serde_json::Value) -> Result<ClientFrame, FrameError> {
    let mut fields = match payload {
        serde_json::Value::Object(fields) => fields,
        serde_json::Value::Null => serde_json::Map::new(),
        _ => return Err(bad(format!("`{event}` expects one JSON object"))),
    };
    fields.insert("type".to_owned(), event.into());
    let raw: RawFrame = serde_json::from_value(serde_json::Value::Object(fields))
        .map_err(|e| bad(format!("`{event}`: {e}")))?;
    from_raw(&raw)
}

fn from_raw(raw: &RawFrame) -> Result<ClientFrame, FrameError> {
    let frame = match raw.kind.as_str() {
        "join" => ClientFrame::Join {
            chat_id: chat_id(raw)?,
            since_seq: raw.since_seq,
            since_pts: raw.since_pts,
        },
        "leave" => ClientFrame::Leave {
            chat_id: chat_id(raw)?,
        },
        "send" => ClientFrame::Send {
            chat_id: chat_id(raw)?,
            content: raw
                .content
                .clone()
                .ok_or_else(|| bad("`send` needs content"))?,
            client_msg_id: raw.client_msg_id.clone(),
        },
        "typing" => ClientFrame::Typing {
            chat_id: chat_id(raw)?,
        },
        "status" => ClientFrame::Status {
            status: match raw.status.as_deref() {
                Some("online") => PresenceStatus::Online,
                Some("away") => PresenceStatus::Away,
                other => {
                    return Err(FrameError::new(
                        "validation",
                        format!("status must be \"online\" or \"away\", got {other:?}"),
                    ))
                }
            },
        },
        "ping" => ClientFrame::Ping,
        other => return Err(bad(format!("unknown frame type {other:?}"))),
    };
    Ok(frame)
}

/// Most bytes of messages one `joined` frame carries; the rest is paged
/// (`has_more`), so a long backlog can never produce a frame the socket refuses.
pub const MAX_JOINED_BYTES: usize = 512 * 1024;

/// Every frame the server sends, tagged by `type`: the one place their JSON is
/// decided. Messages, chats and presence look exactly as they do over REST.
#[derive(Debug, Serialize)]
#[serde(tag = "type")]
pub enum ServerFrame<'a> {
    #[serde(rename = "joined")]
    Joined {
        chat_id: ChatId,
        missed: Vec<MessageJson<'a>>,
        has_more: bool,
        /// The socket's position: later messages and changes arrive live.
        #[serde(skip_serializing_if = "Option::is_none")]
        seq: Option<i64>,
        /// Where the client's change cursor stands once it applied this frame.
        #[serde(skip_serializing_if = "Option::is_none")]
        pts: Option<i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        changes: Option<Vec<ServerFrame<'a>>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        changes_has_more: Option<bool>,
    },
    #[serde(rename = "ack")]
    Ack {
        client_msg_id: Option<&'a str>,
        message: MessageJson<'a>,
    },
    #[serde(rename = "pong")]
    Pong,
    #[serde(rename = "error")]
    Error {
        code: &'a str,
        message: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        chat_id: Option<ChatId>,
        #[serde(skip_serializing_if = "Option::is_none")]
        client_msg_id: Option<&'a str>,
    },
    #[serde(rename = "chat.joined")]
    ChatJoined { chat: ChatJson<'a> },
    #[serde(rename = "message.created")]
    MessageCreated {
        chat_id: ChatId,
        message: MessageJson<'a>,
        pts: i64,
    },
    #[serde(rename = "message.updated")]
    MessageUpdated {
        chat_id: ChatId,
        message: MessageJson<'a>,
        pts: i64,
    },
    #[serde(rename = "message.deleted")]
    MessageDeleted {
        chat_id: ChatId,
        message: MessageJson<'a>,
        pts: i64,
    },
    #[serde(rename = "message.pinned")]
    MessagePinned {
        chat_id: ChatId,
        message: MessageJson<'a>,
        pts: i64,
    },
    #[serde(rename = "message.unpinned")]
    MessageUnpinned {
        chat_id: ChatId,
        message: MessageJson<'a>,
        pts: i64,
    },
    #[serde(rename = "typing")]
    Typing { chat_id: ChatId, user_id: UserId },
    /// The socket's chats are subscribed at last, after `degraded` error frames.
    #[serde(rename = "subscribed")]
    Subscribed { chat_ids: &'a [ChatId] },
    #[serde(rename = "presence")]
    Presence {
        user_id: UserId,
        status: PresenceStatus,
        #[serde(serialize_with = "rfc3339")]
        last_seen: DateTime<Utc>,
    },
}

impl<'a> ServerFrame<'a> {
    /// The frame for a recovery: `missed` oldest first, then the `changes`, both cut
    /// at [`MAX_JOINED_BYTES`] in all (`has_more` / `changes_has_more` then say so,
    /// and `pts` stops at the last change included).
    pub fn joined(chat_id: ChatId, recovery: &'a Recovery, position: Option<ChatHead>) -> Self {
        let mut budget = MAX_JOINED_BYTES;
        let mut fits = |size: usize| {
            let fit = size <= budget;
            if fit {
                budget -= size;
            }
            fit
        };
        let mut missed = Vec::new();
        for m in &recovery.missed {
            let json = MessageJson(m);
            if !fits(serde_json::to_vec(&json).map_or(usize::MAX, |v| v.len())) {
                break;
            }
            missed.push(json);
        }
        let has_more = recovery.has_more || missed.len() < recovery.missed.len();
        let mut pts = position.map(|p| p.pts);
        let mut changes = None;
        let mut changes_has_more = None;
        if let Some(until) = recovery.changes_until {
            let mut included = Vec::new();
            let mut last_pts = None;
            for event in &recovery.changes {
                let Some(frame) = ServerFrame::from_event(event) else {
                    continue;
                };
                if !fits(serde_json::to_vec(&frame).map_or(usize::MAX, |v| v.len())) {
                    break;
                }
                last_pts = event.pts();
                included.push(frame);
            }
            let cut = included.len() < recovery.changes.len();
            pts = Some(match (cut, last_pts) {
                (false, _) => until,
                (true, Some(last)) => last,
                (true, None) => recovery.changes_since.unwrap_or(until),
            });
            changes_has_more = Some(cut || recovery.changes_has_more);
            changes = Some(included);
        }
        ServerFrame::Joined {
            chat_id,
            missed,
            has_more,
            seq: position.map(|p| p.seq),
            pts,
            changes,
            changes_has_more,
        }
    }

    pub fn ack(client_msg_id: Option<&'a str>, message: &'a Message) -> Self {
        ServerFrame::Ack {
            client_msg_id,
            message: MessageJson(message),
        }
    }

    /// The frame an event becomes (`chat.joined` is told per socket by the
    /// registry, from the event's chat and members).
    pub fn from_event(event: &'a Event) -> Option<Self> {
        Some(match event {
            Event::MessageCreated {
                chat_id,
                message,
                pts,
            } => ServerFrame::MessageCreated {
                chat_id: *chat_id,
                message: MessageJson(message),
                pts: *pts,
            },
            Event::MessageUpdated {
                chat_id,
                message,
                pts,
            } => ServerFrame::MessageUpdated {
                chat_id: *chat_id,
                message: MessageJson(message),
                pts: *pts,
            },
            Event::MessageDeleted {
                chat_id,
                message,
                pts,
                ..
            } => ServerFrame::MessageDeleted {
                chat_id: *chat_id,
                message: MessageJson(message),
                pts: *pts,
            },
            Event::MessagePinned {
                chat_id,
                message,
                pts,
            } => ServerFrame::MessagePinned {
                chat_id: *chat_id,
                message: MessageJson(message),
                pts: *pts,
            },
            Event::MessageUnpinned {
                chat_id,
                message,
                pts,
            } => ServerFrame::MessageUnpinned {
                chat_id: *chat_id,
                message: MessageJson(message),
                pts: *pts,
            },
            Event::Typing { chat_id, user_id } => ServerFrame::Typing {
                chat_id: *chat_id,
                user_id: *user_id,
            },
            Event::Presence {
                user_id,
                status,
                last_seen,
                ..
            } => ServerFrame::Presence {
                user_id: *user_id,
                status: *status,
                last_seen: *last_seen,
            },
            Event::ChatJoined { .. } => return None,
        })
    }

    /// The JSON text sent on the wire.
    pub fn render(&self) -> String {
        // Serialising plain data into a String cannot fail.
        serde_json::to_string(self).expect("server frames serialise")
    }
}

fn rfc3339<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339())
}

fn rfc3339_opt<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => rfc3339(t, s),
        None => s.serialize_none(),
    }
}

/// A message as the API shows it (the REST `MessageDto` shape, field for field).
#[derive(Debug, Clone, Copy)]
pub struct MessageJson<'a>(pub &'a Message);

impl Serialize for MessageJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Shape<'a> {
            id: MessageId,
            chat_id: ChatId,
            sender_id: UserId,
            content: &'a str,
            seq: i64,
            client_msg_id: Option<&'a str>,
            #[serde(serialize_with = "rfc3339")]
            created_at: DateTime<Utc>,
            #[serde(serialize_with = "rfc3339_opt")]
            edited_at: Option<DateTime<Utc>>,
            #[serde(serialize_with = "rfc3339_opt")]
            pinned_at: Option<DateTime<Utc>>,
        }
        let m = self.0;
        Shape {
            id: m.id,
            chat_id: m.chat_id,
            sender_id: m.sender_id,
            content: &m.content,
            seq: m.seq,
            client_msg_id: m.client_msg_id.as_ref().map(|c| c.as_str()),
            created_at: m.created_at,
            edited_at: m.edited_at,
            pinned_at: m.pinned_at,
        }
        .serialize(s)
    }
}

/// A chat with its members as the API shows it (the REST `ChatDetailDto` shape).
#[derive(Debug, Clone, Copy)]
pub struct ChatJson<'a> {
    pub chat: &'a Chat,
    pub member_ids: &'a [UserId],
}

impl Serialize for ChatJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Shape<'a> {
            id: ChatId,
            name: &'a str,
            created_by: UserId,
            #[serde(serialize_with = "rfc3339")]
            created_at: DateTime<Utc>,
            member_ids: &'a [UserId],
        }
        Shape {
            id: self.chat.id,
            name: self.chat.name.as_str(),
            created_by: self.chat.created_by,
            created_at: self.chat.created_at,
            member_ids: self.member_ids,
        }
        .serialize(s)
    }
}

#[cfg(test)]
#[path = "protocol_props.rs"]
mod props;

#[cfg(test)]
mod tests {
    use super::*;
    use poem_openapi::types::ToJSON;
    use serde_json::Value;
    use webchat_domain::{ChatName, ClientMsgId};

    use crate::http::dto::{ChatDetailDto, MessageDto};
    use crate::usecase::chat::ChatView;

    #[test]
    fn messages_and_chats_look_as_they_do_over_rest() {
        let now = chrono::Utc::now();
        let mut message = Message {
            id: MessageId::new(),
            chat_id: ChatId::new(),
            sender_id: UserId::new(),
            content: "hi".into(),
            seq: 7,
            client_msg_id: None,
            created_at: now,
            edited_at: None,
            pinned_at: None,
            version: 0,
        };
        let rest = |m: &Message| MessageDto::from(m.clone()).to_json().unwrap();
        assert_eq!(
            serde_json::to_value(MessageJson(&message)).unwrap(),
            rest(&message)
        );
        message.client_msg_id = Some(ClientMsgId::parse("c-1").unwrap());
        message.edited_at = Some(now);
        message.pinned_at = Some(now);
        assert_eq!(
            serde_json::to_value(MessageJson(&message)).unwrap(),
            rest(&message)
        );

        let chat = Chat {
            id: ChatId::new(),
            name: ChatName::parse("general").unwrap(),
            created_by: UserId::new(),
            created_at: now,
        };
        let members = vec![chat.created_by, UserId::new()];
        let rest = ChatDetailDto::from(ChatView {
            chat: chat.clone(),
            member_ids: members.clone(),
        })
        .to_json()
        .unwrap();
        let ws = serde_json::to_value(ChatJson {
            chat: &chat,
            member_ids: &members,
        })
        .unwrap();
        assert_eq!(ws, rest);
    }

    #[test]
    fn every_frame_is_tagged_with_its_type() {
        let v: Value = serde_json::from_str(&ServerFrame::Pong.render()).unwrap();
        assert_eq!(v, serde_json::json!({"type": "pong"}));
        let event = Event::Typing {
            chat_id: ChatId::new(),
            user_id: UserId::new(),
        };
        let v: Value =
            serde_json::from_str(&ServerFrame::from_event(&event).unwrap().render()).unwrap();
        assert_eq!(v["type"], "typing");
    }

    #[test]
    fn parses_every_client_frame() {
        let chat = ChatId::new();
        assert_eq!(
            parse(&format!(
                r#"{{"type":"join","chat_id":"{chat}","since_seq":3}}"#
            ))
            .unwrap(),
            ClientFrame::Join {
                chat_id: chat,
                since_seq: Some(3),
                since_pts: None,
            }
        );
        assert_eq!(parse(r#"{"type":"ping"}"#).unwrap(), ClientFrame::Ping);
        assert_eq!(
            parse(r#"{"type":"status","status":"away"}"#).unwrap(),
            ClientFrame::Status {
                status: PresenceStatus::Away
            }
        );
        assert!(matches!(
            parse(&format!(
                r#"{{"type":"send","chat_id":"{chat}","content":"hi"}}"#
            ))
            .unwrap(),
            ClientFrame::Send {
                client_msg_id: None,
                ..
            }
        ));
    }

    #[test]
    fn refuses_bad_frames_with_precise_codes() {
        assert_eq!(parse("not json").unwrap_err().code, "bad_frame");
        assert_eq!(parse("[1,2]").unwrap_err().code, "bad_frame");
        assert_eq!(parse(r#"{"type":"dance"}"#).unwrap_err().code, "bad_frame");
        assert_eq!(parse(r#"{"type":"join"}"#).unwrap_err().code, "bad_frame");
        assert_eq!(
            parse(r#"{"type":"join","chat_id":"nope"}"#)
                .unwrap_err()
                .code,
            "validation"
        );
        assert_eq!(
            parse(r#"{"type":"status","status":"offline"}"#)
                .unwrap_err()
                .code,
            "validation"
        );
        let big = format!(r#"{{"type":"ping","pad":"{}"}}"#, "x".repeat(MAX_FRAME));
        assert_eq!(parse(&big).unwrap_err().code, "bad_frame");
    }

    #[test]
    fn joined_frames_stay_under_the_byte_cap() {
        let chat = ChatId::new();
        let message = |seq| Message {
            id: webchat_domain::MessageId::new(),
            chat_id: chat,
            sender_id: webchat_domain::UserId::new(),
            content: "x".repeat(4000),
            seq,
            client_msg_id: None,
            created_at: chrono::Utc::now(),
            edited_at: None,
            pinned_at: None,
            version: 0,
        };
        let recovery = |missed: &[Message]| Recovery {
            missed: missed.to_vec(),
            ..Recovery::default()
        };
        let backlog: Vec<Message> = (1..=300).map(message).collect();
        let all = recovery(&backlog);
        let frame = ServerFrame::joined(chat, &all, None).render();
        assert!(
            frame.len() <= MAX_JOINED_BYTES + 1024,
            "{} bytes",
            frame.len()
        );
        let v: Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(v["has_more"], true);
        let missed = v["missed"].as_array().unwrap();
        assert!(!missed.is_empty() && missed.len() < 300);
        assert_eq!(missed[0]["seq"], 1, "oldest first, from the start");
        let three = recovery(&backlog[..3]);
        let short = ServerFrame::joined(chat, &three, None).render();
        let v: Value = serde_json::from_str(&short).unwrap();
        assert_eq!(
            (
                v["has_more"].as_bool(),
                v["missed"].as_array().unwrap().len()
            ),
            (Some(false), 3)
        );
    }

    #[test]
    fn error_frames_carry_their_context() {
        let chat = ChatId::new();
        let frame = FrameError::new("forbidden", "no")
            .about(Some(chat), Some("c1"))
            .to_frame()
            .render();
        let v: Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(v["type"], "error");
        assert_eq!(v["code"], "forbidden");
        assert_eq!(v["chat_id"], chat.to_string());
        assert_eq!(v["client_msg_id"], "c1");
    }
}
