use std::future::Future;

use webchat_domain::{ChatId, UserId};

use super::{chat_by, stored_chat, stored_users, Repositories};
use crate::PortError;

/// ChatRepository: chats, membership in join order, and a user's chats oldest first.
pub async fn chat_repository_contract<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Repositories>,
{
    stores_chats_with_their_members(&make().await).await;
    adds_members_once(&make().await).await;
    lists_a_users_chats_oldest_first(&make().await).await;
}

async fn stores_chats_with_their_members(repos: &Repositories) {
    let u = stored_users(repos, 4).await;
    let chat = chat_by(u[0].id, 0);
    let initial = [u[0].id, u[1].id, u[1].id, u[2].id];
    repos
        .chats
        .create(&chat, &initial)
        .await
        .expect("create chat");

    assert_eq!(
        repos.chats.get(chat.id).await.expect("get chat"),
        Some(chat.clone()),
        "get returns the stored chat"
    );
    assert_eq!(
        repos
            .chats
            .get(ChatId::new())
            .await
            .expect("get unknown chat"),
        None,
        "get of an unknown chat is None"
    );
    assert_eq!(
        repos.chats.members(chat.id).await.expect("members"),
        vec![u[0].id, u[1].id, u[2].id],
        "members are the initial members in the order given, duplicates ignored"
    );
    for member in [u[0].id, u[1].id, u[2].id] {
        assert!(
            repos
                .chats
                .is_member(chat.id, member)
                .await
                .expect("is_member"),
            "is_member is true for an initial member"
        );
    }
    assert!(
        !repos
            .chats
            .is_member(chat.id, u[3].id)
            .await
            .expect("is_member"),
        "is_member is false for a user who never joined"
    );
    assert!(
        !repos
            .chats
            .is_member(ChatId::new(), u[0].id)
            .await
            .expect("is_member"),
        "is_member is false for an unknown chat"
    );

    let mut clash = chat_by(u[3].id, 0);
    clash.id = chat.id;
    let err = repos.chats.create(&clash, &[u[3].id]).await;
    assert!(
        matches!(err, Err(PortError::Conflict(_))),
        "create with an existing chat id is a Conflict, got {err:?}"
    );
    assert_eq!(
        repos.chats.get(chat.id).await.expect("get chat"),
        Some(chat.clone()),
        "a refused create leaves the existing chat as it was"
    );
    assert!(
        !repos
            .chats
            .is_member(chat.id, u[3].id)
            .await
            .expect("is_member"),
        "a refused create adds no member"
    );
}

async fn adds_members_once(repos: &Repositories) {
    let u = stored_users(repos, 4).await;
    let chat = stored_chat(repos, &[u[0].id, u[1].id]).await;

    assert!(
        repos
            .chats
            .add_member(chat.id, u[3].id)
            .await
            .expect("add_member"),
        "add_member of a new member is true"
    );
    assert!(
        repos
            .chats
            .add_member(chat.id, u[2].id)
            .await
            .expect("add_member"),
        "add_member of another new member is true"
    );
    assert!(
        !repos
            .chats
            .add_member(chat.id, u[3].id)
            .await
            .expect("add_member"),
        "add_member of a member is false"
    );
    assert!(
        !repos
            .chats
            .add_member(chat.id, u[0].id)
            .await
            .expect("add_member"),
        "add_member of an initial member is false"
    );
    assert_eq!(
        repos.chats.members(chat.id).await.expect("members"),
        vec![u[0].id, u[1].id, u[3].id, u[2].id],
        "members lists added members after the initial ones, in the order they joined"
    );
    assert!(
        repos
            .chats
            .is_member(chat.id, u[2].id)
            .await
            .expect("is_member"),
        "is_member is true after add_member"
    );

    let err = repos.chats.add_member(ChatId::new(), u[0].id).await;
    assert_eq!(
        err,
        Err(PortError::NotFound),
        "add_member to an unknown chat is NotFound"
    );
}

async fn lists_a_users_chats_oldest_first(repos: &Repositories) {
    let u = stored_users(repos, 3).await;
    let (me, friend, outsider) = (u[0].id, u[1].id, u[2].id);

    let first = chat_by(friend, 0);
    let second = chat_by(me, 1);
    let third = chat_by(friend, 2);
    let elsewhere = chat_by(outsider, 3);
    repos
        .chats
        .create(&first, &[friend, me])
        .await
        .expect("create chat");
    repos
        .chats
        .create(&second, &[me])
        .await
        .expect("create chat");
    repos
        .chats
        .create(&third, &[friend])
        .await
        .expect("create chat");
    repos
        .chats
        .create(&elsewhere, &[outsider, friend])
        .await
        .expect("create chat");
    assert!(
        repos
            .chats
            .add_member(third.id, me)
            .await
            .expect("add_member"),
        "add_member of a new member is true"
    );

    assert_eq!(
        repos
            .chats
            .chats_for_user(me)
            .await
            .expect("chats_for_user"),
        vec![first.clone(), second.clone(), third.clone()],
        "chats_for_user lists exactly the user's chats, oldest first"
    );
    assert_eq!(
        repos
            .chats
            .chats_for_user(outsider)
            .await
            .expect("chats_for_user"),
        vec![elsewhere],
        "chats_for_user leaves out chats the user is not in"
    );
    assert_eq!(
        repos
            .chats
            .chats_for_user(UserId::new())
            .await
            .expect("chats_for_user"),
        vec![],
        "chats_for_user of a user in no chat is empty"
    );
}
