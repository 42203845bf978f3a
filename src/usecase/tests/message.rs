//! Sending and reading messages: validation, membership, seqs, idempotency, paging.

use webchat_domain::{ChatId, Event, Message, Topic, UserId};

use super::{next, Fixture};
use crate::usecase::AppError;

/// A chat of alice and bob, and eve who is in none.
pub(super) struct Room {
    pub fx: Fixture,
    pub alice: UserId,
    pub bob: UserId,
    pub eve: UserId,
    pub chat: ChatId,
}

impl Room {
    pub async fn new() -> Self {
        Self::over(Fixture::new()).await
    }

    pub async fn over(fx: Fixture) -> Self {
        let alice = fx.user("alice").await;
        let bob = fx.user("bob").await;
        let eve = fx.user("eve").await;
        let chat = fx.chat(alice, &[bob]).await;
        Self {
            fx,
            alice,
            bob,
            eve,
            chat,
        }
    }

    /// Sends `n` messages numbered from 1, alternating alice and bob.
    pub async fn send_many(&self, n: usize) -> Vec<Message> {
        let mut sent = Vec::new();
        for i in 1..=n {
            let sender = if i % 2 == 1 { self.alice } else { self.bob };
            let message = self
                .fx
                .app
                .messages
                .send(sender, self.chat, &format!("m{i}"), None)
                .await
                .unwrap();
            sent.push(message);
        }
        sent
    }
}

pub(super) fn seqs(messages: &[Message]) -> Vec<i64> {
    messages.iter().map(|m| m.seq).collect()
}

fn validation_field(r: Result<Message, AppError>) -> &'static str {
    match r {
        Err(AppError::Validation { field, .. }) => field,
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[tokio::test]
async fn send_validates_content_and_client_msg_id() {
    let room = Room::new().await;
    let send = |content: String, id: Option<&'static str>| {
        let messages = room.fx.app.messages.clone();
        let (alice, chat) = (room.alice, room.chat);
        async move { messages.send(alice, chat, &content, id).await }
    };
    assert_eq!(validation_field(send(String::new(), None).await), "content");
    assert_eq!(
        validation_field(send(" \n\t ".into(), None).await),
        "content"
    );
    assert_eq!(
        validation_field(send("x".repeat(4001), None).await),
        "content"
    );
    assert_eq!(
        validation_field(send("hi".into(), Some("has space")).await),
        "client_msg_id"
    );
    assert_eq!(
        validation_field(send("hi".into(), Some("")).await),
        "client_msg_id"
    );
    let stored = room.fx.repos.messages.page(room.chat, None, 10).await;
    assert!(stored.unwrap().is_empty(), "nothing invalid was stored");

    let longest = send("é".repeat(4000), None).await.unwrap();
    assert_eq!(longest.content.chars().count(), 4000);
    let trimmed = send("  hello \n".into(), Some("c-1")).await.unwrap();
    assert_eq!(trimmed.content, "hello");
    assert_eq!(
        trimmed.client_msg_id.as_ref().map(|c| c.as_str()),
        Some("c-1")
    );
}

#[tokio::test]
async fn only_members_send_and_read() {
    let room = Room::new().await;
    let m = &room.fx.app.messages;
    let sent = m.send(room.alice, room.chat, "hi", None).await.unwrap();

    let err = m.send(room.eve, room.chat, "hi", None).await.unwrap_err();
    assert!(matches!(err, AppError::Forbidden), "{err:?}");
    let err = m
        .send(room.alice, ChatId::new(), "hi", None)
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::NotFound("chat")), "{err:?}");
    let err = m
        .history(room.eve, room.chat, None, None)
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Forbidden), "{err:?}");
    let err = m
        .recover(room.eve, room.chat, Some(0), None, None)
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Forbidden), "{err:?}");
    let err = m.get(room.eve, sent.id).await.unwrap_err();
    assert!(matches!(err, AppError::Forbidden), "{err:?}");
    let err = m.pinned(room.eve, room.chat).await.unwrap_err();
    assert!(matches!(err, AppError::Forbidden), "{err:?}");
    assert_eq!(m.get(room.bob, sent.id).await.unwrap(), sent);
}

#[tokio::test]
async fn seqs_count_from_one_per_chat() {
    let room = Room::new().await;
    let sent = room.send_many(5).await;
    assert_eq!(seqs(&sent), vec![1, 2, 3, 4, 5]);
    assert_eq!(sent[1].sender_id, room.bob);
    let other = room.fx.chat(room.bob, &[]).await;
    let first = room
        .fx
        .app
        .messages
        .send(room.bob, other, "elsewhere", None)
        .await
        .unwrap();
    assert_eq!((first.seq, first.chat_id), (1, other));
}

#[tokio::test]
async fn a_repeated_client_msg_id_returns_the_first_message_and_announces_once() {
    let room = Room::new().await;
    let topic = Topic::Chat(room.chat);
    let mut events = room.fx.subscribe(topic.clone()).await;
    let m = &room.fx.app.messages;

    let first = m
        .send(room.alice, room.chat, "hello", Some("k1"))
        .await
        .unwrap();
    let retry = m
        .send(room.alice, room.chat, "hello again", Some("k1"))
        .await
        .unwrap();
    assert_eq!(retry, first, "the stored message, not a new one");
    assert_eq!(
        next(&mut events).await,
        Event::MessageCreated {
            chat_id: room.chat,
            message: first.clone(),
            pts: 1,
        }
    );
    room.fx.assert_quiet(&mut events, &topic).await;

    // The key is the sender's own: bob's k1 is a new message.
    let bobs = m
        .send(room.bob, room.chat, "hello", Some("k1"))
        .await
        .unwrap();
    assert_ne!(bobs.id, first.id);
    assert_eq!(bobs.seq, 2);
    assert!(matches!(
        next(&mut events).await,
        Event::MessageCreated { .. }
    ));
    let history = m.history(room.bob, room.chat, None, None).await.unwrap();
    assert_eq!(seqs(&history), vec![2, 1]);
}

#[tokio::test]
async fn history_pages_newest_first() {
    let room = Room::new().await;
    room.send_many(7).await;
    let m = &room.fx.app.messages;
    let all = m.history(room.alice, room.chat, None, None).await.unwrap();
    assert_eq!(seqs(&all), vec![7, 6, 5, 4, 3, 2, 1]);
    assert_eq!(all[0].content, "m7");

    let page = m
        .history(room.alice, room.chat, None, Some(3))
        .await
        .unwrap();
    assert_eq!(seqs(&page), vec![7, 6, 5]);
    let page = m
        .history(room.alice, room.chat, Some(5), Some(3))
        .await
        .unwrap();
    assert_eq!(seqs(&page), vec![4, 3, 2]);
    let page = m
        .history(room.alice, room.chat, Some(2), Some(3))
        .await
        .unwrap();
    assert_eq!(seqs(&page), vec![1]);
    let page = m.history(room.alice, room.chat, Some(1), None).await;
    assert!(page.unwrap().is_empty());

    for bad in [0, 101, 1000] {
        let err = m
            .history(room.alice, room.chat, None, Some(bad))
            .await
            .unwrap_err();
        assert!(
            matches!(err, AppError::Validation { field: "limit", .. }),
            "limit {bad}: {err:?}"
        );
    }
    let most = m.history(room.alice, room.chat, None, Some(100)).await;
    assert_eq!(most.unwrap().len(), 7);
    let one = m.history(room.alice, room.chat, None, Some(1)).await;
    assert_eq!(seqs(&one.unwrap()), vec![7]);
}

#[tokio::test]
async fn history_pages_across_the_recent_window() {
    let room = Room::new().await;
    room.send_many(130).await;
    let m = &room.fx.app.messages;
    // Walk the whole history in pages of 40: the first pages come from the window,
    // the later ones from the repository.
    let mut walked = Vec::new();
    let mut before = None;
    loop {
        let page = m
            .history(room.bob, room.chat, before, Some(40))
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        before = Some(last.seq);
        walked.extend(seqs(&page));
    }
    assert_eq!(walked, (1..=130).rev().collect::<Vec<i64>>());
    // A page larger than the window is still whole.
    let page = m
        .history(room.bob, room.chat, None, Some(100))
        .await
        .unwrap();
    assert_eq!(seqs(&page), (31..=130).rev().collect::<Vec<i64>>());
    let page = m
        .history(room.bob, room.chat, Some(90), Some(60))
        .await
        .unwrap();
    assert_eq!(seqs(&page), (30..=89).rev().collect::<Vec<i64>>());
}

#[tokio::test]
async fn recovery_returns_later_messages_oldest_first() {
    let room = Room::new().await;
    room.send_many(6).await;
    let m = &room.fx.app.messages;
    let since = |seq| m.recover(room.bob, room.chat, Some(seq), None, None);
    let later = since(3).await.unwrap();
    assert_eq!(seqs(&later.missed), vec![4, 5, 6]);
    assert_eq!(later.missed[0].content, "m4");
    assert!(!later.has_more);
    assert_eq!(since(0).await.unwrap().missed.len(), 6);
    assert!(since(6).await.unwrap().missed.is_empty());
}
