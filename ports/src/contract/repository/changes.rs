//! The change-sequence side of the MessageRepository suite: every change takes the
//! chat's next pts, the log names each change with its message as it is now, and
//! heads say where chats stand.

use chrono::Utc;
use futures::future::join_all;
use webchat_domain::{ChangeKind, ChatHead, ChatId, MessageContent};

use super::message_history::chat_with_messages;
use super::messages::{insert_new, new_message};
use super::Repositories;
use crate::contract::fixtures::micros;

fn content(text: &str) -> MessageContent {
    MessageContent::parse(text).expect("fixture content is valid")
}

pub(super) async fn every_change_takes_the_next_pts(repos: &Repositories) {
    let (chat, stored) = chat_with_messages(repos, 3).await;
    let m = &repos.messages;
    let edited = m
        .update_content(stored[0].id, &content("edited"), micros(Utc::now()))
        .await
        .expect("update_content")
        .expect("a stored message");
    assert_eq!(
        edited.pts, 4,
        "three creations took pts 1..3; the edit takes 4"
    );
    let pinned = m
        .set_pinned(stored[1].id, Some(micros(Utc::now())))
        .await
        .expect("set_pinned")
        .expect("a stored message");
    let unpinned = m
        .set_pinned(stored[1].id, None)
        .await
        .expect("set_pinned")
        .expect("a stored message");
    let deleted = m
        .delete(stored[2].id)
        .await
        .expect("delete")
        .expect("a stored message");
    assert_eq!(
        (pinned.pts, unpinned.pts, deleted.pts),
        (5, 6, 7),
        "pins, unpins and deletes take the next pts too"
    );
    assert_eq!(
        m.update_content(stored[2].id, &content("late"), micros(Utc::now()))
            .await
            .expect("update_content"),
        None,
        "a change to a deleted message changes nothing"
    );
    assert_eq!(
        m.heads(&[chat.id]).await.expect("heads"),
        vec![ChatHead { seq: 3, pts: 7 }],
        "a refused change takes no pts; deletes never give back a seq"
    );
    let sender = stored[0].sender_id;
    let next = insert_new(repos, new_message(chat.id, sender, "fourth", None)).await;
    assert_eq!(
        (next.message.seq, next.pts),
        (4, 8),
        "a creation takes the next seq and the next pts together"
    );
    let (other, _) = chat_with_messages(repos, 1).await;
    assert_eq!(
        m.heads(&[other.id]).await.expect("heads"),
        vec![ChatHead { seq: 1, pts: 1 }],
        "every chat has its own sequences"
    );
}

pub(super) async fn the_log_names_each_change_with_the_message_as_it_is_now(repos: &Repositories) {
    let (chat, stored) = chat_with_messages(repos, 2).await;
    let m = &repos.messages;
    m.update_content(
        stored[0].id,
        &content("second thoughts"),
        micros(Utc::now()),
    )
    .await
    .expect("update_content");
    m.delete(stored[1].id).await.expect("delete");

    let page = m
        .changes_since(chat.id, 0, 100)
        .await
        .expect("changes_since");
    let kinds: Vec<(i64, ChangeKind)> = page.changes.iter().map(|c| (c.pts, c.kind)).collect();
    assert_eq!(
        kinds,
        vec![
            (1, ChangeKind::Created),
            (2, ChangeKind::Created),
            (3, ChangeKind::Edited),
            (4, ChangeKind::Deleted),
        ],
        "the log lists every change, oldest first"
    );
    assert_eq!(
        page.head,
        ChatHead { seq: 2, pts: 4 },
        "with the chat's head"
    );
    let first = &page.changes[0];
    assert_eq!(
        (first.message.content.as_str(), first.deleted),
        ("second thoughts", false),
        "a logged change carries its message as it is now"
    );
    let gone = &page.changes[1];
    assert!(
        gone.deleted && gone.message.content.is_empty() && gone.message.id == stored[1].id,
        "a deleted message is its tombstone: same id, no content"
    );
    assert!(gone.message.seq == 2 && gone.message.chat_id == chat.id);
    assert!(
        page.changes.iter().all(|c| c.chat_id == chat.id),
        "every change names its chat"
    );

    let later = m
        .changes_since(chat.id, 2, 100)
        .await
        .expect("changes_since");
    assert_eq!(
        later.changes.iter().map(|c| c.pts).collect::<Vec<_>>(),
        vec![3, 4],
        "changes_since starts after the given pts"
    );
    let first_two = m.changes_since(chat.id, 0, 2).await.expect("changes_since");
    assert_eq!(
        first_two.changes.iter().map(|c| c.pts).collect::<Vec<_>>(),
        vec![1, 2],
        "changes_since returns at most `limit`"
    );
    let unknown = m
        .changes_since(ChatId::new(), 0, 10)
        .await
        .expect("changes_since");
    assert!(
        unknown.changes.is_empty() && unknown.head == ChatHead::default(),
        "an unknown chat has no changes"
    );
    assert_eq!(
        m.get(stored[1].id).await.expect("get"),
        None,
        "only the log shows a tombstone"
    );
}

pub(super) async fn heads_say_where_chats_stand(repos: &Repositories) {
    let (a, _) = chat_with_messages(repos, 2).await;
    let (b, _) = chat_with_messages(repos, 1).await;
    let (empty, _) = chat_with_messages(repos, 0).await;
    assert_eq!(
        repos
            .messages
            .heads(&[b.id, ChatId::new(), a.id, empty.id])
            .await
            .expect("heads"),
        vec![
            ChatHead { seq: 1, pts: 1 },
            ChatHead::default(),
            ChatHead { seq: 2, pts: 2 },
            ChatHead::default(),
        ],
        "heads answers in the order asked, unknown and empty chats at 0"
    );
    assert!(repos.messages.heads(&[]).await.expect("heads").is_empty());
}

pub(super) async fn pts_stay_gapless_under_concurrent_changes(repos: &Repositories) {
    let (chat, stored) = chat_with_messages(repos, 10).await;
    let sender = stored[0].sender_id;
    let raced = content("raced");
    let edits = stored.iter().map(|s| {
        repos
            .messages
            .update_content(s.id, &raced, micros(Utc::now()))
    });
    let sends = (0..10).map(|i| {
        repos
            .messages
            .insert(new_message(chat.id, sender, &format!("more {i}"), None))
    });
    let deletes = stored[..5].iter().map(|s| repos.messages.delete(s.id));
    let (edits, sends, deletes) =
        futures::join!(join_all(edits), join_all(sends), join_all(deletes));
    let mut taken: Vec<i64> = edits
        .into_iter()
        .chain(deletes)
        .filter_map(|r| r.expect("change").map(|c| c.pts))
        .chain(sends.into_iter().map(|r| r.expect("insert").pts))
        .collect();
    taken.sort_unstable();
    let head = repos.messages.heads(&[chat.id]).await.expect("heads")[0];
    assert_eq!(
        taken,
        (11..=head.pts).collect::<Vec<_>>(),
        "racing changes take gapless, distinct pts after the ten creations"
    );
    let logged = repos
        .messages
        .changes_since(chat.id, 0, 1000)
        .await
        .expect("changes_since");
    assert_eq!(
        logged.changes.len() as i64,
        head.pts,
        "every pts is in the log"
    );
}
