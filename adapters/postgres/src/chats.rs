//! Chats and membership in PostgreSQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::pooled_connection::bb8::Pool;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;
use webchat_domain::{Chat, ChatId, UserId};
use webchat_ports::{AddMember, ChatRepository, Memberships, PortError, PortResult};

use crate::error::{pool_error, query_error};
use crate::rows::{convert_all, ChatRow};
use crate::schema::{chat_members, chats};

#[derive(Insertable)]
#[diesel(table_name = chat_members)]
struct MemberRow {
    chat_id: Uuid,
    user_id: Uuid,
}

/// A chat's member count and whether one user is among them.
#[derive(QueryableByName)]
struct Occupancy {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    members: i64,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    is_member: bool,
}

#[derive(Clone)]
pub struct PgChatRepository {
    pool: Pool<AsyncPgConnection>,
}

impl PgChatRepository {
    pub(crate) fn new(pool: Pool<AsyncPgConnection>) -> Self {
        Self { pool }
    }
}

/// The first occurrence of each member, in the order given: that order is the join
/// order `members` reports.
fn distinct_in_order(members: &[UserId]) -> Vec<UserId> {
    let mut seen = std::collections::HashSet::with_capacity(members.len());
    members
        .iter()
        .copied()
        .filter(|m| seen.insert(*m))
        .collect()
}

#[async_trait]
impl ChatRepository for PgChatRepository {
    #[tracing::instrument(skip(self, chat, members), fields(chat_id = %chat.id, members = members.len()))]
    async fn create(&self, chat: &Chat, members: &[UserId]) -> PortResult<()> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let chat_row = ChatRow::from(chat);
        let member_rows: Vec<MemberRow> = distinct_in_order(members)
            .into_iter()
            // joined_at is the database's now(), as for later members, so
            // `memberships_since` compares times of one clock.
            .map(|user| MemberRow {
                chat_id: chat_row.id,
                user_id: *user.as_uuid(),
            })
            .collect();
        conn.transaction::<_, diesel::result::Error, _>(async |conn| {
            diesel::insert_into(chats::table)
                .values(&chat_row)
                .execute(conn)
                .await?;
            if !member_rows.is_empty() {
                // One multi-row insert: its identity values follow the VALUES order.
                diesel::insert_into(chat_members::table)
                    .values(&member_rows)
                    .execute(conn)
                    .await?;
            }
            Ok(())
        })
        .await
        .map_err(query_error)
    }

    #[tracing::instrument(skip(self))]
    async fn get(&self, id: ChatId) -> PortResult<Option<Chat>> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let row = chats::table
            .find(id.as_uuid())
            .select(ChatRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(query_error)?;
        row.map(Chat::try_from).transpose()
    }

    #[tracing::instrument(skip(self))]
    async fn members(&self, chat: ChatId) -> PortResult<Vec<UserId>> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let ids: Vec<Uuid> = chat_members::table
            .filter(chat_members::chat_id.eq(chat.as_uuid()))
            .order(chat_members::join_order.asc())
            .select(chat_members::user_id)
            .load(&mut conn)
            .await
            .map_err(query_error)?;
        Ok(ids.into_iter().map(UserId::from).collect())
    }

    #[tracing::instrument(skip(self))]
    async fn is_member(&self, chat: ChatId, user: UserId) -> PortResult<bool> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        diesel::select(diesel::dsl::exists(
            chat_members::table.find((chat.as_uuid(), user.as_uuid())),
        ))
        .get_result(&mut conn)
        .await
        .map_err(query_error)
    }

    #[tracing::instrument(skip(self))]
    async fn add_member(
        &self,
        chat: ChatId,
        user: UserId,
        max_members: usize,
    ) -> PortResult<AddMember> {
        let cap = i64::try_from(max_members).unwrap_or(i64::MAX);
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let outcome = conn
            .transaction::<_, diesel::result::Error, _>(async |conn| {
                // The chat row's lock makes concurrent adds to one chat take turns:
                // each counts (in a statement of its own, so with a snapshot taken
                // after the lock) what the previous one committed. NO KEY UPDATE
                // conflicts with itself and with the sends' `last_seq` update, not
                // with the foreign-key checks of rows that reference the chat.
                let found: Option<Uuid> = chats::table
                    .find(chat.as_uuid())
                    .select(chats::id)
                    .for_no_key_update()
                    .first(conn)
                    .await
                    .optional()?;
                if found.is_none() {
                    return Ok(None);
                }
                let occupancy: Occupancy = diesel::sql_query(
                    "SELECT count(*) AS members, coalesce(bool_or(user_id = $2), false) AS is_member \
                     FROM chat_members WHERE chat_id = $1",
                )
                .bind::<diesel::sql_types::Uuid, _>(chat.as_uuid())
                .bind::<diesel::sql_types::Uuid, _>(user.as_uuid())
                .get_result(conn)
                .await?;
                if occupancy.is_member {
                    return Ok(Some(AddMember::AlreadyMember));
                }
                if occupancy.members >= cap {
                    return Ok(Some(AddMember::Full));
                }
                let inserted = diesel::insert_into(chat_members::table)
                    .values((
                        chat_members::chat_id.eq(chat.as_uuid()),
                        chat_members::user_id.eq(user.as_uuid()),
                        chat_members::joined_at.eq(diesel::dsl::now),
                    ))
                    .on_conflict_do_nothing()
                    .execute(conn)
                    .await?;
                Ok(Some(if inserted == 1 {
                    AddMember::Added
                } else {
                    AddMember::AlreadyMember
                }))
            })
            .await
            // A foreign-key violation (no such user) is NotFound.
            .map_err(query_error)?;
        outcome.ok_or(PortError::NotFound)
    }

    #[tracing::instrument(skip(self))]
    async fn chats_page(
        &self,
        user: UserId,
        after: Option<ChatId>,
        limit: usize,
    ) -> PortResult<Vec<Chat>> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        // Walks chat_members (user_id, chat_id) from the cursor.
        let mut query = chats::table
            .inner_join(chat_members::table)
            .filter(chat_members::user_id.eq(user.as_uuid()))
            .into_boxed();
        if let Some(after) = after {
            query = query.filter(chat_members::chat_id.gt(*after.as_uuid()));
        }
        let rows: Vec<ChatRow> = query
            .order(chat_members::chat_id.asc())
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .select(ChatRow::as_select())
            .load(&mut conn)
            .await
            .map_err(query_error)?;
        convert_all(rows)
    }

    #[tracing::instrument(skip(self))]
    async fn chats_for_user(&self, user: UserId) -> PortResult<Vec<Chat>> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let rows: Vec<ChatRow> = chats::table
            .inner_join(chat_members::table)
            .filter(chat_members::user_id.eq(user.as_uuid()))
            .order((chats::created_at.asc(), chats::id.asc()))
            .select(ChatRow::as_select())
            .load(&mut conn)
            .await
            .map_err(query_error)?;
        convert_all(rows)
    }

    /// Ids only (no chat row is decoded): one row per membership.
    async fn chat_ids_for_user(&self, user: UserId) -> PortResult<Vec<ChatId>> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let ids: Vec<Uuid> = chats::table
            .inner_join(chat_members::table)
            .filter(chat_members::user_id.eq(user.as_uuid()))
            .order((chats::created_at.asc(), chats::id.asc()))
            .select(chats::id)
            .load(&mut conn)
            .await
            .map_err(query_error)?;
        Ok(ids.into_iter().map(ChatId::from).collect())
    }

    #[tracing::instrument(skip(self, users), fields(users = users.len()))]
    async fn memberships_since(
        &self,
        users: &[UserId],
        since: DateTime<Utc>,
    ) -> PortResult<Memberships> {
        let ids: Vec<Uuid> = users.iter().map(|u| *u.as_uuid()).collect();
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let as_of: DateTime<Utc> =
            diesel::select(diesel::dsl::sql::<diesel::sql_types::Timestamptz>("now()"))
                .get_result(&mut conn)
                .await
                .map_err(query_error)?;
        let rows: Vec<(Uuid, Uuid)> = if ids.is_empty() {
            Vec::new()
        } else {
            chat_members::table
                .filter(chat_members::user_id.eq_any(&ids))
                .filter(chat_members::joined_at.ge(since))
                .select((chat_members::user_id, chat_members::chat_id))
                .load(&mut conn)
                .await
                .map_err(query_error)?
        };
        Ok(Memberships {
            added: rows
                .into_iter()
                .map(|(user, chat)| (UserId::from(user), ChatId::from(chat)))
                .collect(),
            as_of,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_members_keep_their_first_position() {
        let (a, b, c) = (UserId::new(), UserId::new(), UserId::new());
        assert_eq!(distinct_in_order(&[b, a, b, c, a]), vec![b, a, c]);
    }
}
