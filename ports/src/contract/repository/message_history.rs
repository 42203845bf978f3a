//! The read and change side of the MessageRepository suite.

use chrono::{Duration, Utc};
use webchat_domain::{Chat, ChatId, Message, MessageContent, MessageId};

use super::messages::{insert_new, new_message};
use super::{stored_chat, stored_users, Repositories};
use crate::contract::fixtures::micros;

/// A chat holding `n` messages with seqs 1..=n, returned oldest first.
pub(super) async fn chat_with_messages(repos: &Repositories, n: usize) -> (Chat, Vec<Message>) {
    let u = stored_users(repos, 2).await;
    let chat = stored_chat(repos, &[u[0].id, u[1].id]).await;
    let mut messages = Vec::with_capacity(n);
    for i in 0..n {
        let m = new_message(chat.id, u[i % 2].id, &format!("message {}", i + 1), None);
        messages.push(insert_new(repos, m).await.message);
    }
    (chat, messages)
}

pub(super) fn seqs(messages: &[Message]) -> Vec<i64> {
    messages.iter().map(|m| m.seq).collect()
}

pub(super) async fn pages_newest_first(repos: &Repositories) {
    let (chat, stored) = chat_with_messages(repos, 10).await;
    let (_, _noise) = chat_with_messages(repos, 3).await;
    let page = |before: Option<i64>, limit: usize| repos.messages.page(chat.id, before, limit);

    let all = page(None, 100).await.expect("page");
    let newest_first: Vec<Message> = stored.iter().rev().cloned().collect();
    assert_eq!(
        all, newest_first,
        "page without before_seq returns the chat's messages newest first"
    );

    assert_eq!(
        seqs(&page(None, 3).await.expect("page")),
        vec![10, 9, 8],
        "page cuts to limit, newest first"
    );
    assert_eq!(
        seqs(&page(Some(8), 3).await.expect("page")),
        vec![7, 6, 5],
        "page returns messages with seq < before_seq"
    );
    assert_eq!(
        seqs(&page(Some(3), 10).await.expect("page")),
        vec![2, 1],
        "page stops at the oldest message"
    );
    assert!(
        page(Some(1), 10).await.expect("page").is_empty(),
        "page before seq 1 is empty"
    );
    assert!(
        repos
            .messages
            .page(ChatId::new(), None, 10)
            .await
            .expect("page")
            .is_empty(),
        "page of a chat without messages is empty"
    );
}

pub(super) async fn recovers_oldest_first(repos: &Repositories) {
    let (chat, stored) = chat_with_messages(repos, 10).await;
    let since = |after: i64, limit: usize| repos.messages.since_seq(chat.id, after, limit);

    assert_eq!(
        since(0, 100).await.expect("since_seq"),
        stored,
        "since_seq(0) returns every message, oldest first"
    );
    assert_eq!(
        seqs(&since(7, 2).await.expect("since_seq")),
        vec![8, 9],
        "since_seq returns messages with seq > after_seq, cut to limit"
    );
    assert_eq!(
        seqs(&since(8, 50).await.expect("since_seq")),
        vec![9, 10],
        "since_seq stops at the newest message"
    );
    assert!(
        since(10, 5).await.expect("since_seq").is_empty(),
        "since_seq past the newest is empty"
    );
}

pub(super) async fn edits_content(repos: &Repositories) {
    let (_, stored) = chat_with_messages(repos, 2).await;
    let target = &stored[0];
    let content = MessageContent::parse("edited text").unwrap();
    let edited_at = micros(Utc::now());

    let changed = repos
        .messages
        .update_content(target.id, &content, edited_at)
        .await
        .expect("update_content")
        .expect("update_content of a stored message returns it");
    let edited = changed.message;
    let mut expected = target.clone();
    expected.content = "edited text".to_owned();
    expected.edited_at = Some(edited_at);
    expected.version = changed.pts;
    assert_eq!(
        edited, expected,
        "update_content replaces the content, sets edited_at and the version, nothing else"
    );
    assert_eq!(
        repos.messages.get(target.id).await.expect("get"),
        Some(expected),
        "the edit is stored"
    );
    assert_eq!(
        repos
            .messages
            .get(stored[1].id)
            .await
            .expect("get")
            .as_ref(),
        Some(&stored[1]),
        "an edit leaves other messages alone"
    );
    assert_eq!(
        repos
            .messages
            .update_content(MessageId::new(), &content, edited_at)
            .await
            .expect("update_content"),
        None,
        "update_content of an unknown message is None"
    );
}

pub(super) async fn deletes_without_reusing_seqs(repos: &Repositories) {
    let (chat, stored) = chat_with_messages(repos, 4).await;
    let (middle, newest) = (&stored[1], &stored[3]);

    assert_eq!(
        repos
            .messages
            .delete(middle.id)
            .await
            .expect("delete")
            .map(|c| c.message)
            .as_ref(),
        Some(middle),
        "delete returns the message as it was"
    );
    assert_eq!(
        repos.messages.get(middle.id).await.expect("get"),
        None,
        "a deleted message is gone"
    );
    assert_eq!(
        repos.messages.delete(middle.id).await.expect("delete"),
        None,
        "deleting twice returns None"
    );
    assert_eq!(
        seqs(&repos.messages.page(chat.id, None, 10).await.expect("page")),
        vec![4, 3, 1],
        "page leaves deleted messages out"
    );
    assert_eq!(
        seqs(
            &repos
                .messages
                .since_seq(chat.id, 0, 10)
                .await
                .expect("since_seq")
        ),
        vec![1, 3, 4],
        "since_seq leaves deleted messages out"
    );

    assert_eq!(
        repos
            .messages
            .delete(newest.id)
            .await
            .expect("delete")
            .map(|c| c.message)
            .as_ref(),
        Some(newest),
        "delete of the newest message returns it"
    );
    let sender = stored[0].sender_id;
    let next = insert_new(repos, new_message(chat.id, sender, "after delete", None)).await;
    assert_eq!(
        next.message.seq, 5,
        "the seq of a deleted message is never reused"
    );
    assert_eq!(
        repos
            .messages
            .update_content(
                newest.id,
                &MessageContent::parse("x").unwrap(),
                micros(Utc::now())
            )
            .await
            .expect("update_content"),
        None,
        "update_content of a deleted message is None"
    );
    assert_eq!(
        repos
            .messages
            .set_pinned(newest.id, Some(micros(Utc::now())))
            .await
            .expect("set_pinned"),
        None,
        "set_pinned of a deleted message is None"
    );
}

pub(super) async fn pins_newest_pin_first(repos: &Repositories) {
    // Pinned deleted messages leave the list (checked below via stored[3]).
    let (chat, stored) = chat_with_messages(repos, 5).await;
    let (other_chat, other) = chat_with_messages(repos, 1).await;
    let t0 = micros(Utc::now());
    let pin = |i: usize, secs: i64| {
        repos
            .messages
            .set_pinned(stored[i].id, Some(t0 + Duration::seconds(secs)))
    };

    let changed = pin(1, 1)
        .await
        .expect("set_pinned")
        .expect("set_pinned of a stored message returns it");
    let pinned = changed.message;
    let mut expected = stored[1].clone();
    expected.pinned_at = Some(t0 + Duration::seconds(1));
    expected.version = changed.pts;
    assert_eq!(
        pinned, expected,
        "set_pinned(Some) sets pinned_at, nothing else"
    );
    pin(4, 3).await.expect("set_pinned");
    pin(2, 2).await.expect("set_pinned");
    pin(3, 4).await.expect("set_pinned");
    repos.messages.delete(stored[3].id).await.expect("delete");
    repos
        .messages
        .set_pinned(other[0].id, Some(t0))
        .await
        .expect("set_pinned");

    let ids = |ms: Vec<Message>| ms.into_iter().map(|m| m.id).collect::<Vec<_>>();
    assert_eq!(
        ids(repos.messages.pinned(chat.id).await.expect("pinned")),
        vec![stored[4].id, stored[2].id, stored[1].id],
        "pinned lists the chat's pinned messages, newest pin first"
    );

    let unpinned = repos
        .messages
        .set_pinned(stored[2].id, None)
        .await
        .expect("set_pinned");
    assert_eq!(
        unpinned.and_then(|c| c.message.pinned_at),
        None,
        "set_pinned(None) clears pinned_at"
    );
    assert_eq!(
        ids(repos.messages.pinned(chat.id).await.expect("pinned")),
        vec![stored[4].id, stored[1].id],
        "an unpinned message leaves the pinned list"
    );
    assert_eq!(
        ids(repos.messages.pinned(other_chat.id).await.expect("pinned")),
        vec![other[0].id],
        "pinned lists only the chat's own messages"
    );
    assert_eq!(
        repos
            .messages
            .set_pinned(MessageId::new(), Some(t0))
            .await
            .expect("set_pinned"),
        None,
        "set_pinned of an unknown message is None"
    );
}
