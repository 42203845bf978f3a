//! What each client frame does. Every frame gets at most one direct reply (an
//! `ack`, `joined`, `pong` or `error` frame); refusals never close the socket. The
//! checks that need no I/O (parsing, the frame budget, the typing gate) happen at
//! once; the rest is a future the connection loop polls beside its deliveries.

use tokio_tungstenite::tungstenite::Utf8Bytes;
use webchat_domain::{ChatHead, ChatId, PresenceStatus, UserId};

use super::budget::FRAMES_PER_SEC;
use super::connection::{Connection, Step};
use super::protocol::{self, ClientFrame, FrameError, ServerFrame};
use super::registry::{ConnId, SocketRegistry};
use super::transport::Inbound;
use crate::usecase::message::Recovery;
use crate::usecase::throttle::{PolicyName, HISTORY_ROUTE, SEND_ROUTE, WS_ROUTE};
use crate::usecase::{AppError, AppResult, UseCases};

fn text(frame: ServerFrame<'_>) -> Utf8Bytes {
    frame.render().into()
}

/// The reply to a frame that failed, naming the chat and send it was about.
fn refused(e: &AppError, chat_id: Option<ChatId>, client_msg_id: Option<&str>) -> Utf8Bytes {
    text(
        FrameError::from_app(e)
            .about(chat_id, client_msg_id)
            .to_frame(),
    )
}

pub(super) fn binary_refused() -> Utf8Bytes {
    text(FrameError::new("bad_frame", "binary frames are not supported").to_frame())
}

impl Connection {
    /// Handles one client frame: a reply now, work for the loop to run, or nothing.
    /// The frame budget is spent before the frame is even parsed.
    pub(super) fn handle(&mut self, conn: ConnId, input: Inbound) -> Step {
        if !self.budget.take() {
            let message = format!("at most {FRAMES_PER_SEC} frames per second");
            return Step::Reply(text(
                FrameError::new("too_many_requests", message).to_frame(),
            ));
        }
        let parsed = match input {
            Inbound::Text(raw) => protocol::parse(raw.as_str()),
            Inbound::Event { name, payload } => protocol::parse_event(&name, payload),
        };
        let frame = match parsed {
            Ok(frame) => frame,
            Err(e) => return Step::Reply(text(e.to_frame())),
        };
        let uc = self.gateway.uc.clone();
        let registry = self.gateway.registry.clone();
        let user = self.user;
        match frame {
            ClientFrame::Ping => Step::Reply(text(ServerFrame::Pong)),
            ClientFrame::Join {
                chat_id,
                since_seq,
                since_pts,
            } => Step::Work(Box::pin(async move {
                Some(
                    match join(&uc, &registry, user, conn, chat_id, since_seq, since_pts).await {
                        Ok((recovery, position)) => {
                            text(ServerFrame::joined(chat_id, &recovery, position))
                        }
                        Err(e) => refused(&e, Some(chat_id), None),
                    },
                )
            })),
            ClientFrame::Leave { chat_id } => Step::Work(Box::pin(async move {
                registry.leave(conn, chat_id).await;
                None
            })),
            ClientFrame::Send {
                chat_id,
                content,
                client_msg_id,
            } => Step::Work(Box::pin(async move {
                let key = client_msg_id.as_deref();
                Some(match send(&uc, user, chat_id, &content, key).await {
                    Ok(message) => text(ServerFrame::ack(key, &message)),
                    Err(e) => refused(&e, Some(chat_id), key),
                })
            })),
            ClientFrame::Typing { chat_id } => self.typing(conn, chat_id, uc, registry),
            ClientFrame::Status { status } => Step::Work(Box::pin(async move {
                match set_status(&uc, user, status).await {
                    Ok(()) => None,
                    Err(e) => Some(refused(&e, None, None)),
                }
            })),
        }
    }

    /// Relays typing to the chat's other members, at most every 2 s per chat.
    fn typing(
        &mut self,
        conn: ConnId,
        chat_id: ChatId,
        uc: UseCases,
        registry: std::sync::Arc<SocketRegistry>,
    ) -> Step {
        if !self.typing.allows(chat_id) {
            return Step::Nothing;
        }
        self.typing.relayed(chat_id);
        let user = self.user;
        let joined = registry.is_joined(conn, chat_id);
        Step::Work(Box::pin(async move {
            if !joined {
                if let Err(e) = uc.chats.ensure_member(user, chat_id).await {
                    return Some(refused(&e, Some(chat_id), None));
                }
            }
            uc.messages.typing(user, chat_id).await;
            None
        }))
    }
}

/// Puts the socket in a chat it belongs to and recovers what it missed up to its
/// position there (what follows arrives live).
async fn join(
    uc: &UseCases,
    registry: &SocketRegistry,
    user: UserId,
    conn: ConnId,
    chat_id: ChatId,
    since_seq: Option<i64>,
    since_pts: Option<i64>,
) -> AppResult<(Recovery, Option<ChatHead>)> {
    if since_seq.is_some() || since_pts.is_some() {
        // A recovery reads history: it spends the budget REST history reads spend.
        spend(uc, PolicyName::Default, user, HISTORY_ROUTE).await?;
    }
    uc.chats.ensure_member(user, chat_id).await?;
    let position = match registry.join(conn, chat_id).await {
        Ok(position) => position,
        Err(e) => {
            tracing::warn!(error = %e, "event bus unavailable on join");
            None
        }
    };
    let recovery = uc
        .messages
        .recover(user, chat_id, since_seq, since_pts, position)
        .await?;
    Ok((recovery, position))
}

/// The REST send's use case, counted against the same per-user limit.
async fn send(
    uc: &UseCases,
    user: UserId,
    chat_id: ChatId,
    content: &str,
    client_msg_id: Option<&str>,
) -> AppResult<webchat_domain::Message> {
    spend(uc, PolicyName::Strict, user, SEND_ROUTE).await?;
    uc.messages
        .send(user, chat_id, content, client_msg_id)
        .await
}

/// A status change reads the user's chats and is published to every instance: it
/// spends the user's `/ws` budget, shared by every socket of theirs.
async fn set_status(uc: &UseCases, user: UserId, status: PresenceStatus) -> AppResult<()> {
    spend(uc, PolicyName::Default, user, WS_ROUTE).await?;
    uc.presence.set_status(user, status).await;
    Ok(())
}

/// Counts a frame against the user's budget for `route`, as the REST gate counts a
/// request of that user: every socket of the user and their REST calls share it.
async fn spend(uc: &UseCases, policy: PolicyName, user: UserId, route: &str) -> AppResult<()> {
    uc.throttle
        .hit(policy, &format!("user:{user}"), route)
        .await
        .map(drop)
}
