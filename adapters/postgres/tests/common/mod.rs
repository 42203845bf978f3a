//! A migrated throwaway database per test, and the repositories over it.

// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

use chrono::{SubsecRound, Utc};
use webchat_domain::{Chat, ChatId, ChatName, DisplayName, User, UserId, Username};
use webchat_ports::Repositories;
use webchat_postgres::testing::TestDatabase;
use webchat_postgres::PgBackend;

/// A fresh database with the migrations applied, or `None` to skip the test.
pub async fn migrated_backend() -> Option<(TestDatabase, PgBackend)> {
    let db = TestDatabase::create_or_skip().await?;
    let backend = PgBackend::connect(db.url()).expect("the test database URL is valid");
    backend.run_migrations().await.expect("migrations apply");
    Some((db, backend))
}

pub fn repositories(backend: &PgBackend) -> Repositories {
    backend.repositories()
}

/// Stores a user with a unique name.
pub async fn stored_user(repos: &Repositories) -> User {
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let user = User {
        id: UserId::new(),
        username: Username::parse(&format!("u_{}", &tag[..12])).unwrap(),
        display_name: DisplayName::parse("Tester").unwrap(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
        created_at: Utc::now().trunc_subsecs(6),
    };
    repos.users.create(&user).await.expect("create user");
    user
}

/// Stores a chat whose only member is its creator.
pub async fn stored_chat(repos: &Repositories, creator: UserId) -> Chat {
    let chat = Chat {
        id: ChatId::new(),
        name: ChatName::parse("test chat").unwrap(),
        created_by: creator,
        created_at: Utc::now().trunc_subsecs(6),
    };
    repos
        .chats
        .create(&chat, &[creator])
        .await
        .expect("create chat");
    chat
}
