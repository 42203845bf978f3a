//! Editing, deleting and pinning messages, and the chat events they publish.

use webchat_domain::{Event, MessageId, Topic};
use webchat_ports::Clock;

use super::message::{seqs, Room};
use super::{advance, next};
use crate::usecase::AppError;

#[tokio::test]
async fn only_the_author_edits_and_the_edit_is_announced() {
    let room = Room::new().await;
    let m = &room.fx.app.messages;
    let topic = Topic::Chat(room.chat);
    let sent = m.send(room.alice, room.chat, "helo", None).await.unwrap();
    let mut events = room.fx.subscribe(topic.clone()).await;

    let err = m.edit(room.bob, sent.id, "hijacked").await.unwrap_err();
    assert!(
        matches!(err, AppError::Forbidden),
        "member, not author: {err:?}"
    );
    let err = m.edit(room.eve, sent.id, "hijacked").await.unwrap_err();
    assert!(matches!(err, AppError::Forbidden), "{err:?}");
    let err = m.edit(room.alice, sent.id, "   ").await.unwrap_err();
    assert!(matches!(err, AppError::Validation { .. }), "{err:?}");
    let err = m.edit(room.alice, MessageId::new(), "x").await.unwrap_err();
    assert!(matches!(err, AppError::NotFound("message")), "{err:?}");
    room.fx.assert_quiet(&mut events, &topic).await;

    advance(&room.fx.clock, 30);
    let edited = m.edit(room.alice, sent.id, " hello ").await.unwrap();
    assert_eq!(edited.content, "hello");
    assert_eq!(edited.edited_at, Some(room.fx.clock.now()));
    assert_eq!((edited.id, edited.seq), (sent.id, sent.seq));
    assert_eq!(edited.created_at, sent.created_at);
    assert_eq!(
        next(&mut events).await,
        Event::MessageUpdated {
            chat_id: room.chat,
            message: edited.clone(),
            pts: 2,
        }
    );
    assert_eq!(m.get(room.bob, sent.id).await.unwrap(), edited);
}

#[tokio::test]
async fn only_the_author_deletes_and_the_message_is_gone() {
    let room = Room::new().await;
    let m = &room.fx.app.messages;
    let topic = Topic::Chat(room.chat);
    let sent = room.send_many(3).await;
    let target = &sent[0]; // alice's
    let mut events = room.fx.subscribe(topic.clone()).await;

    let err = m.delete(room.bob, target.id).await.unwrap_err();
    assert!(matches!(err, AppError::Forbidden), "{err:?}");
    let err = m.delete(room.eve, target.id).await.unwrap_err();
    assert!(matches!(err, AppError::Forbidden), "{err:?}");
    room.fx.assert_quiet(&mut events, &topic).await;

    m.delete(room.alice, target.id).await.unwrap();
    assert_eq!(
        next(&mut events).await,
        Event::MessageDeleted {
            chat_id: room.chat,
            message_id: target.id,
            message: target.clone(),
            pts: 4,
        }
    );
    let err = m.get(room.alice, target.id).await.unwrap_err();
    assert!(matches!(err, AppError::NotFound("message")), "{err:?}");
    let err = m.delete(room.alice, target.id).await.unwrap_err();
    assert!(matches!(err, AppError::NotFound(_)), "{err:?}");
    let err = m.edit(room.alice, target.id, "x").await.unwrap_err();
    assert!(matches!(err, AppError::NotFound(_)), "{err:?}");
    room.fx.assert_quiet(&mut events, &topic).await;

    let history = m.history(room.bob, room.chat, None, None).await.unwrap();
    assert_eq!(seqs(&history), vec![3, 2]);
    // A deleted seq is never reused.
    let next_one = m.send(room.alice, room.chat, "m4", None).await.unwrap();
    assert_eq!(next_one.seq, 4);
}

#[tokio::test]
async fn members_pin_and_pinned_lists_the_newest_pin_first() {
    let room = Room::new().await;
    let m = &room.fx.app.messages;
    let topic = Topic::Chat(room.chat);
    let sent = room.send_many(3).await;
    assert!(m.pinned(room.alice, room.chat).await.unwrap().is_empty());
    let mut events = room.fx.subscribe(topic.clone()).await;

    let err = m.set_pinned(room.eve, sent[0].id, true).await.unwrap_err();
    assert!(matches!(err, AppError::Forbidden), "{err:?}");
    let err = m
        .set_pinned(room.alice, MessageId::new(), true)
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::NotFound(_)), "{err:?}");
    room.fx.assert_quiet(&mut events, &topic).await;

    // Bob pins alice's message: pinning is for any member, not just the author.
    let first = m.set_pinned(room.bob, sent[0].id, true).await.unwrap();
    assert_eq!(first.pinned_at, Some(room.fx.clock.now()));
    assert_eq!(
        next(&mut events).await,
        Event::MessagePinned {
            chat_id: room.chat,
            message: first.clone(),
            pts: 4,
        }
    );
    advance(&room.fx.clock, 5);
    let second = m.set_pinned(room.alice, sent[2].id, true).await.unwrap();
    advance(&room.fx.clock, 5);
    let middle = m.set_pinned(room.alice, sent[1].id, true).await.unwrap();
    assert!(matches!(
        next(&mut events).await,
        Event::MessagePinned { .. }
    ));
    assert!(matches!(
        next(&mut events).await,
        Event::MessagePinned { .. }
    ));
    let pinned = m.pinned(room.bob, room.chat).await.unwrap();
    assert_eq!(pinned, vec![middle.clone(), second.clone(), first.clone()]);

    let unpinned = m.set_pinned(room.alice, sent[2].id, false).await.unwrap();
    assert_eq!(unpinned.pinned_at, None);
    assert_eq!(
        next(&mut events).await,
        Event::MessageUnpinned {
            chat_id: room.chat,
            message: unpinned.clone(),
            pts: 7,
        }
    );
    let pinned = m.pinned(room.alice, room.chat).await.unwrap();
    assert_eq!(pinned, vec![middle, first]);
    assert_eq!(m.get(room.alice, sent[2].id).await.unwrap(), unpinned);
}

#[tokio::test]
async fn typing_is_relayed_to_the_chat() {
    let room = Room::new().await;
    let topic = Topic::Chat(room.chat);
    let mut events = room.fx.subscribe(topic).await;
    room.fx.app.messages.typing(room.bob, room.chat).await;
    assert_eq!(
        next(&mut events).await,
        Event::Typing {
            chat_id: room.chat,
            user_id: room.bob,
        }
    );
}
