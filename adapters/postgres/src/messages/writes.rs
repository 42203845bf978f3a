//! The message writes, each one SQL statement (one round trip, its own implicit
//! transaction): the change and its pts, the chat's counters and the change log
//! move together or not at all.
//!
//! Lock order: a write to an existing message locks that message's row
//! (`FOR UPDATE`) before the chat row, and a send locks only the chat row, so writes
//! never deadlock. A write that finds its message deleted meanwhile (re-checked
//! after the row lock) changes nothing and takes no pts: the log has no holes.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use webchat_domain::{ChangeKind, NewMessage};

use crate::prepared::{Bind, Prepared};
use crate::rows::MessageRow;

/// A message row with the pts its change took (0 for a repeated send).
#[derive(Debug, QueryableByName)]
pub(super) struct MessageWithPts {
    #[diesel(embed)]
    pub message: MessageRow,
    #[diesel(sql_type = BigInt)]
    pub change_pts: i64,
}

const MESSAGE_COLUMNS: &str = "id, chat_id, sender_id, content, seq, client_msg_id, created_at, \
     edited_at, pinned_at, deleted_at, pts";

/// Stores a message with the chat's next seq and pts and logs its creation, or
/// returns the live message this sender already sent with this key. No row: the chat
/// does not exist or the sender is not a member. One statement: membership,
/// idempotency, seq and insert in one round trip.
pub(super) async fn insert(
    conn: &mut AsyncPgConnection,
    message: &NewMessage,
) -> QueryResult<Option<MessageWithPts>> {
    let sql = format!(
        "WITH member AS ( \
             SELECT 1 FROM chat_members WHERE chat_id = $2 AND user_id = $3 \
         ), existing AS ( \
             SELECT {MESSAGE_COLUMNS} FROM messages \
             WHERE $5::text IS NOT NULL AND chat_id = $2 AND sender_id = $3 \
               AND client_msg_id = $5 AND deleted_at IS NULL \
               AND EXISTS (SELECT 1 FROM member) \
         ), bump AS ( \
             UPDATE chats SET last_seq = last_seq + 1, last_pts = last_pts + 1 \
             WHERE id = $2 AND EXISTS (SELECT 1 FROM member) \
               AND NOT EXISTS (SELECT 1 FROM existing) \
             RETURNING last_seq, last_pts \
         ), inserted AS ( \
             INSERT INTO messages (id, chat_id, sender_id, content, seq, client_msg_id, created_at, pts) \
             SELECT $1, $2, $3, $4, last_seq, $5, $6, last_pts FROM bump \
             RETURNING {MESSAGE_COLUMNS} \
         ), logged AS ( \
             INSERT INTO chat_changes (chat_id, pts, kind, message_id) \
             SELECT $2, last_pts, 1, $1 FROM bump \
         ) \
         SELECT inserted.*, (SELECT last_pts FROM bump) AS change_pts FROM inserted \
         UNION ALL SELECT existing.*, 0::bigint AS change_pts FROM existing"
    );
    Prepared::new(
        &sql,
        vec![
            Bind::Uuid(*message.id.as_uuid()),
            Bind::Uuid(*message.chat_id.as_uuid()),
            Bind::Uuid(*message.sender_id.as_uuid()),
            Bind::Text(message.content.as_str()),
            Bind::OptText(message.client_msg_id.as_ref().map(|c| c.as_str())),
            Bind::Timestamptz(message.created_at),
        ],
    )
    .get_result(conn)
    .await
    .optional()
}

/// What an update of an existing message sets.
pub(super) enum Update<'a> {
    Content {
        content: &'a str,
        edited_at: DateTime<Utc>,
    },
    Pinned(Option<DateTime<Utc>>),
    Delete,
}

impl Update<'_> {
    fn kind(&self) -> ChangeKind {
        match self {
            Self::Content { .. } => ChangeKind::Edited,
            Self::Pinned(Some(_)) => ChangeKind::Pinned,
            Self::Pinned(None) => ChangeKind::Unpinned,
            Self::Delete => ChangeKind::Deleted,
        }
    }
}

/// Changes a live message, takes the chat's next pts and logs the change. Returns
/// the message as it is after the change (before it, for a delete), or nothing when
/// the message does not exist or is deleted.
pub(super) async fn update(
    conn: &mut AsyncPgConnection,
    id: uuid::Uuid,
    update: Update<'_>,
) -> QueryResult<Option<MessageWithPts>> {
    let kind = update.kind();
    let (set, returned) = match update {
        Update::Content { .. } => ("content = $3, edited_at = $4", "changed"),
        Update::Pinned(_) => ("pinned_at = $4", "changed"),
        Update::Delete => (
            "deleted_at = now(), content = '', pinned_at = NULL",
            "target",
        ),
    };
    let sql = format!(
        "WITH target AS ( \
             SELECT {MESSAGE_COLUMNS} FROM messages \
             WHERE id = $1 AND deleted_at IS NULL FOR UPDATE \
         ), bump AS ( \
             UPDATE chats SET last_pts = last_pts + 1 \
             WHERE id = (SELECT chat_id FROM target) RETURNING last_pts \
         ), changed AS ( \
             UPDATE messages SET {set}, pts = (SELECT last_pts FROM bump) \
             WHERE id = (SELECT id FROM target) \
             RETURNING {MESSAGE_COLUMNS} \
         ), logged AS ( \
             INSERT INTO chat_changes (chat_id, pts, kind, message_id) \
             SELECT chat_id, (SELECT last_pts FROM bump), $2, id FROM target \
         ) \
         SELECT {returned}.*, (SELECT last_pts FROM bump) AS change_pts FROM {returned}"
    );
    let (content, at) = match update {
        Update::Content { content, edited_at } => (content, Some(edited_at)),
        Update::Pinned(at) => ("", at),
        Update::Delete => ("", None),
    };
    Prepared::new(
        &sql,
        vec![
            Bind::Uuid(id),
            Bind::SmallInt(kind.code()),
            Bind::Text(content),
            Bind::OptTimestamptz(at),
        ],
    )
    .get_result(conn)
    .await
    .optional()
}
