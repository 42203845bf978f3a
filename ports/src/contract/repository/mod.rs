//! Suites for the durable repositories. A factory may return repositories over a
//! database that earlier calls already wrote to, so every case creates its own users
//! (unique names) and chats, and reads only what it created. Rows are created in
//! foreign-key order: users, then chats with their members, then messages.

use chrono::Utc;
use webchat_domain::{Chat, ChatId, ChatName, User, UserId};

use super::fixtures::{micros, user};
use crate::Repositories;

mod changes;
mod chats;
mod message_history;
mod messages;
mod users;

pub use chats::chat_repository_contract;
pub use messages::message_repository_contract;
pub use users::user_repository_contract;

/// Stores `n` fresh users and returns them.
async fn stored_users(repos: &Repositories, n: usize) -> Vec<User> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let u = user(&format!("member{i}"));
        repos
            .users
            .create(&u)
            .await
            .expect("creating a fixture user");
        out.push(u);
    }
    out
}

/// A chat value created by `creator`, `offset_secs` after now.
fn chat_by(creator: UserId, offset_secs: i64) -> Chat {
    Chat {
        id: ChatId::new(),
        name: ChatName::parse("contract chat").expect("fixture chat name is valid"),
        created_by: creator,
        created_at: micros(Utc::now()) + chrono::Duration::seconds(offset_secs),
    }
}

/// Stores a chat created by the first member, with `members` as its members.
async fn stored_chat(repos: &Repositories, members: &[UserId]) -> Chat {
    let chat = chat_by(members[0], 0);
    repos
        .chats
        .create(&chat, members)
        .await
        .expect("creating a fixture chat");
    chat
}
