//! Messages in PostgreSQL: the source of truth for history and per-chat `seq`.

#[cfg(test)]
mod plan_tests;
mod queries;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::pooled_connection::bb8::Pool;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use webchat_domain::{ChatId, Message, MessageContent, MessageId, NewMessage};
use webchat_ports::{InsertOutcome, MessageRepository, PortError, PortResult};

use crate::error::{pool_error, query_error, violated_constraint, IDEMPOTENCY_KEY};
use crate::rows::{convert_all, MessageRow, NewMessageRow};
use crate::schema::{chats, messages};

#[derive(Clone)]
pub struct PgMessageRepository {
    pool: Pool<AsyncPgConnection>,
}

impl PgMessageRepository {
    pub(crate) fn new(pool: Pool<AsyncPgConnection>) -> Self {
        Self { pool }
    }
}

/// What the insert transaction found or did.
enum Insert {
    Created(MessageRow),
    AlreadySent(MessageRow),
    NoSuchChat,
}

fn limit_of(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

fn one(row: Option<MessageRow>) -> PortResult<Option<Message>> {
    row.map(Message::try_from).transpose()
}

async fn find_sent(
    conn: &mut AsyncPgConnection,
    message: &NewMessage,
) -> Result<Option<MessageRow>, DieselError> {
    let Some(key) = &message.client_msg_id else {
        return Ok(None);
    };
    queries::by_client_msg_id(
        *message.chat_id.as_uuid(),
        *message.sender_id.as_uuid(),
        key.as_str().to_owned(),
    )
    .first(conn)
    .await
    .optional()
}

/// One transaction: the idempotency lookup, then the chat row's `last_seq + 1` (its
/// row lock makes concurrent senders to one chat, in any process, take turns), then
/// the insert. A failure rolls the increment back, so seqs stay gapless.
async fn insert_in_transaction(
    conn: &mut AsyncPgConnection,
    message: &NewMessage,
) -> Result<Insert, DieselError> {
    conn.transaction::<_, DieselError, _>(async |conn| {
        if let Some(existing) = find_sent(conn, message).await? {
            return Ok(Insert::AlreadySent(existing));
        }
        let seq: Option<i64> = diesel::update(chats::table.find(message.chat_id.as_uuid()))
            .set(chats::last_seq.eq(chats::last_seq + 1))
            .returning(chats::last_seq)
            .get_result(conn)
            .await
            .optional()?;
        let Some(seq) = seq else {
            return Ok(Insert::NoSuchChat);
        };
        // The stored row is returned (not the input) so callers see timestamps at the
        // database's microsecond precision, exactly as later reads will.
        let row = diesel::insert_into(messages::table)
            .values(NewMessageRow::new(message, seq))
            .returning(MessageRow::as_returning())
            .get_result(conn)
            .await?;
        Ok(Insert::Created(row))
    })
    .await
}

#[async_trait]
impl MessageRepository for PgMessageRepository {
    #[tracing::instrument(skip(self, message), fields(message_id = %message.id, chat_id = %message.chat_id))]
    async fn insert(&self, message: NewMessage) -> PortResult<InsertOutcome> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let (row, created) = match insert_in_transaction(&mut conn, &message).await {
            Ok(Insert::Created(row)) => (row, true),
            Ok(Insert::AlreadySent(row)) => (row, false),
            Ok(Insert::NoSuchChat) => return Err(PortError::NotFound),
            Err(e)
                if violated_constraint(&e)
                    == Some((&DatabaseErrorKind::UniqueViolation, IDEMPOTENCY_KEY)) =>
            {
                // A concurrent send with the same key committed between our lookup and
                // our insert; ours rolled back, theirs is the message.
                tracing::debug!("idempotent send raced; returning the stored message");
                let existing = find_sent(&mut conn, &message).await.map_err(query_error)?;
                // Gone again only if it was deleted in between: report the clash.
                let row = existing.ok_or_else(|| query_error(e))?;
                (row, false)
            }
            Err(e) => return Err(query_error(e)),
        };
        Ok(InsertOutcome {
            message: Message::try_from(row)?,
            created,
        })
    }

    #[tracing::instrument(skip(self))]
    async fn get(&self, id: MessageId) -> PortResult<Option<Message>> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let row = messages::table
            .find(id.as_uuid())
            .select(MessageRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(query_error)?;
        one(row)
    }

    #[tracing::instrument(skip(self))]
    async fn page(
        &self,
        chat: ChatId,
        before_seq: Option<i64>,
        limit: usize,
    ) -> PortResult<Vec<Message>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let rows = queries::history_page(*chat.as_uuid(), before_seq, limit_of(limit))
            .load(&mut conn)
            .await
            .map_err(query_error)?;
        convert_all(rows)
    }

    #[tracing::instrument(skip(self))]
    async fn since_seq(
        &self,
        chat: ChatId,
        after_seq: i64,
        limit: usize,
    ) -> PortResult<Vec<Message>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let rows = queries::since_seq(*chat.as_uuid(), after_seq, limit_of(limit))
            .load(&mut conn)
            .await
            .map_err(query_error)?;
        convert_all(rows)
    }

    #[tracing::instrument(skip(self, content))]
    async fn update_content(
        &self,
        id: MessageId,
        content: &MessageContent,
        edited_at: DateTime<Utc>,
    ) -> PortResult<Option<Message>> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let row = diesel::update(messages::table.find(id.as_uuid()))
            .set((
                messages::content.eq(content.as_str()),
                messages::edited_at.eq(Some(edited_at)),
            ))
            .returning(MessageRow::as_returning())
            .get_result(&mut conn)
            .await
            .optional()
            .map_err(query_error)?;
        one(row)
    }

    #[tracing::instrument(skip(self))]
    async fn delete(&self, id: MessageId) -> PortResult<Option<Message>> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        // A hard delete; chats.last_seq is untouched, so the seq is never reused.
        let row = diesel::delete(messages::table.find(id.as_uuid()))
            .returning(MessageRow::as_returning())
            .get_result(&mut conn)
            .await
            .optional()
            .map_err(query_error)?;
        one(row)
    }

    #[tracing::instrument(skip(self))]
    async fn set_pinned(
        &self,
        id: MessageId,
        pinned_at: Option<DateTime<Utc>>,
    ) -> PortResult<Option<Message>> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let row = diesel::update(messages::table.find(id.as_uuid()))
            .set(messages::pinned_at.eq(pinned_at))
            .returning(MessageRow::as_returning())
            .get_result(&mut conn)
            .await
            .optional()
            .map_err(query_error)?;
        one(row)
    }

    #[tracing::instrument(skip(self))]
    async fn pinned(&self, chat: ChatId) -> PortResult<Vec<Message>> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let rows = queries::pinned(*chat.as_uuid())
            .load(&mut conn)
            .await
            .map_err(query_error)?;
        convert_all(rows)
    }
}
