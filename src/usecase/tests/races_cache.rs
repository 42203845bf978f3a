//! Interleavings of concurrent requests around the message cache, made deterministic
//! by a repository wrapper that pauses one call.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use webchat_domain::{ChatHead, ChatId, Message, MessageContent, MessageId, NewMessage};
use webchat_ports::{ChangePage, Changed, InsertOutcome, MessageRepository, PortResult};

use super::message::{seqs, Room};
use super::Fixture;
use crate::usecase::AppError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    Insert,
    Get,
    Page,
    SetPinned,
}

/// Delegates to a real repository; the next call of the armed kind pauses, after
/// the repository answered, until the test releases it.
struct Gated {
    inner: Arc<dyn MessageRepository>,
    armed: Mutex<Option<Call>>,
    reached: Notify,
    release: Notify,
}

impl Gated {
    fn new(inner: Arc<dyn MessageRepository>) -> Arc<Self> {
        Arc::new(Self {
            inner,
            armed: Mutex::new(None),
            reached: Notify::new(),
            release: Notify::new(),
        })
    }

    fn hold(&self, call: Call) {
        *self.armed.lock().unwrap() = Some(call);
    }

    async fn pass<T>(&self, call: Call, result: T) -> T {
        let stop = {
            let mut armed = self.armed.lock().unwrap();
            let stop = *armed == Some(call);
            if stop {
                *armed = None;
            }
            stop
        };
        if stop {
            self.reached.notify_one();
            self.release.notified().await;
        }
        result
    }
}

#[async_trait]
impl MessageRepository for Gated {
    async fn insert(&self, message: NewMessage) -> PortResult<InsertOutcome> {
        let r = self.inner.insert(message).await;
        self.pass(Call::Insert, r).await
    }
    async fn get(&self, id: MessageId) -> PortResult<Option<Message>> {
        let r = self.inner.get(id).await;
        self.pass(Call::Get, r).await
    }
    async fn page(
        &self,
        chat: ChatId,
        before_seq: Option<i64>,
        limit: usize,
    ) -> PortResult<Vec<Message>> {
        let r = self.inner.page(chat, before_seq, limit).await;
        self.pass(Call::Page, r).await
    }
    async fn since_seq(&self, chat: ChatId, after: i64, limit: usize) -> PortResult<Vec<Message>> {
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
        let r = self.inner.set_pinned(id, at).await;
        self.pass(Call::SetPinned, r).await
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

async fn gated_room() -> (Room, Arc<Gated>) {
    let mut gate = None;
    let fx = Fixture::with_ports(|mut p| {
        let g = Gated::new(p.messages.clone());
        gate = Some(g.clone());
        p.messages = g;
        p
    });
    (Room::over(fx).await, gate.unwrap())
}

#[tokio::test]
async fn sends_whose_cache_writes_arrive_out_of_order_leave_no_hole_in_history() {
    let (room, gate) = gated_room().await;
    room.send_many(2).await;
    let m = room.fx.app.messages.clone();
    m.history(room.bob, room.chat, None, None).await.unwrap();

    gate.hold(Call::Insert);
    let slow = tokio::spawn({
        let (m, alice, chat) = (m.clone(), room.alice, room.chat);
        async move { m.send(alice, chat, "slow", None).await }
    });
    gate.reached.notified().await; // seq 3 stored, not yet cached
    m.send(room.bob, room.chat, "fast", None).await.unwrap(); // seq 4
    gate.release.notify_one();
    slow.await.unwrap().unwrap();

    let history = m.history(room.bob, room.chat, None, None).await.unwrap();
    assert_eq!(seqs(&history), vec![4, 3, 2, 1]);
}

#[tokio::test]
async fn a_send_during_a_cold_history_read_is_not_lost_from_history() {
    let (room, gate) = gated_room().await;
    room.send_many(2).await;
    let m = room.fx.app.messages.clone();

    gate.hold(Call::Page);
    let reader = tokio::spawn({
        let (m, bob, chat) = (m.clone(), room.bob, room.chat);
        async move { m.history(bob, chat, None, None).await }
    });
    gate.reached.notified().await; // read seqs 2..1, window not yet warmed
    m.send(room.alice, room.chat, "m3", None).await.unwrap();
    gate.release.notify_one();
    reader.await.unwrap().unwrap();
    m.send(room.alice, room.chat, "m4", None).await.unwrap();

    let history = m.history(room.bob, room.chat, None, None).await.unwrap();
    assert_eq!(seqs(&history), vec![4, 3, 2, 1]);
}

#[tokio::test]
async fn a_get_racing_a_delete_does_not_bring_the_message_back() {
    let (room, gate) = gated_room().await;
    let sent = room.send_many(1).await.remove(0);
    let m = room.fx.app.messages.clone();
    room.fx.app.admin.clear_cache().await.unwrap();

    gate.hold(Call::Get);
    let reader = tokio::spawn({
        let (m, bob, id) = (m.clone(), room.bob, sent.id);
        async move { m.get(bob, id).await }
    });
    gate.reached.notified().await; // read from the repository, not yet re-cached
    m.delete(room.alice, sent.id).await.unwrap();
    gate.release.notify_one();
    reader.await.unwrap().unwrap();

    let after = m.get(room.bob, sent.id).await;
    assert!(matches!(after, Err(AppError::NotFound(_))), "{after:?}");
}

#[tokio::test]
async fn a_pin_racing_a_delete_does_not_bring_the_message_back() {
    let (room, gate) = gated_room().await;
    let sent = room.send_many(2).await;
    let m = room.fx.app.messages.clone();
    let first = m.set_pinned(room.alice, sent[0].id, true).await.unwrap();
    m.pinned(room.alice, room.chat).await.unwrap(); // the pinned set is cached

    gate.hold(Call::SetPinned);
    let pinner = tokio::spawn({
        let (m, alice, id) = (m.clone(), room.alice, sent[1].id);
        async move { m.set_pinned(alice, id, true).await }
    });
    gate.reached.notified().await; // pinned in the repository, cache not yet told
    m.delete(room.bob, sent[1].id).await.unwrap();
    gate.release.notify_one();
    pinner.await.unwrap().unwrap();

    assert_eq!(m.pinned(room.alice, room.chat).await.unwrap(), vec![first]);
    let after = m.get(room.bob, sent[1].id).await;
    assert!(matches!(after, Err(AppError::NotFound(_))), "{after:?}");
}
