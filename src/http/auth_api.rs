//! `/api/auth/*`, `/api/sessions`, `/api/users/*`.

use poem::web::Data;
use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi, Tags};
use uuid::Uuid;

use super::dto::{
    ChangePasswordRequest, LoginRequest, OnlineUsersDto, PresenceDto, RefreshRequest,
    RegisterRequest, SessionDto, TokenResponse, UserDto,
};
use super::error::ApiResult;
use super::limits::Lenient;
use super::{BearerAuth, ClientIp};
use crate::usecase::auth::ClientInfo;
use crate::usecase::UseCases;

#[derive(Tags)]
pub enum ApiTags {
    /// Registration, login, tokens and sessions.
    Auth,
    /// Users and presence.
    Users,
    /// Chats and membership.
    Chats,
    /// Messages: history, send, edit, delete, pin.
    Messages,
    /// Liveness and backend health.
    Health,
}

#[derive(ApiResponse)]
pub enum Created<T: poem_openapi::types::ToJSON + Send + Sync> {
    /// Created.
    #[oai(status = 201)]
    Created(Json<T>),
}

#[derive(ApiResponse)]
pub enum NoContent {
    /// Done.
    #[oai(status = 204)]
    NoContent,
}

pub struct AuthApi {
    pub uc: UseCases,
}

#[OpenApi(tag = "ApiTags::Auth")]
impl AuthApi {
    /// Create a user. Throttled by the `strict` policy per client IP.
    #[oai(path = "/api/auth/register", method = "post")]
    async fn register(&self, body: Json<RegisterRequest>) -> ApiResult<Created<UserDto>> {
        let b = body.0;
        let user = self
            .uc
            .auth
            .register(
                b.username.as_str(),
                b.password.as_str(),
                b.display_name.as_ref().map(Lenient::as_str),
            )
            .await?;
        Ok(Created::Created(Json(user.into())))
    }

    /// Log in: creates a session (with IP and user agent) and returns a token pair.
    /// Unknown user and wrong password get the same 401 `invalid_credentials`.
    /// Throttled by the `strict` policy per client address (IPv6 per /64) and per
    /// account (known or not, the same 429). A user's 101st live session ends the
    /// one that expires first.
    #[oai(path = "/api/auth/login", method = "post")]
    async fn login(
        &self,
        body: Json<LoginRequest>,
        ip: Data<&ClientIp>,
        req: &Request,
    ) -> ApiResult<Json<TokenResponse>> {
        let client = ClientInfo {
            ip: Some(ip.0 .0.clone()),
            user_agent: req
                .header(poem::http::header::USER_AGENT)
                .map(str::to_owned),
        };
        let pair = self
            .uc
            .auth
            .login(body.0.username.as_str(), body.0.password.as_str(), client)
            .await?;
        Ok(Json(pair.into()))
    }

    /// Exchange a refresh token for a new pair. Rotates: the old refresh token stops
    /// working. Presenting a refresh token that was already used (reuse) is 401
    /// `invalid_token` and ends its whole session: every access and refresh token of
    /// it is refused from then on.
    #[oai(path = "/api/auth/refresh", method = "post")]
    async fn refresh(&self, body: Json<RefreshRequest>) -> ApiResult<Json<TokenResponse>> {
        let pair = self.uc.auth.refresh(body.0.refresh_token.as_str()).await?;
        Ok(Json(pair.into()))
    }

    /// Change the current user's password. `current_password` must be right (else
    /// 401 `invalid_credentials`); `new_password` follows the registration rules (400
    /// `validation`). Every other session of the user ends; the caller's stays.
    /// Throttled by the `strict` policy per user.
    #[oai(path = "/api/auth/password", method = "post")]
    async fn change_password(
        &self,
        auth: BearerAuth,
        body: Json<ChangePasswordRequest>,
    ) -> ApiResult<NoContent> {
        self.uc
            .auth
            .change_password(
                &auth.0,
                body.0.current_password.as_str(),
                body.0.new_password.as_str(),
            )
            .await?;
        Ok(NoContent::NoContent)
    }

    /// End the current session; its access token is refused from now on.
    #[oai(path = "/api/auth/logout", method = "post")]
    async fn logout(&self, auth: BearerAuth) -> ApiResult<NoContent> {
        self.uc.auth.logout(&auth.0).await?;
        Ok(NoContent::NoContent)
    }

    /// End every session of the current user.
    #[oai(path = "/api/auth/logout-all", method = "post")]
    async fn logout_all(&self, auth: BearerAuth) -> ApiResult<NoContent> {
        self.uc.auth.logout_all(&auth.0).await?;
        Ok(NoContent::NoContent)
    }

    /// End every session of the current user except the current one.
    #[oai(path = "/api/auth/logout-others", method = "post")]
    async fn logout_others(&self, auth: BearerAuth) -> ApiResult<NoContent> {
        self.uc.auth.logout_others(&auth.0).await?;
        Ok(NoContent::NoContent)
    }

    /// The current user's live sessions, oldest first.
    #[oai(path = "/api/sessions", method = "get")]
    async fn sessions(&self, auth: BearerAuth) -> ApiResult<Json<Vec<SessionDto>>> {
        let sessions = self.uc.auth.sessions(&auth.0).await?;
        Ok(Json(sessions.into_iter().map(Into::into).collect()))
    }

    /// Revoke one of the current user's sessions (404 for anyone else's).
    #[oai(path = "/api/sessions/:id", method = "delete")]
    async fn revoke_session(&self, auth: BearerAuth, id: Path<Uuid>) -> ApiResult<NoContent> {
        self.uc.auth.revoke_session(&auth.0, id.0.into()).await?;
        Ok(NoContent::NoContent)
    }
}

pub struct UserApi {
    pub uc: UseCases,
}

#[OpenApi(tag = "ApiTags::Users")]
impl UserApi {
    /// The current user.
    #[oai(path = "/api/users/me", method = "get")]
    async fn me(&self, auth: BearerAuth) -> ApiResult<Json<UserDto>> {
        Ok(Json(self.uc.auth.me(&auth.0).await?.into()))
    }

    /// Users whose name starts with `q` (without regard to case), ordered by name:
    /// `limit` 1..50 (default 20). For finding people to start a chat with.
    #[oai(path = "/api/users", method = "get")]
    async fn search(
        &self,
        _auth: BearerAuth,
        /// 1..32 of the characters a username may contain.
        #[oai(validator(min_length = 1, max_length = 32, pattern = r"^[A-Za-z0-9_.-]{1,32}$"))]
        q: Query<Lenient<String>>,
        /// 1..50, default 20.
        #[oai(validator(minimum(value = "1"), maximum(value = "50")))]
        limit: Query<Option<Lenient<u32>>>,
    ) -> ApiResult<Json<Vec<UserDto>>> {
        let users = self
            .uc
            .users
            .search(q.0.as_str(), limit.0.map(|l| l.0 as usize))
            .await?;
        Ok(Json(users.into_iter().map(Into::into).collect()))
    }

    /// One page of everyone online or away, on any instance, ordered by user id:
    /// `limit` 1..200 (default 100) users with an id greater than `after`; `count`
    /// is how many are online in all. The next page starts after the last
    /// `user_id` received; a page shorter than `limit` is the last.
    #[oai(path = "/api/users/online", method = "get")]
    async fn online(
        &self,
        _auth: BearerAuth,
        /// 1..200, default 100.
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<Lenient<u32>>>,
        /// The last `user_id` of the previous page: only users with a greater id
        /// (from the first when absent).
        after: Query<Option<Uuid>>,
    ) -> ApiResult<Json<OnlineUsersDto>> {
        let page = self
            .uc
            .presence
            .online(after.0.map(Into::into), limit.0.map(|l| l.0 as usize))
            .await?;
        Ok(Json(OnlineUsersDto {
            count: page.total,
            users: page.users.into_iter().map(Into::into).collect(),
        }))
    }

    /// One user by id (any signed-in user may look up a name).
    #[oai(path = "/api/users/:id", method = "get")]
    async fn user(&self, _auth: BearerAuth, id: Path<Uuid>) -> ApiResult<Json<UserDto>> {
        Ok(Json(self.uc.users.get(id.0.into()).await?.into()))
    }

    /// A user's presence; unknown or never seen users are `offline`.
    #[oai(path = "/api/users/:id/presence", method = "get")]
    async fn presence(&self, _auth: BearerAuth, id: Path<Uuid>) -> ApiResult<Json<PresenceDto>> {
        Ok(Json(self.uc.presence.get(id.0.into()).await?.into()))
    }
}
