//! Users in PostgreSQL.

use async_trait::async_trait;
use diesel::prelude::*;
use diesel_async::pooled_connection::bb8::Pool;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use webchat_domain::{User, UserId, Username};
use webchat_ports::{PortResult, UserRepository};

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
}
