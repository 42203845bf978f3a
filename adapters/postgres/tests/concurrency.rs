//! Two backends (two processes' pools) writing to one chat at once.

mod common;

use std::collections::BTreeSet;

use common::{migrated_backend, repositories, stored_chat, stored_user};
use futures::future::join_all;
use webchat_domain::{ClientMsgId, MessageContent, MessageId, NewMessage};
use webchat_ports::AddMember;
use webchat_postgres::PgBackend;

const INSERTS: usize = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_assign_gapless_seqs_to_concurrent_inserts() {
    let Some((db, first)) = migrated_backend().await else {
        return;
    };
    let second = PgBackend::connect(db.url()).unwrap();
    let (a, b) = (repositories(&first), repositories(&second));
    let user = stored_user(&a).await;
    let chat = stored_chat(&a, user.id).await;

    let inserts = (0..INSERTS).map(|i| {
        let repos = if i % 2 == 0 { &a } else { &b };
        let message = NewMessage {
            id: MessageId::new(),
            chat_id: chat.id,
            sender_id: user.id,
            content: MessageContent::parse(&format!("race {i}")).unwrap(),
            client_msg_id: None,
            created_at: user.created_at,
        };
        let messages = repos.messages.clone();
        tokio::spawn(async move { messages.insert(message).await })
    });
    let mut seqs: Vec<i64> = join_all(inserts)
        .await
        .into_iter()
        .map(|joined| joined.unwrap().expect("insert").message.seq)
        .collect();
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (1..=INSERTS as i64).collect::<Vec<_>>(),
        "seqs are exactly 1..=N"
    );

    let stored = b.messages.since_seq(chat.id, 0, INSERTS * 2).await.unwrap();
    let stored_seqs: Vec<i64> = stored.iter().map(|m| m.seq).collect();
    assert_eq!(
        stored_seqs,
        (1..=INSERTS as i64).collect::<Vec<_>>(),
        "each stored once, in order"
    );

    drop((a, b, first, second));
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_racing_one_client_msg_id_store_one_message() {
    let Some((db, first)) = migrated_backend().await else {
        return;
    };
    let second = PgBackend::connect(db.url()).unwrap();
    let (a, b) = (repositories(&first), repositories(&second));
    let user = stored_user(&a).await;
    let chat = stored_chat(&a, user.id).await;

    let sends = (0..20).map(|i| {
        let repos = if i % 2 == 0 { &a } else { &b };
        let message = NewMessage {
            id: MessageId::new(),
            chat_id: chat.id,
            sender_id: user.id,
            content: MessageContent::parse("retried send").unwrap(),
            client_msg_id: Some(ClientMsgId::parse("retry-1").unwrap()),
            created_at: user.created_at,
        };
        let messages = repos.messages.clone();
        tokio::spawn(async move { messages.insert(message).await })
    });
    let outcomes: Vec<_> = join_all(sends)
        .await
        .into_iter()
        .map(|joined| joined.unwrap().expect("insert"))
        .collect();
    assert_eq!(
        outcomes.iter().filter(|o| o.created).count(),
        1,
        "exactly one creates"
    );
    let ids: BTreeSet<MessageId> = outcomes.iter().map(|o| o.message.id).collect();
    assert_eq!(ids.len(), 1, "everyone gets the same message");
    assert_eq!(outcomes[0].message.seq, 1);
    assert_eq!(b.messages.page(chat.id, None, 10).await.unwrap().len(), 1);

    drop((a, b, first, second));
    db.drop_database().await;
}

/// Concurrent adds from two pools (two processes) to one chat: the chat row's lock
/// serializes them, so exactly the free places are taken and the cap holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_adding_members_at_once_never_pass_the_cap() {
    const CAP: usize = 4;
    const ADDS: usize = 24;
    let Some((db, first)) = migrated_backend().await else {
        return;
    };
    let second = PgBackend::connect(db.url()).unwrap();
    let (a, b) = (repositories(&first), repositories(&second));
    let owner = stored_user(&a).await;
    let chat = stored_chat(&a, owner.id).await;
    let mut users = Vec::new();
    for _ in 0..ADDS {
        users.push(stored_user(&a).await.id);
    }

    let adds = users.iter().enumerate().map(|(i, user)| {
        let chats = if i % 2 == 0 { &a } else { &b }.chats.clone();
        let (chat, user) = (chat.id, *user);
        tokio::spawn(async move { chats.add_member(chat, user, CAP).await })
    });
    let outcomes: Vec<AddMember> = join_all(adds)
        .await
        .into_iter()
        .map(|joined| joined.unwrap().expect("add_member"))
        .collect();
    let added = outcomes.iter().filter(|o| **o == AddMember::Added).count();
    let full = outcomes.iter().filter(|o| **o == AddMember::Full).count();
    assert_eq!((added, full), (CAP - 1, ADDS - (CAP - 1)), "{outcomes:?}");
    let members = b.chats.members(chat.id).await.unwrap();
    assert_eq!(members.len(), CAP, "the cap holds under concurrent adds");

    drop((a, b, first, second));
    db.drop_database().await;
}
