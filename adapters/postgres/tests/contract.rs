//! The ports' repository conformance suites against PostgreSQL. Every factory call
//! shares the test's database, as the suites allow.

mod common;

use common::{migrated_backend, repositories};
use webchat_ports::contract::{
    chat_repository_contract, message_repository_contract, user_repository_contract,
};

#[tokio::test]
async fn postgres_user_repository_passes_the_contract() {
    let Some((db, backend)) = migrated_backend().await else {
        return;
    };
    user_repository_contract(|| async { repositories(&backend) }).await;
    drop(backend);
    db.drop_database().await;
}

#[tokio::test]
async fn postgres_chat_repository_passes_the_contract() {
    let Some((db, backend)) = migrated_backend().await else {
        return;
    };
    chat_repository_contract(|| async { repositories(&backend) }).await;
    drop(backend);
    db.drop_database().await;
}

#[tokio::test]
async fn postgres_message_repository_passes_the_contract() {
    let Some((db, backend)) = migrated_backend().await else {
        return;
    };
    message_repository_contract(|| async { repositories(&backend) }).await;
    drop(backend);
    db.drop_database().await;
}
