use std::collections::BTreeSet;
use std::future::Future;

use chrono::Utc;
use futures::future::join_all;
use webchat_domain::{ChatId, ClientMsgId, MessageContent, MessageId, NewMessage, UserId};

use super::{changes, message_history, stored_chat, stored_users, Repositories};
use crate::contract::fixtures::micros;
use crate::InsertOutcome;

/// How many inserts race on one chat in the concurrency case.
const CONCURRENT_INSERTS: usize = 50;

/// MessageRepository: per-chat gapless seqs (also under concurrent inserts),
/// idempotent sends, history pages, recovery, edits, deletes and pins.
pub async fn message_repository_contract<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Repositories>,
{
    assigns_seqs_per_chat_from_one(&make().await).await;
    seqs_stay_gapless_under_concurrent_inserts(&make().await).await;
    sends_are_idempotent_per_chat_sender_and_key(&make().await).await;
    only_members_send(&make().await).await;
    message_history::pages_newest_first(&make().await).await;
    message_history::recovers_oldest_first(&make().await).await;
    message_history::edits_content(&make().await).await;
    message_history::deletes_without_reusing_seqs(&make().await).await;
    message_history::pins_newest_pin_first(&make().await).await;
    changes::every_change_takes_the_next_pts(&make().await).await;
    changes::the_log_names_each_change_with_the_message_as_it_is_now(&make().await).await;
    changes::heads_say_where_chats_stand(&make().await).await;
    changes::pts_stay_gapless_under_concurrent_changes(&make().await).await;
}

/// A message to insert, stamped now.
pub(super) fn new_message(
    chat: ChatId,
    sender: UserId,
    text: &str,
    key: Option<&str>,
) -> NewMessage {
    NewMessage {
        id: MessageId::new(),
        chat_id: chat,
        sender_id: sender,
        content: MessageContent::parse(text).expect("fixture content is valid"),
        client_msg_id: key.map(|k| ClientMsgId::parse(k).expect("fixture key is valid")),
        created_at: micros(Utc::now()),
    }
}

/// Inserts a message and checks it was stored as given.
pub(super) async fn insert_new(repos: &Repositories, message: NewMessage) -> InsertOutcome {
    let outcome = repos
        .messages
        .insert(message.clone())
        .await
        .expect("insert message");
    assert!(outcome.created, "insert of a new message reports created");
    assert!(outcome.pts > 0, "a creation takes a pts");
    assert_eq!(
        outcome.message,
        message.into_message(outcome.message.seq, outcome.pts),
        "insert returns the message as given, with its assigned seq and its version"
    );
    outcome
}

async fn assigns_seqs_per_chat_from_one(repos: &Repositories) {
    let u = stored_users(repos, 2).await;
    let chat = stored_chat(repos, &[u[0].id, u[1].id]).await;
    let other = stored_chat(repos, &[u[1].id]).await;

    let mut stored = Vec::new();
    for (i, sender) in [u[0].id, u[1].id, u[0].id].into_iter().enumerate() {
        let outcome = insert_new(repos, new_message(chat.id, sender, &format!("m{i}"), None)).await;
        stored.push(outcome.message);
    }
    let seqs: Vec<i64> = stored.iter().map(|m| m.seq).collect();
    assert_eq!(
        seqs,
        vec![1, 2, 3],
        "a chat's seqs start at 1 and follow insert order"
    );

    let first_elsewhere = insert_new(repos, new_message(other.id, u[1].id, "x", None)).await;
    assert_eq!(
        first_elsewhere.message.seq, 1,
        "every chat counts its own seqs"
    );
    let next = insert_new(repos, new_message(chat.id, u[1].id, "m3", None)).await;
    assert_eq!(
        next.message.seq, 4,
        "inserts in another chat do not advance this chat's seq"
    );

    for message in &stored {
        assert_eq!(
            repos
                .messages
                .get(message.id)
                .await
                .expect("get message")
                .as_ref(),
            Some(message),
            "get returns the stored message"
        );
    }
    assert_eq!(
        repos
            .messages
            .get(MessageId::new())
            .await
            .expect("get unknown message"),
        None,
        "get of an unknown message is None"
    );
}

async fn seqs_stay_gapless_under_concurrent_inserts(repos: &Repositories) {
    let u = stored_users(repos, 2).await;
    let chat = stored_chat(repos, &[u[0].id, u[1].id]).await;

    let inserts = (0..CONCURRENT_INSERTS).map(|i| {
        let sender = u[i % 2].id;
        repos
            .messages
            .insert(new_message(chat.id, sender, &format!("race {i}"), None))
    });
    let outcomes = join_all(inserts).await;
    let mut seqs = Vec::with_capacity(CONCURRENT_INSERTS);
    for outcome in outcomes {
        let outcome = outcome.expect("concurrent insert succeeds");
        assert!(
            outcome.created,
            "every concurrent insert of a new message creates it"
        );
        seqs.push(outcome.message.seq);
    }
    seqs.sort_unstable();
    let expected: Vec<i64> = (1..=CONCURRENT_INSERTS as i64).collect();
    assert_eq!(
        seqs, expected,
        "{CONCURRENT_INSERTS} concurrent inserts get the seqs 1..={CONCURRENT_INSERTS}, each once"
    );

    let page = repos
        .messages
        .page(chat.id, None, CONCURRENT_INSERTS + 10)
        .await
        .expect("page");
    assert_eq!(
        page.len(),
        CONCURRENT_INSERTS,
        "every concurrent insert was stored"
    );
}

async fn sends_are_idempotent_per_chat_sender_and_key(repos: &Repositories) {
    let u = stored_users(repos, 2).await;
    let (alice, bob) = (u[0].id, u[1].id);
    let chat = stored_chat(repos, &[alice, bob]).await;
    let other = stored_chat(repos, &[alice, bob]).await;

    let first = insert_new(repos, new_message(chat.id, alice, "hello", Some("key-1"))).await;
    let retry = repos
        .messages
        .insert(new_message(chat.id, alice, "hello again", Some("key-1")))
        .await
        .expect("insert retry");
    assert!(
        !retry.created,
        "a repeated (chat, sender, client_msg_id) creates nothing"
    );
    assert_eq!(
        retry.message, first.message,
        "a repeated (chat, sender, client_msg_id) returns the first message"
    );

    let by_bob = insert_new(repos, new_message(chat.id, bob, "hello", Some("key-1"))).await;
    assert_eq!(
        by_bob.message.seq, 2,
        "another sender's same key is a new message"
    );
    let elsewhere = insert_new(repos, new_message(other.id, alice, "hello", Some("key-1"))).await;
    assert_eq!(
        elsewhere.message.seq, 1,
        "the same key in another chat is a new message"
    );
    let unkeyed = insert_new(repos, new_message(chat.id, alice, "hello", None)).await;
    assert_eq!(
        unkeyed.message.seq, 3,
        "a refused duplicate consumes no seq"
    );

    let racing = (0..8).map(|_| {
        repos
            .messages
            .insert(new_message(chat.id, alice, "double click", Some("key-2")))
    });
    let outcomes: Vec<InsertOutcome> = join_all(racing)
        .await
        .into_iter()
        .map(|o| o.expect("concurrent duplicate insert succeeds"))
        .collect();
    let created = outcomes.iter().filter(|o| o.created).count();
    assert_eq!(
        created, 1,
        "of concurrent inserts with one key, exactly one creates"
    );
    let ids: BTreeSet<MessageId> = outcomes.iter().map(|o| o.message.id).collect();
    assert_eq!(
        ids.len(),
        1,
        "concurrent inserts with one key all return the same message"
    );
    assert_eq!(
        outcomes[0].message.seq, 4,
        "the winner of the race takes the next seq"
    );

    let after = insert_new(repos, new_message(chat.id, bob, "after", None)).await;
    assert_eq!(
        after.message.seq, 5,
        "racing duplicates leave no gap in the seqs"
    );
}

async fn only_members_send(repos: &Repositories) {
    let u = stored_users(repos, 2).await;
    let chat = stored_chat(repos, &[u[0].id]).await;
    let outsider = repos
        .messages
        .insert(new_message(chat.id, u[1].id, "let me in", Some("k")))
        .await;
    assert_eq!(
        outsider,
        Err(crate::PortError::NotFound),
        "insert by a non-member is NotFound"
    );
    let nowhere = repos
        .messages
        .insert(new_message(ChatId::new(), u[0].id, "anyone?", None))
        .await;
    assert_eq!(
        nowhere,
        Err(crate::PortError::NotFound),
        "insert into an unknown chat is NotFound"
    );
    let first = insert_new(repos, new_message(chat.id, u[0].id, "member", None)).await;
    assert_eq!(
        (first.message.seq, first.pts),
        (1, 1),
        "a refused insert takes no seq and no pts"
    );
}
