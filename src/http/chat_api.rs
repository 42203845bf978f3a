//! `/api/chats/*` and `/api/messages/*`.

use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::OpenApi;
use uuid::Uuid;
use webchat_domain::UserId;

use super::auth_api::{ApiTags, Created, NoContent};
use super::dto::{
    messages, AddMemberRequest, ChatDetailDto, ChatDto, CreateChatRequest, EditMessageRequest,
    MessageDto, SendMessageRequest,
};
use super::error::ApiResult;
use super::limits::Lenient;
use super::BearerAuth;
use crate::usecase::UseCases;

pub struct ChatApi {
    pub uc: UseCases,
}

#[OpenApi(tag = "ApiTags::Chats")]
impl ChatApi {
    /// Create a chat; the creator is a member. Every member's open sockets are
    /// subscribed and receive `chat.joined`.
    #[oai(path = "/api/chats", method = "post")]
    async fn create(
        &self,
        auth: BearerAuth,
        body: Json<CreateChatRequest>,
    ) -> ApiResult<Created<ChatDetailDto>> {
        let user = auth.0.user_id;
        let members: Vec<UserId> = body.0.member_ids.0.iter().map(|id| (*id).into()).collect();
        let view = self
            .uc
            .chats
            .create(user, body.0.name.as_str(), &members)
            .await?;
        Ok(Created::Created(Json(view.into())))
    }

    /// One page of the chats the current user belongs to, ordered by id (UUIDv7:
    /// roughly oldest first): `limit` 1..200 (default 100) chats with an id greater
    /// than `after`. The next page starts after the last id received; a page
    /// shorter than `limit` is the last.
    #[oai(path = "/api/chats", method = "get")]
    async fn list(
        &self,
        auth: BearerAuth,
        /// 1..200, default 100.
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<Lenient<u32>>>,
        /// The last chat id of the previous page: only chats with a greater id
        /// (from the first when absent).
        after: Query<Option<Uuid>>,
    ) -> ApiResult<Json<Vec<ChatDto>>> {
        let user = auth.0.user_id;
        let chats = self
            .uc
            .chats
            .list(user, after.0.map(Into::into), limit.0.map(|l| l.0 as usize))
            .await?;
        Ok(Json(chats.into_iter().map(Into::into).collect()))
    }

    /// One chat with its members (members only).
    #[oai(path = "/api/chats/:id", method = "get")]
    async fn get(&self, auth: BearerAuth, id: Path<Uuid>) -> ApiResult<Json<ChatDetailDto>> {
        let user = auth.0.user_id;
        Ok(Json(self.uc.chats.get(user, id.0.into()).await?.into()))
    }

    /// Add a member (members only); their open sockets receive `chat.joined`.
    #[oai(path = "/api/chats/:id/members", method = "post")]
    async fn add_member(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<AddMemberRequest>,
    ) -> ApiResult<Json<ChatDetailDto>> {
        let user = auth.0.user_id;
        let view = self
            .uc
            .chats
            .add_member(user, id.0.into(), body.0.user_id.into())
            .await?;
        Ok(Json(view.into()))
    }

    /// History, newest first: `limit` 1..100 (default 50) messages with
    /// `seq < before_seq`. Served from the recent cache when it covers the page.
    #[oai(path = "/api/chats/:id/messages", method = "get")]
    async fn history(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        /// 1..100, default 50.
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<Lenient<u32>>>,
        /// Only messages with a smaller `seq` (all when absent).
        before_seq: Query<Option<i64>>,
    ) -> ApiResult<Json<Vec<MessageDto>>> {
        let user = auth.0.user_id;
        let limit = limit.0.map(|l| l.0 as usize);
        let page = self
            .uc
            .messages
            .history(user, id.0.into(), before_seq.0, limit)
            .await?;
        Ok(Json(messages(page)))
    }

    /// Send a message (members only). Throttled by the `strict` policy per user,
    /// shared with WebSocket sends. The same `client_msg_id` twice returns the same
    /// message.
    #[oai(path = "/api/chats/:id/messages", method = "post")]
    async fn send(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<SendMessageRequest>,
    ) -> ApiResult<Created<MessageDto>> {
        let user = auth.0.user_id;
        let message = self
            .uc
            .messages
            .send(
                user,
                id.0.into(),
                body.0.content.as_str(),
                body.0.client_msg_id.as_ref().map(Lenient::as_str),
            )
            .await?;
        Ok(Created::Created(Json(message.into())))
    }

    /// Pinned messages, newest pin first (members only).
    #[oai(path = "/api/chats/:id/pinned", method = "get")]
    async fn pinned(&self, auth: BearerAuth, id: Path<Uuid>) -> ApiResult<Json<Vec<MessageDto>>> {
        let user = auth.0.user_id;
        Ok(Json(messages(
            self.uc.messages.pinned(user, id.0.into()).await?,
        )))
    }
}

pub struct MessageApi {
    pub uc: UseCases,
}

#[OpenApi(tag = "ApiTags::Messages")]
impl MessageApi {
    /// One message (members of its chat only).
    #[oai(path = "/api/messages/:id", method = "get")]
    async fn get(&self, auth: BearerAuth, id: Path<Uuid>) -> ApiResult<Json<MessageDto>> {
        Ok(Json(
            self.uc
                .messages
                .get(auth.0.user_id, id.0.into())
                .await?
                .into(),
        ))
    }

    /// Edit a message (its author only).
    #[oai(path = "/api/messages/:id", method = "patch")]
    async fn edit(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<EditMessageRequest>,
    ) -> ApiResult<Json<MessageDto>> {
        let m = self
            .uc
            .messages
            .edit(auth.0.user_id, id.0.into(), body.0.content.as_str())
            .await?;
        Ok(Json(m.into()))
    }

    /// Delete a message (its author only).
    #[oai(path = "/api/messages/:id", method = "delete")]
    async fn delete(&self, auth: BearerAuth, id: Path<Uuid>) -> ApiResult<NoContent> {
        self.uc.messages.delete(auth.0.user_id, id.0.into()).await?;
        Ok(NoContent::NoContent)
    }

    /// Pin a message (members only).
    #[oai(path = "/api/messages/:id/pin", method = "post")]
    async fn pin(&self, auth: BearerAuth, id: Path<Uuid>) -> ApiResult<Json<MessageDto>> {
        let m = self
            .uc
            .messages
            .set_pinned(auth.0.user_id, id.0.into(), true)
            .await?;
        Ok(Json(m.into()))
    }

    /// Unpin a message (members only).
    #[oai(path = "/api/messages/:id/pin", method = "delete")]
    async fn unpin(&self, auth: BearerAuth, id: Path<Uuid>) -> ApiResult<Json<MessageDto>> {
        let m = self
            .uc
            .messages
            .set_pinned(auth.0.user_id, id.0.into(), false)
            .await?;
        Ok(Json(m.into()))
    }
}
