//! The JSON shapes of the API. WebSocket frames reuse them (`to_json`), so a message
//! looks the same over REST and over a socket.

use chrono::{DateTime, Utc};
use poem_openapi::{Enum, Object};
use uuid::Uuid;
use webchat_domain::{Message, PresenceStatus, User, UserPresence};

use super::limits::Lenient;
use crate::usecase::auth::{SessionView, TokenPair};
use crate::usecase::chat::{ChatEntry, ChatView};

#[derive(Debug, Clone, Object)]
pub struct UserDto {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    pub created_at: DateTime<Utc>,
}

impl From<User> for UserDto {
    fn from(u: User) -> Self {
        Self {
            id: u.id.into(),
            username: u.username.into_inner(),
            display_name: u.display_name.into_inner(),
            created_at: u.created_at,
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct RegisterRequest {
    /// 3..32 characters of `[A-Za-z0-9_.-]`; unique without regard to ASCII case.
    #[oai(validator(min_length = 3, max_length = 32, pattern = r"^[A-Za-z0-9_.-]{3,32}$"))]
    pub username: Lenient<String>,
    /// 8..128 characters, no control characters (U+0000..U+001F, U+007F..U+009F).
    #[oai(validator(
        min_length = 8,
        max_length = 128,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]{8,128}$"
    ))]
    pub password: Lenient<String>,
    /// 1..64 characters after trimming surrounding whitespace (stored trimmed), no
    /// control characters (U+0000..U+001F, U+007F..U+009F); the username when absent
    /// or null.
    #[oai(
        nullable,
        validator(
            pattern = r"^[ \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000](?:[^\u0000-\u001f\u007f-\u009f]{0,62}[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?[ \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
        )
    )]
    pub display_name: Option<Lenient<String>>,
}

#[derive(Debug, Clone, Object)]
pub struct LoginRequest {
    /// Any string: a name that cannot exist fails like a wrong password.
    pub username: Lenient<String>,
    pub password: Lenient<String>,
}

#[derive(Debug, Clone, Object)]
pub struct ChangePasswordRequest {
    /// The password now in use (any string: a wrong one is 401
    /// `invalid_credentials`).
    pub current_password: Lenient<String>,
    /// 8..128 characters, as at registration.
    #[oai(validator(min_length = 8, max_length = 128))]
    pub new_password: Lenient<String>,
}

#[derive(Debug, Clone, Object)]
pub struct RefreshRequest {
    pub refresh_token: Lenient<String>,
}

#[derive(Debug, Clone, Object)]
pub struct TokenResponse {
    pub access_token: String,
    pub refresh_token: String,
    pub session_id: Uuid,
    /// When the access token expires.
    pub expires_at: DateTime<Utc>,
    pub user: UserDto,
}

impl From<TokenPair> for TokenResponse {
    fn from(p: TokenPair) -> Self {
        Self {
            access_token: p.access_token,
            refresh_token: p.refresh_token,
            session_id: p.session_id.into(),
            expires_at: p.expires_at,
            user: p.user.into(),
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct SessionDto {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The client address at login (null when unknown).
    #[oai(nullable)]
    pub ip: Option<String>,
    /// The `User-Agent` at login, its first 256 characters (null when none was sent).
    #[oai(nullable)]
    pub user_agent: Option<String>,
    /// True for the session of the token making this request.
    pub current: bool,
}

impl From<SessionView> for SessionDto {
    fn from(v: SessionView) -> Self {
        Self {
            id: v.session.id.into(),
            created_at: v.session.created_at,
            expires_at: v.session.expires_at,
            ip: v.session.ip,
            user_agent: v.session.user_agent,
            current: v.current,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum PresenceStatusDto {
    Online,
    Away,
    Offline,
}

impl From<PresenceStatus> for PresenceStatusDto {
    fn from(s: PresenceStatus) -> Self {
        match s {
            PresenceStatus::Online => Self::Online,
            PresenceStatus::Away => Self::Away,
            PresenceStatus::Offline => Self::Offline,
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct PresenceDto {
    pub user_id: Uuid,
    pub status: PresenceStatusDto,
    pub last_seen: DateTime<Utc>,
}

impl From<UserPresence> for PresenceDto {
    fn from(p: UserPresence) -> Self {
        Self {
            user_id: p.user_id.into(),
            status: p.status.into(),
            last_seen: p.last_seen,
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct OnlineUsersDto {
    /// How many users are online or away in all (not only on this page).
    pub count: u64,
    /// This page of them, by `user_id`.
    pub users: Vec<PresenceDto>,
}

#[derive(Debug, Clone, Object)]
pub struct CreateChatRequest {
    /// 1..100 characters after trimming surrounding whitespace (stored trimmed), no
    /// control characters (U+0000..U+001F, U+007F..U+009F).
    #[oai(validator(
        pattern = r"^[ \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000](?:[^\u0000-\u001f\u007f-\u009f]{0,98}[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?[ \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    ))]
    pub name: Lenient<String>,
    /// Other members, at most 500, each an existing user (else 400 `validation`);
    /// the creator is always a member and duplicates are ignored. Absent or null:
    /// no other members.
    #[oai(default, nullable, validator(max_items = 500))]
    pub member_ids: Lenient<Vec<Uuid>>,
}

#[derive(Debug, Clone, Object)]
pub struct AddMemberRequest {
    pub user_id: Uuid,
}

#[derive(Debug, Clone, Object)]
pub struct ChatDto {
    pub id: Uuid,
    pub name: String,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    /// The seq of the chat's newest message (0 for none): unread counts compare it
    /// with the last seq read.
    pub last_seq: i64,
    /// The chat's change sequence head (see the WebSocket recovery).
    pub last_pts: i64,
}

impl From<ChatEntry> for ChatDto {
    fn from(e: ChatEntry) -> Self {
        Self {
            id: e.chat.id.into(),
            name: e.chat.name.into_inner(),
            created_by: e.chat.created_by.into(),
            created_at: e.chat.created_at,
            last_seq: e.head.seq,
            last_pts: e.head.pts,
        }
    }
}

/// A chat with its members.
#[derive(Debug, Clone, Object)]
pub struct ChatDetailDto {
    pub id: Uuid,
    pub name: String,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub member_ids: Vec<Uuid>,
}

impl From<ChatView> for ChatDetailDto {
    fn from(v: ChatView) -> Self {
        Self {
            id: v.chat.id.into(),
            name: v.chat.name.into_inner(),
            created_by: v.chat.created_by.into(),
            created_at: v.chat.created_at,
            member_ids: v.member_ids.into_iter().map(Into::into).collect(),
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct SendMessageRequest {
    /// 1..4000 characters after trimming surrounding whitespace (stored trimmed), no
    /// control characters (U+0000..U+001F, U+007F..U+009F) but line breaks (`\n`)
    /// and tabs (`\t`).
    #[oai(validator(
        pattern = r"^[\t\n \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000](?:[^\u0000-\u0008\u000b-\u001f\u007f-\u009f]{0,3998}[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?[\t\n \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    ))]
    pub content: Lenient<String>,
    /// Idempotency key, 1..64 printable ASCII characters without spaces: the same
    /// key from the same sender in the same chat returns the same message.
    #[oai(
        nullable,
        validator(min_length = 1, max_length = 64, pattern = r"^[!-~]{1,64}$")
    )]
    pub client_msg_id: Option<Lenient<String>>,
}

#[derive(Debug, Clone, Object)]
pub struct EditMessageRequest {
    /// 1..4000 characters after trimming surrounding whitespace (stored trimmed), no
    /// control characters (U+0000..U+001F, U+007F..U+009F) but line breaks (`\n`)
    /// and tabs (`\t`).
    #[oai(validator(
        pattern = r"^[\t\n \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000](?:[^\u0000-\u0008\u000b-\u001f\u007f-\u009f]{0,3998}[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?[\t\n \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    ))]
    pub content: Lenient<String>,
}

#[derive(Debug, Clone, Object)]
pub struct MessageDto {
    pub id: Uuid,
    pub chat_id: Uuid,
    pub sender_id: Uuid,
    pub content: String,
    /// Per-chat, gapless, strictly increasing: orders history, drives recovery.
    pub seq: i64,
    /// The sender's idempotency key, null when the send had none.
    #[oai(nullable)]
    pub client_msg_id: Option<String>,
    pub created_at: DateTime<Utc>,
    /// When the content was last edited; null if never.
    #[oai(nullable)]
    pub edited_at: Option<DateTime<Utc>>,
    /// When the message was pinned; null when it is not.
    #[oai(nullable)]
    pub pinned_at: Option<DateTime<Utc>>,
}

impl From<Message> for MessageDto {
    fn from(m: Message) -> Self {
        Self {
            id: m.id.into(),
            chat_id: m.chat_id.into(),
            sender_id: m.sender_id.into(),
            content: m.content,
            seq: m.seq,
            client_msg_id: m.client_msg_id.map(|c| c.into_inner()),
            created_at: m.created_at,
            edited_at: m.edited_at,
            pinned_at: m.pinned_at,
        }
    }
}

pub fn messages(ms: Vec<Message>) -> Vec<MessageDto> {
    ms.into_iter().map(Into::into).collect()
}
