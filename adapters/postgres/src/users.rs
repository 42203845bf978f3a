//! Users in PostgreSQL.

use async_trait::async_trait;
use diesel::prelude::*;
use diesel_async::pooled_connection::bb8::Pool;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use webchat_domain::{User, UserId, Username};
use webchat_ports::{PortError, PortResult, UserRepository};

use crate::error::{pool_error, query_error};
use crate::rows::UserRow;
use crate::schema::users;

diesel::define_sql_function! {
    /// SQL `lower(text)`; usernames are ASCII, so it is exactly ASCII case folding.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

#[derive(Clone)]
pub struct PgUserRepository {
    pool: Pool<AsyncPgConnection>,
}

impl PgUserRepository {
    pub(crate) fn new(pool: Pool<AsyncPgConnection>) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl UserRepository for PgUserRepository {
    #[tracing::instrument(skip(self, user), fields(user_id = %user.id))]
    async fn create(&self, user: &User) -> PortResult<()> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        // Both a taken name (case-insensitive index) and a taken id become Conflict.
        diesel::insert_into(users::table)
            .values(UserRow::from(user))
            .execute(&mut conn)
            .await
            .map_err(query_error)?;
        Ok(())
    }

    #[tracing::instrument(skip(self))]
    async fn get(&self, id: UserId) -> PortResult<Option<User>> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let row = users::table
            .find(id.as_uuid())
            .select(UserRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(query_error)?;
        row.map(User::try_from).transpose()
    }

    #[tracing::instrument(skip(self))]
    async fn find_by_username(&self, username: &Username) -> PortResult<Option<User>> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        // The same expression as the unique index, so this is an index lookup.
        let row = users::table
            .filter(lower(users::username).eq(lower(username.as_str())))
            .select(UserRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(query_error)?;
        row.map(User::try_from).transpose()
    }

    #[tracing::instrument(skip(self, password_hash))]
    async fn set_password_hash(&self, id: UserId, password_hash: &str) -> PortResult<()> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let updated = diesel::update(users::table.find(id.as_uuid()))
            .set(users::password_hash.eq(password_hash))
            .execute(&mut conn)
            .await
            .map_err(query_error)?;
        if updated == 0 {
            return Err(PortError::NotFound);
        }
        Ok(())
    }

    #[tracing::instrument(skip(self))]
    async fn search(&self, prefix: &str, limit: usize) -> PortResult<Vec<User>> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        // `lower(username) LIKE 'prefix%'` over the text_pattern_ops index; the
        // prefix's own wildcards are escaped so they match literally.
        let mut pattern = String::with_capacity(prefix.len() + 1);
        for c in prefix.to_ascii_lowercase().chars() {
            if matches!(c, '%' | '_' | '\\') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push('%');
        let rows = users::table
            .filter(lower(users::username).like(pattern))
            .order(lower(users::username))
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .select(UserRow::as_select())
            .load(&mut conn)
            .await
            .map_err(query_error)?;
        rows.into_iter().map(User::try_from).collect()
    }
}
