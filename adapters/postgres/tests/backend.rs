//! The backend itself: migrations, health, restarts, and a database that is down.

mod common;

use std::time::{Duration, Instant};

use common::{migrated_backend, repositories, stored_chat, stored_user};
use webchat_domain::{MessageContent, MessageId, NewMessage, UserId};
use webchat_ports::{HealthCheck, PortError, UserRepository};
use webchat_postgres::{PgBackend, PgConfig, PgError};

#[tokio::test]
async fn migrations_are_idempotent() {
    let Some((db, backend)) = migrated_backend().await else {
        return;
    };
    assert_eq!(
        backend.run_migrations().await.expect("second run"),
        0,
        "a second run applies nothing"
    );
    // Another process starting against the same database.
    let other = PgBackend::connect(db.url()).unwrap();
    let (a, b) = tokio::join!(backend.run_migrations(), other.run_migrations());
    assert_eq!((a.unwrap(), b.unwrap()), (0, 0));
    drop((backend, other));
    db.drop_database().await;
}

#[tokio::test]
async fn concurrent_first_migrations_apply_once() {
    let Some(db) = webchat_postgres::testing::TestDatabase::create_or_skip().await else {
        return;
    };
    let (a, b) = (
        PgBackend::connect(db.url()).unwrap(),
        PgBackend::connect(db.url()).unwrap(),
    );
    let (ra, rb) = tokio::join!(a.run_migrations(), b.run_migrations());
    let (ra, rb) = (
        ra.expect("first instance migrates"),
        rb.expect("second instance migrates"),
    );
    assert!(ra > 0 || rb > 0, "someone applied the migrations");
    assert_eq!(ra.min(rb), 0, "the other found nothing left to apply");
    drop((a, b));
    db.drop_database().await;
}

#[tokio::test]
async fn health_check_answers_while_the_database_is_up() {
    let Some((db, backend)) = migrated_backend().await else {
        return;
    };
    let health = backend.health_check();
    assert_eq!(health.name(), "database");
    health.check().await.expect("SELECT 1 answers");
    drop((backend, health));
    db.drop_database().await;
}

#[tokio::test]
async fn data_survives_a_new_backend_on_the_same_database() {
    let Some((db, backend)) = migrated_backend().await else {
        return;
    };
    let repos = repositories(&backend);
    let user = stored_user(&repos).await;
    let chat = stored_chat(&repos, user.id).await;
    let mut sent = Vec::new();
    for i in 0..3 {
        let message = NewMessage {
            id: MessageId::new(),
            chat_id: chat.id,
            sender_id: user.id,
            content: MessageContent::parse(&format!("before restart {i}")).unwrap(),
            client_msg_id: None,
            created_at: user.created_at,
        };
        sent.push(repos.messages.insert(message).await.unwrap().message);
    }
    drop(repos);
    drop(backend);

    let restarted = PgBackend::connect(db.url()).unwrap();
    assert_eq!(restarted.run_migrations().await.unwrap(), 0);
    let repos = repositories(&restarted);
    assert_eq!(repos.users.get(user.id).await.unwrap(), Some(user.clone()));
    assert_eq!(repos.chats.get(chat.id).await.unwrap(), Some(chat.clone()));
    assert_eq!(repos.chats.members(chat.id).await.unwrap(), vec![user.id]);
    let mut history = repos.messages.page(chat.id, None, 10).await.unwrap();
    history.reverse();
    assert_eq!(
        history, sent,
        "same ids, seqs and contents after the restart"
    );
    let next = NewMessage {
        id: MessageId::new(),
        chat_id: chat.id,
        sender_id: user.id,
        content: MessageContent::parse("after restart").unwrap(),
        client_msg_id: None,
        created_at: user.created_at,
    };
    assert_eq!(
        repos.messages.insert(next).await.unwrap().message.seq,
        4,
        "seqs continue"
    );
    drop((repos, restarted));
    db.drop_database().await;
}

#[tokio::test]
async fn writes_that_need_a_missing_row_are_not_found() {
    let Some((db, backend)) = migrated_backend().await else {
        return;
    };
    let repos = repositories(&backend);
    let user = stored_user(&repos).await;
    let chat = stored_chat(&repos, user.id).await;
    let message = |chat_id, sender_id| NewMessage {
        id: MessageId::new(),
        chat_id,
        sender_id,
        content: MessageContent::parse("hi").unwrap(),
        client_msg_id: None,
        created_at: user.created_at,
    };
    let no_chat = repos
        .messages
        .insert(message(webchat_domain::ChatId::new(), user.id))
        .await;
    assert_eq!(
        no_chat,
        Err(PortError::NotFound),
        "insert into an unknown chat"
    );
    let no_sender = repos.messages.insert(message(chat.id, UserId::new())).await;
    assert_eq!(
        no_sender,
        Err(PortError::NotFound),
        "insert by an unknown user"
    );
    let no_user = repos.chats.add_member(chat.id, UserId::new(), 1000).await;
    assert_eq!(no_user, Err(PortError::NotFound), "add an unknown user");
    let ok = repos
        .messages
        .insert(message(chat.id, user.id))
        .await
        .unwrap();
    assert_eq!(ok.message.seq, 1, "failed inserts consumed no seq");
    drop((repos, backend));
    db.drop_database().await;
}

/// Needs no database: nothing listens on port 1.
#[tokio::test]
async fn a_database_that_is_down_is_unavailable_quickly() {
    let mut config = PgConfig::new("postgres://postgres@127.0.0.1:1/webchat");
    config.connect_timeout = Duration::from_millis(500);
    let backend = PgBackend::with_config(config).expect("building needs no database");
    let started = Instant::now();

    let migrate = backend.run_migrations().await;
    assert!(
        matches!(&migrate, Err(e @ PgError::Unavailable(_)) if e.is_unavailable()),
        "{migrate:?}"
    );
    let read = backend.users().get(UserId::new()).await;
    assert!(matches!(read, Err(PortError::Unavailable(_))), "{read:?}");
    let health = backend.health_check().check().await;
    assert!(
        matches!(health, Err(PortError::Unavailable(_))),
        "{health:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "each call gives up after the connect timeout, took {:?}",
        started.elapsed()
    );
}
