//! What each client frame does. Every frame gets at most one direct reply (an
//! `ack`, `joined`, `pong` or `error` frame); refusals never close the socket.

use webchat_domain::{ChatHead, ChatId};

use super::connection::Connection;
use super::protocol::{self, ClientFrame, FrameError, ServerFrame};
use super::registry::ConnId;
use crate::usecase::message::Recovery;
use crate::usecase::throttle::{PolicyName, SEND_ROUTE};
use crate::usecase::AppResult;

/// The reply to a frame that failed, naming the chat and send it was about.
fn refused(
    e: &crate::usecase::AppError,
    chat_id: Option<ChatId>,
    client_msg_id: Option<&str>,
) -> String {
    FrameError::from_app(e)
        .about(chat_id, client_msg_id)
        .to_frame()
        .render()
}

impl Connection {
    /// Handles one text frame; returns the direct reply, if any.
    pub(super) async fn handle(&mut self, conn: ConnId, text: &str) -> Option<String> {
        let frame = match protocol::parse(text) {
            Ok(frame) => frame,
            Err(e) => return Some(e.to_frame().render()),
        };
        match frame {
            ClientFrame::Ping => Some(ServerFrame::Pong.render()),
            ClientFrame::Join {
                chat_id,
                since_seq,
                since_pts,
            } => Some(match self.join(conn, chat_id, since_seq, since_pts).await {
                Ok((recovery, position)) => {
                    ServerFrame::joined(chat_id, &recovery, position).render()
                }
                Err(e) => refused(&e, Some(chat_id), None),
            }),
            ClientFrame::Leave { chat_id } => {
                self.gateway.registry.leave(conn, chat_id).await;
                None
            }
            ClientFrame::Send {
                chat_id,
                content,
                client_msg_id,
            } => {
                let client_msg_id = client_msg_id.as_deref();
                Some(match self.send(chat_id, &content, client_msg_id).await {
                    Ok(message) => ServerFrame::ack(client_msg_id, &message).render(),
                    Err(e) => refused(&e, Some(chat_id), client_msg_id),
                })
            }
            ClientFrame::Typing { chat_id } => self.typing(conn, chat_id).await,
            ClientFrame::Status { status } => {
                self.gateway.uc.presence.set_status(self.user, status).await;
                None
            }
        }
    }

    /// Puts the socket in a chat it belongs to and recovers what it missed up to
    /// its position there (what follows arrives live).
    async fn join(
        &self,
        conn: ConnId,
        chat_id: ChatId,
        since_seq: Option<i64>,
        since_pts: Option<i64>,
    ) -> AppResult<(Recovery, Option<ChatHead>)> {
        let uc = &self.gateway.uc;
        uc.chats.ensure_member(self.user, chat_id).await?;
        let position = match self.gateway.registry.join(conn, chat_id).await {
            Ok(position) => position,
            Err(e) => {
                tracing::warn!(error = %e, "event bus unavailable on join");
                None
            }
        };
        let recovery = uc
            .messages
            .recover(self.user, chat_id, since_seq, since_pts, position)
            .await?;
        Ok((recovery, position))
    }

    /// The REST send's use case, counted against the same per-user limit.
    async fn send(
        &self,
        chat_id: ChatId,
        content: &str,
        client_msg_id: Option<&str>,
    ) -> AppResult<webchat_domain::Message> {
        let uc = &self.gateway.uc;
        let subject = format!("user:{}", self.user);
        uc.throttle
            .hit(PolicyName::Strict, &subject, SEND_ROUTE)
            .await?;
        uc.messages
            .send(self.user, chat_id, content, client_msg_id)
            .await
    }

    /// Relays typing to the chat's other members, at most every 2 s per chat.
    async fn typing(&mut self, conn: ConnId, chat_id: ChatId) -> Option<String> {
        if !self.typing.allows(chat_id) {
            return None;
        }
        let uc = &self.gateway.uc;
        if !self.gateway.registry.is_joined(conn, chat_id) {
            if let Err(e) = uc.chats.ensure_member(self.user, chat_id).await {
                return Some(refused(&e, Some(chat_id), None));
            }
        }
        self.typing.relayed(chat_id);
        uc.messages.typing(self.user, chat_id).await;
        None
    }
}
