use std::future::Future;

use futures::future::join_all;
use webchat_domain::{ChatId, UserId};

use super::{chat_by, stored_chat, stored_users, Repositories};
use crate::{AddMember, PortError};

/// No cap, for the cases that are not about it.
const UNCAPPED: usize = usize::MAX;

/// ChatRepository: chats, membership in join order, the member cap (also under
/// concurrent adds), a user's chats oldest first and paged by id.
pub async fn chat_repository_contract<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Repositories>,
{
    stores_chats_with_their_members(&make().await).await;
    adds_members_once(&make().await).await;
    lists_a_users_chats_oldest_first(&make().await).await;
    caps_members(&make().await).await;
    concurrent_adds_never_pass_the_cap(&make().await).await;
    pages_a_users_chats_by_id(&make().await).await;
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

    assert_eq!(
        repos
            .chats
            .add_member(chat.id, u[3].id, UNCAPPED)
            .await
            .expect("add_member"),
        AddMember::Added,
        "add_member of a new member is Added"
    );
    assert_eq!(
        repos
            .chats
            .add_member(chat.id, u[2].id, UNCAPPED)
            .await
            .expect("add_member"),
        AddMember::Added,
        "add_member of another new member is Added"
    );
    assert_eq!(
        repos
            .chats
            .add_member(chat.id, u[3].id, UNCAPPED)
            .await
            .expect("add_member"),
        AddMember::AlreadyMember,
        "add_member of a member is AlreadyMember"
    );
    assert_eq!(
        repos
            .chats
            .add_member(chat.id, u[0].id, UNCAPPED)
            .await
            .expect("add_member"),
        AddMember::AlreadyMember,
        "add_member of an initial member is AlreadyMember"
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

    let err = repos
        .chats
        .add_member(ChatId::new(), u[0].id, UNCAPPED)
        .await;
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
    assert_eq!(
        repos
            .chats
            .add_member(third.id, me, UNCAPPED)
            .await
            .expect("add_member"),
        AddMember::Added,
        "add_member of a new member is Added"
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
        vec![elsewhere.clone()],
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
    assert_eq!(
        repos
            .chats
            .chat_ids_for_user(me)
            .await
            .expect("chat_ids_for_user"),
        vec![first.id, second.id, third.id],
        "chat_ids_for_user lists the ids of the user's chats, oldest first"
    );
    assert_eq!(
        repos
            .chats
            .chat_ids_for_user(outsider)
            .await
            .expect("chat_ids_for_user"),
        vec![elsewhere.id],
        "chat_ids_for_user leaves out chats the user is not in"
    );
}

async fn caps_members(repos: &Repositories) {
    let u = stored_users(repos, 5).await;
    let chat = stored_chat(repos, &[u[0].id, u[1].id]).await;
    let add = |user: UserId, cap: usize| repos.chats.add_member(chat.id, user, cap);

    assert_eq!(
        add(u[2].id, 3).await.expect("add_member"),
        AddMember::Added,
        "add_member below the cap is Added"
    );
    assert_eq!(
        add(u[3].id, 3).await.expect("add_member"),
        AddMember::Full,
        "add_member at the cap is Full"
    );
    assert_eq!(
        add(u[1].id, 3).await.expect("add_member"),
        AddMember::AlreadyMember,
        "add_member of a member is AlreadyMember even at the cap"
    );
    assert_eq!(
        add(u[4].id, 1).await.expect("add_member"),
        AddMember::Full,
        "a chat already past a lowered cap takes nobody"
    );
    assert_eq!(
        repos.chats.members(chat.id).await.expect("members"),
        vec![u[0].id, u[1].id, u[2].id],
        "a refused add_member adds nobody"
    );
    assert!(
        !repos
            .chats
            .is_member(chat.id, u[3].id)
            .await
            .expect("is_member"),
        "a user refused by the cap is not a member"
    );
    assert_eq!(
        add(u[3].id, 4).await.expect("add_member"),
        AddMember::Added,
        "a raised cap lets the next one in"
    );
    assert_eq!(
        repos.chats.add_member(ChatId::new(), u[0].id, 1).await,
        Err(PortError::NotFound),
        "add_member to an unknown chat is NotFound, cap or not"
    );
}

async fn concurrent_adds_never_pass_the_cap(repos: &Repositories) {
    const CAP: usize = 5;
    let u = stored_users(repos, 13).await;
    let chat = stored_chat(repos, &[u[0].id]).await;
    let outcomes = join_all(
        u[1..]
            .iter()
            .map(|user| repos.chats.add_member(chat.id, user.id, CAP)),
    )
    .await;
    let added = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(AddMember::Added)))
        .count();
    let full = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(AddMember::Full)))
        .count();
    assert_eq!(
        (added, full),
        (CAP - 1, u.len() - CAP),
        "of concurrent adds, exactly the free places are Added and the rest Full: {outcomes:?}"
    );
    let members = repos.chats.members(chat.id).await.expect("members");
    assert_eq!(
        members.len(),
        CAP,
        "concurrent adds fill the chat to its cap, no further"
    );
}

async fn pages_a_users_chats_by_id(repos: &Repositories) {
    let u = stored_users(repos, 3).await;
    let (me, friend, outsider) = (u[0].id, u[1].id, u[2].id);
    let mut mine = Vec::new();
    for i in 0..7 {
        let chat = chat_by(friend, i);
        repos
            .chats
            .create(&chat, &[friend, me])
            .await
            .expect("create chat");
        mine.push(chat);
        let other = chat_by(outsider, i);
        repos
            .chats
            .create(&other, &[outsider, friend])
            .await
            .expect("create chat");
    }
    let joined = chat_by(friend, 8);
    repos
        .chats
        .create(&joined, &[friend])
        .await
        .expect("create chat");
    repos
        .chats
        .add_member(joined.id, me, UNCAPPED)
        .await
        .expect("add_member");
    mine.push(joined);
    mine.sort_by_key(|c| c.id);

    let first = repos
        .chats
        .chats_page(me, None, 3)
        .await
        .expect("chats_page");
    assert_eq!(
        first,
        mine[..3],
        "the first page holds the smallest ids, in order"
    );
    let second = repos
        .chats
        .chats_page(me, Some(first[2].id), 3)
        .await
        .expect("chats_page");
    assert_eq!(
        second,
        mine[3..6],
        "`after` starts the page right after that id"
    );
    let last = repos
        .chats
        .chats_page(me, Some(second[2].id), 3)
        .await
        .expect("chats_page");
    assert_eq!(last, mine[6..], "the last page is short");
    assert_eq!(
        repos
            .chats
            .chats_page(me, Some(mine[7].id), 3)
            .await
            .expect("chats_page"),
        vec![],
        "after the largest id comes nothing"
    );
    assert_eq!(
        repos
            .chats
            .chats_page(me, None, 100)
            .await
            .expect("chats_page"),
        mine,
        "one large page lists every chat of the user (added ones too), and no other"
    );
    let cursor = ChatId::new();
    assert_eq!(
        repos
            .chats
            .chats_page(me, Some(cursor), 100)
            .await
            .expect("chats_page"),
        mine.iter()
            .filter(|c| c.id > cursor)
            .cloned()
            .collect::<Vec<_>>(),
        "`after` need not be one of the user's chats"
    );
    assert_eq!(
        repos
            .chats
            .chats_page(UserId::new(), None, 10)
            .await
            .expect("chats_page"),
        vec![],
        "a user in no chat has no pages"
    );
}
