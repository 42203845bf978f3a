//! Messages in PostgreSQL: the source of truth for history, per-chat `seq` and the
//! change sequence (`pts`) with its log.

#[cfg(test)]
mod plan_tests;
mod queries;
mod writes;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::DatabaseErrorKind;
use diesel::sql_types::{BigInt, Nullable, SmallInt};
use diesel_async::pooled_connection::bb8::Pool;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;
use webchat_domain::{
    ChangeKind, ChatChange, ChatHead, ChatId, Message, MessageContent, MessageId, NewMessage,
};
use webchat_ports::{ChangePage, Changed, InsertOutcome, MessageRepository, PortError, PortResult};

use crate::error::{pool_error, query_error, violated_constraint, IDEMPOTENCY_KEY};
use crate::prepared::{Bind, Prepared};
use crate::rows::{convert_all, MessageRow};
use crate::schema::{chats, messages};
use writes::{MessageWithPts, Update};

#[derive(Clone)]
pub struct PgMessageRepository {
    pool: Pool<AsyncPgConnection>,
}

impl PgMessageRepository {
    pub(crate) fn new(pool: Pool<AsyncPgConnection>) -> Self {
        Self { pool }
    }

    async fn update(&self, id: MessageId, update: Update<'_>) -> PortResult<Option<Changed>> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let row = writes::update(&mut conn, *id.as_uuid(), update)
            .await
            .map_err(query_error)?;
        row.map(changed).transpose()
    }
}

fn limit_of(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

fn one(row: Option<MessageRow>) -> PortResult<Option<Message>> {
    row.map(Message::try_from).transpose()
}

fn changed(row: MessageWithPts) -> PortResult<Changed> {
    Ok(Changed {
        message: Message::try_from(row.message)?,
        pts: row.change_pts,
    })
}

async fn find_sent(
    conn: &mut AsyncPgConnection,
    message: &NewMessage,
) -> Result<Option<MessageRow>, diesel::result::Error> {
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

/// One entry of a change page: the chat's head on every row (one snapshot), the
/// change and its message when the chat has changes in the range.
#[derive(Debug, QueryableByName)]
struct ChangeRow {
    #[diesel(sql_type = BigInt)]
    last_seq: i64,
    #[diesel(sql_type = BigInt)]
    last_pts: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    change_pts: Option<i64>,
    #[diesel(sql_type = Nullable<SmallInt>)]
    kind: Option<i16>,
    #[diesel(embed)]
    message: Option<MessageRow>,
}

#[async_trait]
impl MessageRepository for PgMessageRepository {
    #[tracing::instrument(skip(self, message), fields(message_id = %message.id, chat_id = %message.chat_id))]
    async fn insert(&self, message: NewMessage) -> PortResult<InsertOutcome> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        match writes::insert(&mut conn, &message).await {
            Ok(Some(row)) => Ok(InsertOutcome {
                created: row.change_pts > 0,
                pts: row.change_pts,
                message: Message::try_from(row.message)?,
            }),
            Ok(None) => Err(PortError::NotFound),
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
                Ok(InsertOutcome {
                    message: Message::try_from(row)?,
                    created: false,
                    pts: 0,
                })
            }
            Err(e) => Err(query_error(e)),
        }
    }

    #[tracing::instrument(skip(self))]
    async fn get(&self, id: MessageId) -> PortResult<Option<Message>> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let row = messages::table
            .find(id.as_uuid())
            .filter(messages::deleted_at.is_null())
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
    ) -> PortResult<Option<Changed>> {
        let update = Update::Content {
            content: content.as_str(),
            edited_at,
        };
        self.update(id, update).await
    }

    #[tracing::instrument(skip(self))]
    async fn delete(&self, id: MessageId) -> PortResult<Option<Changed>> {
        self.update(id, Update::Delete).await
    }

    #[tracing::instrument(skip(self))]
    async fn set_pinned(
        &self,
        id: MessageId,
        pinned_at: Option<DateTime<Utc>>,
    ) -> PortResult<Option<Changed>> {
        self.update(id, Update::Pinned(pinned_at)).await
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

    #[tracing::instrument(skip(self))]
    async fn changes_since(
        &self,
        chat: ChatId,
        after_pts: i64,
        limit: usize,
    ) -> PortResult<ChangePage> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        // One statement, one snapshot: the head and the changes agree.
        let rows: Vec<ChangeRow> = Prepared::new(
            "SELECT h.last_seq, h.last_pts, c.pts AS change_pts, c.kind, m.id, m.chat_id, \
                    m.sender_id, m.content, m.seq, m.client_msg_id, m.created_at, \
                    m.edited_at, m.pinned_at, m.deleted_at, m.pts \
             FROM chats h \
             LEFT JOIN LATERAL ( \
                 SELECT pts, kind, message_id FROM chat_changes \
                 WHERE chat_id = h.id AND pts > $2 ORDER BY pts LIMIT $3 \
             ) c ON true \
             LEFT JOIN messages m ON m.id = c.message_id \
             WHERE h.id = $1 \
             ORDER BY c.pts",
            vec![
                Bind::Uuid(*chat.as_uuid()),
                Bind::BigInt(after_pts),
                Bind::BigInt(limit_of(limit)),
            ],
        )
        .load(&mut conn)
        .await
        .map_err(query_error)?;
        let mut page = ChangePage::default();
        for row in rows {
            page.head = ChatHead {
                seq: row.last_seq,
                pts: row.last_pts,
            };
            let (Some(pts), Some(kind), Some(message)) = (row.change_pts, row.kind, row.message)
            else {
                continue;
            };
            let kind = ChangeKind::from_code(kind)
                .ok_or_else(|| PortError::Corrupt(format!("change kind {kind}")))?;
            let deleted = message.deleted_at.is_some();
            page.changes.push(ChatChange {
                chat_id: chat,
                pts,
                kind,
                message: Message::try_from(message)?,
                deleted,
            });
        }
        Ok(page)
    }

    #[tracing::instrument(skip(self, chats), fields(chats = chats.len()))]
    async fn heads(&self, chats: &[ChatId]) -> PortResult<Vec<ChatHead>> {
        if chats.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Uuid> = chats.iter().map(|c| *c.as_uuid()).collect();
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let rows: Vec<(Uuid, i64, i64)> = chats::table
            .filter(chats::id.eq_any(&ids))
            .select((chats::id, chats::last_seq, chats::last_pts))
            .load(&mut conn)
            .await
            .map_err(query_error)?;
        let found: std::collections::HashMap<Uuid, ChatHead> = rows
            .into_iter()
            .map(|(id, seq, pts)| (id, ChatHead { seq, pts }))
            .collect();
        Ok(ids
            .iter()
            .map(|id| found.get(id).copied().unwrap_or_default())
            .collect())
    }
}
