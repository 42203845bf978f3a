//! The message reads, as diesel queries, so the repository runs them and the plan
//! tests EXPLAIN exactly the same statements.

use diesel::dsl::{AsSelect, SqlTypeOf};
use diesel::pg::Pg;
use diesel::prelude::*;
use uuid::Uuid;

use crate::rows::MessageRow;
use crate::schema::messages;

pub(crate) type MessageQuery =
    messages::BoxedQuery<'static, Pg, SqlTypeOf<AsSelect<MessageRow, Pg>>>;

/// The chat's live messages (tombstones of deleted ones are only for the change log).
fn of_chat(chat: Uuid) -> MessageQuery {
    messages::table
        .filter(messages::chat_id.eq(chat))
        .filter(messages::deleted_at.is_null())
        .select(MessageRow::as_select())
        .into_boxed()
}

/// Newest first below `before_seq`: a backward scan of the `(chat_id, seq)` index.
pub(crate) fn history_page(chat: Uuid, before_seq: Option<i64>, limit: i64) -> MessageQuery {
    let query = of_chat(chat);
    let query = match before_seq {
        Some(before) => query.filter(messages::seq.lt(before)),
        None => query,
    };
    query.order(messages::seq.desc()).limit(limit)
}

/// Oldest first above `after_seq`: a forward scan of the `(chat_id, seq)` index.
pub(crate) fn since_seq(chat: Uuid, after_seq: i64, limit: i64) -> MessageQuery {
    of_chat(chat)
        .filter(messages::seq.gt(after_seq))
        .order(messages::seq.asc())
        .limit(limit)
}

/// Newest pin first, from the partial index on pinned messages.
pub(crate) fn pinned(chat: Uuid) -> MessageQuery {
    of_chat(chat)
        .filter(messages::pinned_at.is_not_null())
        .order((messages::pinned_at.desc(), messages::seq.desc()))
}

/// The message a sender already sent to a chat under an idempotency key.
pub(crate) fn by_client_msg_id(chat: Uuid, sender: Uuid, key: String) -> MessageQuery {
    of_chat(chat)
        .filter(messages::sender_id.eq(sender))
        .filter(messages::client_msg_id.eq(key))
}
