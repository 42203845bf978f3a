//! Chats and membership.

use webchat_domain::{ChatId, Event, Topic, UserId};

use super::{next, Fixture};
use crate::usecase::chat::MAX_INITIAL_MEMBERS;
use crate::usecase::AppError;

#[tokio::test]
async fn the_creator_is_a_member_and_duplicates_collapse() {
    let fx = Fixture::new();
    let (alice, bob, carol) = (
        fx.user("alice").await,
        fx.user("bob").await,
        fx.user("carol").await,
    );
    let view = fx
        .app
        .chats
        .create(alice, "  general ", &[bob, carol, bob, alice])
        .await
        .unwrap();
    assert_eq!(view.member_ids, vec![alice, bob, carol]);
    assert_eq!(view.chat.name.as_str(), "general");
    assert_eq!(view.chat.created_by, alice);
    assert_eq!(
        fx.repos.chats.members(view.chat.id).await.unwrap(),
        vec![alice, bob, carol],
        "stored once each"
    );
    let alone = fx.app.chats.create(alice, "notes", &[]).await.unwrap();
    assert_eq!(alone.member_ids, vec![alice]);

    let listed: Vec<ChatId> = fx
        .app
        .chats
        .list(alice, None, None)
        .await
        .unwrap()
        .iter()
        .map(|c| c.chat.id)
        .collect();
    assert_eq!(listed, vec![view.chat.id, alone.chat.id]);
    assert_eq!(
        fx.app.chats.chat_ids(carol).await.unwrap(),
        vec![view.chat.id]
    );
}

#[tokio::test]
async fn create_validates_name_and_members() {
    let fx = Fixture::new();
    let alice = fx.user("alice").await;
    let bob = fx.user("bob").await;
    let err = fx.app.chats.create(alice, "   ", &[bob]).await.unwrap_err();
    assert!(
        matches!(err, AppError::Validation { field: "name", .. }),
        "{err:?}"
    );
    let stranger = UserId::new();
    let err = fx
        .app
        .chats
        .create(alice, "room", &[bob, stranger])
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            AppError::Validation {
                field: "member_ids",
                ..
            }
        ),
        "{err:?}"
    );
    let too_many: Vec<UserId> = (0..=MAX_INITIAL_MEMBERS).map(|_| bob).collect();
    let err = fx
        .app
        .chats
        .create(alice, "room", &too_many)
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Validation { .. }), "{err:?}");
    assert!(
        fx.app
            .chats
            .list(alice, None, None)
            .await
            .unwrap()
            .is_empty(),
        "nothing was created"
    );
}

#[tokio::test]
async fn get_is_for_members_only() {
    let fx = Fixture::new();
    let (alice, bob, eve) = (
        fx.user("alice").await,
        fx.user("bob").await,
        fx.user("eve").await,
    );
    let chat = fx.chat(alice, &[bob]).await;
    let view = fx.app.chats.get(bob, chat).await.unwrap();
    assert_eq!(view.member_ids, vec![alice, bob]);

    let err = fx.app.chats.get(eve, chat).await.unwrap_err();
    assert!(matches!(err, AppError::Forbidden), "{err:?}");
    let err = fx.app.chats.get(alice, ChatId::new()).await.unwrap_err();
    assert!(matches!(err, AppError::NotFound("chat")), "{err:?}");

    fx.app.chats.ensure_member(bob, chat).await.unwrap();
    let err = fx.app.chats.ensure_member(eve, chat).await.unwrap_err();
    assert!(matches!(err, AppError::Forbidden), "{err:?}");
    let err = fx
        .app
        .chats
        .ensure_member(eve, ChatId::new())
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::NotFound(_)), "{err:?}");
}

#[tokio::test]
async fn add_member_is_for_members_and_idempotent() {
    let fx = Fixture::new();
    let (alice, bob, eve) = (
        fx.user("alice").await,
        fx.user("bob").await,
        fx.user("eve").await,
    );
    let chat = fx.chat(alice, &[]).await;

    let err = fx.app.chats.add_member(eve, chat, eve).await.unwrap_err();
    assert!(matches!(err, AppError::Forbidden), "{err:?}");
    let err = fx
        .app
        .chats
        .add_member(alice, chat, UserId::new())
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::NotFound("user")), "{err:?}");
    let err = fx
        .app
        .chats
        .add_member(alice, ChatId::new(), bob)
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::NotFound("chat")), "{err:?}");

    let mut bobs_events = fx.subscribe(Topic::User(bob)).await;
    let view = fx.app.chats.add_member(alice, chat, bob).await.unwrap();
    assert_eq!(view.member_ids, vec![alice, bob]);
    match next(&mut bobs_events).await {
        Event::ChatJoined {
            user_id,
            chat: joined,
            member_ids,
        } => {
            assert_eq!((user_id, joined.id), (bob, chat));
            assert_eq!(member_ids, vec![alice, bob]);
        }
        other => panic!("expected chat.joined, got {other:?}"),
    }

    // Again: same view, no second announcement, no duplicate membership.
    let again = fx.app.chats.add_member(bob, chat, bob).await.unwrap();
    assert_eq!(again.member_ids, vec![alice, bob]);
    fx.assert_quiet(&mut bobs_events, &Topic::User(bob)).await;
    assert_eq!(
        fx.repos.chats.members(chat).await.unwrap(),
        vec![alice, bob]
    );
    // The new member may now add others.
    let view = fx.app.chats.add_member(bob, chat, eve).await.unwrap();
    assert_eq!(view.member_ids, vec![alice, bob, eve]);
}

#[tokio::test]
async fn create_announces_the_chat_to_every_member() {
    let fx = Fixture::new();
    let (alice, bob, carol, eve) = (
        fx.user("alice").await,
        fx.user("bob").await,
        fx.user("carol").await,
        fx.user("eve").await,
    );
    let mut streams = Vec::new();
    for user in [alice, bob, carol, eve] {
        streams.push((user, fx.subscribe(Topic::User(user)).await));
    }
    let view = fx
        .app
        .chats
        .create(alice, "room", &[bob, carol, bob])
        .await
        .unwrap();
    for (user, events) in &mut streams[..3] {
        match next(events).await {
            Event::ChatJoined {
                user_id,
                chat,
                member_ids,
            } => {
                assert_eq!(user_id, *user);
                assert_eq!(chat, view.chat);
                assert_eq!(member_ids, vec![alice, bob, carol]);
            }
            other => panic!("expected chat.joined, got {other:?}"),
        }
        // One announcement each, even for a member listed twice.
        fx.assert_quiet(events, &Topic::User(*user)).await;
    }
    let (_, eves) = &mut streams[3];
    fx.assert_quiet(eves, &Topic::User(eve)).await;
}
