//! A socket's writes do not wait for its reads: while a frame's work is slow (a
//! recovery reading the database), events keep reaching the socket.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::json;
use tokio::sync::Semaphore;
use webchat_domain::{ChatHead, ChatId, Message, MessageContent, MessageId, NewMessage};
use webchat_ports::{ChangePage, Changed, InsertOutcome, MessageRepository, PortResult};

use crate::support::{chat_of, on, users, Cluster, Options, Socket};

/// Holds every `since_seq` read until the test adds a permit.
struct Gated {
    inner: Arc<dyn MessageRepository>,
    gate: Arc<Semaphore>,
}

#[async_trait]
impl MessageRepository for Gated {
    async fn insert(&self, message: NewMessage) -> PortResult<InsertOutcome> {
        self.inner.insert(message).await
    }
    async fn get(&self, id: MessageId) -> PortResult<Option<Message>> {
        self.inner.get(id).await
    }
    async fn page(
        &self,
        chat: ChatId,
        before: Option<i64>,
        limit: usize,
    ) -> PortResult<Vec<Message>> {
        self.inner.page(chat, before, limit).await
    }
    async fn since_seq(&self, chat: ChatId, after: i64, limit: usize) -> PortResult<Vec<Message>> {
        let _permit = self.gate.acquire().await.expect("gate open");
        self.inner.since_seq(chat, after, limit).await
    }
    async fn update_content(
        &self,
        id: MessageId,
        content: &MessageContent,
        at: DateTime<Utc>,
    ) -> PortResult<Option<Changed>> {
        self.inner.update_content(id, content, at).await
    }
    async fn delete(&self, id: MessageId) -> PortResult<Option<Changed>> {
        self.inner.delete(id).await
    }
    async fn set_pinned(
        &self,
        id: MessageId,
        at: Option<DateTime<Utc>>,
    ) -> PortResult<Option<Changed>> {
        self.inner.set_pinned(id, at).await
    }
    async fn pinned(&self, chat: ChatId) -> PortResult<Vec<Message>> {
        self.inner.pinned(chat).await
    }
    async fn changes_since(
        &self,
        chat: ChatId,
        after: i64,
        limit: usize,
    ) -> PortResult<ChangePage> {
        self.inner.changes_since(chat, after, limit).await
    }
    async fn heads(&self, chats: &[ChatId]) -> PortResult<Vec<ChatHead>> {
        self.inner.heads(chats).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_frame_does_not_hold_back_delivery_to_its_socket() {
    let gate = Arc::new(Semaphore::new(0));
    let held = gate.clone();
    let Some(cluster) = Cluster::start_with(Options {
        wrap_messages: Some(Arc::new(move |inner| {
            Arc::new(Gated {
                inner,
                gate: held.clone(),
            }) as Arc<dyn MessageRepository>
        })),
        ..Options::default()
    })
    .await
    else {
        return;
    };
    let people = users(&[cluster.a()], 2, "w").await;
    let chat = chat_of(&people).await;
    let mut bob = Socket::connect(cluster.a(), people[1].0.token()).await;
    // Bob asks to recover from seq 0 by a range the window cannot answer: the read
    // waits at the gate.
    bob.send_json(json!({"type": "join", "chat_id": chat, "since_seq": -1}))
        .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let alice = on(cluster.a(), &people[0].0);
    let r = alice
        .post(
            &format!("/api/chats/{chat}/messages"),
            json!({"content": "meanwhile"}),
        )
        .await;
    assert_eq!(r.status, 201);
    let seqs = bob.created_in(&chat, 1, Duration::from_secs(3)).await;
    assert_eq!(
        seqs,
        vec![1],
        "the event arrives while the join is still working"
    );
    assert!(
        !bob.frames.iter().any(|f| f["type"] == "joined"),
        "the join is indeed still held"
    );
    gate.add_permits(10);
    let joined = bob.expect("joined", Duration::from_secs(5)).await;
    assert_eq!(joined["chat_id"], chat.as_str());
    bob.close().await;
    cluster.stop().await;
}
