//! The WebSocket protocol of CONTRACT.md: client frames in, server frames out. JSON
//! shapes of messages and chats are the REST DTOs', so both transports agree.

use poem_openapi::types::ToJSON;
use serde::Deserialize;
use serde_json::{json, Value};
use webchat_domain::{ChatId, Event, Message, PresenceStatus};

use crate::http::dto::{ChatDetailDto, MessageDto, PresenceStatusDto};
use crate::usecase::chat::ChatView;
use crate::usecase::AppError;

/// Largest text frame handled (CONTRACT.md); larger ones get an error frame.
pub const MAX_FRAME: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientFrame {
    Join {
        chat_id: ChatId,
        since_seq: Option<i64>,
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
    pub chat_id: Option<String>,
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

    pub fn from_app(e: &AppError) -> Self {
        Self::new(e.code(), e.public_message())
    }

    pub fn about(mut self, chat_id: Option<ChatId>, client_msg_id: Option<&str>) -> Self {
        self.chat_id = chat_id.map(|c| c.to_string());
        self.client_msg_id = client_msg_id.map(str::to_owned);
        self
    }

    pub fn to_frame(&self) -> String {
        let mut v = json!({"type": "error", "code": self.code, "message": self.message});
        if let Some(c) = &self.chat_id {
            v["chat_id"] = json!(c);
        }
        if let Some(c) = &self.client_msg_id {
            v["client_msg_id"] = json!(c);
        }
        v.to_string()
    }
}

/// Every field any frame may carry; checked per type below so errors are precise.
#[derive(Deserialize)]
struct RawFrame {
    #[serde(rename = "type")]
    kind: String,
    chat_id: Option<String>,
    since_seq: Option<i64>,
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
    let frame = match raw.kind.as_str() {
        "join" => ClientFrame::Join {
            chat_id: chat_id(&raw)?,
            since_seq: raw.since_seq,
        },
        "leave" => ClientFrame::Leave {
            chat_id: chat_id(&raw)?,
        },
        "send" => ClientFrame::Send {
            chat_id: chat_id(&raw)?,
            content: raw
                .content
                .clone()
                .ok_or_else(|| bad("`send` needs content"))?,
            client_msg_id: raw.client_msg_id.clone(),
        },
        "typing" => ClientFrame::Typing {
            chat_id: chat_id(&raw)?,
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

fn message_json(m: &Message) -> Value {
    MessageDto::from(m.clone()).to_json().unwrap_or(Value::Null)
}

/// Most bytes of messages one `joined` frame carries; the rest is paged over REST
/// (`has_more`), so a long backlog can never produce a frame the socket refuses.
pub const MAX_JOINED_BYTES: usize = 512 * 1024;

pub fn joined(chat_id: ChatId, missed: &[Message]) -> String {
    let mut budget = MAX_JOINED_BYTES;
    let mut included = Vec::new();
    for m in missed {
        let json = message_json(m);
        let size = json.to_string().len();
        if size > budget {
            break;
        }
        budget -= size;
        included.push(json);
    }
    json!({
        "type": "joined",
        "chat_id": chat_id,
        "has_more": included.len() < missed.len(),
        "missed": included,
    })
    .to_string()
}

pub fn ack(client_msg_id: Option<&str>, message: &Message) -> String {
    json!({"type": "ack", "client_msg_id": client_msg_id, "message": message_json(message)})
        .to_string()
}

pub fn pong() -> String {
    r#"{"type":"pong"}"#.to_owned()
}

pub fn chat_joined(view: ChatView) -> String {
    let chat = ChatDetailDto::from(view).to_json().unwrap_or(Value::Null);
    json!({"type": "chat.joined", "chat": chat}).to_string()
}

/// The frame an event becomes (`chat.joined` is rendered per socket by the hub).
pub fn event_frame(event: &Event) -> Option<String> {
    let (kind, chat_id, message) = match event {
        Event::MessageCreated { chat_id, message } => ("message.created", chat_id, message),
        Event::MessageUpdated { chat_id, message } => ("message.updated", chat_id, message),
        Event::MessageDeleted {
            chat_id, message, ..
        } => ("message.deleted", chat_id, message),
        Event::MessagePinned { chat_id, message } => ("message.pinned", chat_id, message),
        Event::MessageUnpinned { chat_id, message } => ("message.unpinned", chat_id, message),
        Event::Typing { chat_id, user_id } => {
            return Some(
                json!({"type": "typing", "chat_id": chat_id, "user_id": user_id}).to_string(),
            )
        }
        Event::Presence {
            user_id,
            status,
            last_seen,
            ..
        } => {
            let status = PresenceStatusDto::from(*status).to_json();
            let last_seen = last_seen.to_json();
            return Some(
                json!({"type": "presence", "user_id": user_id, "status": status, "last_seen": last_seen})
                    .to_string(),
            );
        }
        Event::ChatJoined { .. } => return None,
    };
    Some(json!({"type": kind, "chat_id": chat_id, "message": message_json(message)}).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

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
                since_seq: Some(3)
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
        };
        let backlog: Vec<Message> = (1..=300).map(message).collect();
        let frame = joined(chat, &backlog);
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
        let short = joined(chat, &backlog[..3]);
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
            .to_frame();
        let v: Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(v["type"], "error");
        assert_eq!(v["code"], "forbidden");
        assert_eq!(v["chat_id"], chat.to_string());
        assert_eq!(v["client_msg_id"], "c1");
    }
}
