//! Row types and their conversion to and from the domain model. Reading validates
//! again through the domain newtypes, so a row written by something else that breaks
//! the model's rules surfaces as `PortError::Corrupt` instead of leaking through.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;
use webchat_domain::{
    Chat, ChatName, ClientMsgId, DisplayName, Message, MessageContent, User, Username,
};
use webchat_ports::{PortError, PortResult};

use crate::schema::{chats, messages, users};

fn corrupt(what: &str, id: Uuid, e: impl std::fmt::Display) -> PortError {
    PortError::Corrupt(format!("{what} {id}: {e}"))
}

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
pub(crate) struct UserRow {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    pub password_hash: String,
    pub created_at: DateTime<Utc>,
}

impl From<&User> for UserRow {
    fn from(u: &User) -> Self {
        Self {
            id: *u.id.as_uuid(),
            username: u.username.as_str().to_owned(),
            display_name: u.display_name.as_str().to_owned(),
            password_hash: u.password_hash.clone(),
            created_at: u.created_at,
        }
    }
}

impl TryFrom<UserRow> for User {
    type Error = PortError;
    fn try_from(r: UserRow) -> PortResult<Self> {
        Ok(User {
            id: r.id.into(),
            username: Username::parse(&r.username).map_err(|e| corrupt("user", r.id, e))?,
            display_name: DisplayName::parse(&r.display_name)
                .map_err(|e| corrupt("user", r.id, e))?,
            password_hash: r.password_hash,
            created_at: r.created_at,
        })
    }
}

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = chats, check_for_backend(diesel::pg::Pg))]
pub(crate) struct ChatRow {
    pub id: Uuid,
    pub name: String,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
}

impl From<&Chat> for ChatRow {
    fn from(c: &Chat) -> Self {
        Self {
            id: *c.id.as_uuid(),
            name: c.name.as_str().to_owned(),
            created_by: *c.created_by.as_uuid(),
            created_at: c.created_at,
        }
    }
}

impl TryFrom<ChatRow> for Chat {
    type Error = PortError;
    fn try_from(r: ChatRow) -> PortResult<Self> {
        Ok(Chat {
            id: r.id.into(),
            name: ChatName::parse(&r.name).map_err(|e| corrupt("chat", r.id, e))?,
            created_by: r.created_by.into(),
            created_at: r.created_at,
        })
    }
}

#[derive(Debug, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = messages, check_for_backend(diesel::pg::Pg))]
pub(crate) struct MessageRow {
    pub id: Uuid,
    pub chat_id: Uuid,
    pub sender_id: Uuid,
    pub content: String,
    pub seq: i64,
    pub client_msg_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub edited_at: Option<DateTime<Utc>>,
    pub pinned_at: Option<DateTime<Utc>>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub pts: i64,
}

impl TryFrom<MessageRow> for Message {
    type Error = PortError;
    fn try_from(r: MessageRow) -> PortResult<Self> {
        // A tombstone's content is empty on purpose; a live one must be valid.
        let content = match r.deleted_at {
            Some(_) => String::new(),
            None => MessageContent::parse(&r.content)
                .map_err(|e| corrupt("message", r.id, e))?
                .into_inner(),
        };
        let client_msg_id = r
            .client_msg_id
            .as_deref()
            .map(ClientMsgId::parse)
            .transpose()
            .map_err(|e| corrupt("message", r.id, e))?;
        Ok(Message {
            id: r.id.into(),
            chat_id: r.chat_id.into(),
            sender_id: r.sender_id.into(),
            content,
            seq: r.seq,
            client_msg_id,
            created_at: r.created_at,
            edited_at: r.edited_at,
            pinned_at: r.pinned_at,
            version: r.pts,
        })
    }
}

/// Converts a batch of rows, failing on the first unreadable one.
pub(crate) fn convert_all<R, T>(rows: Vec<R>) -> PortResult<Vec<T>>
where
    T: TryFrom<R, Error = PortError>,
{
    rows.into_iter().map(T::try_from).collect()
}
