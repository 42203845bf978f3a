//! The cache in front of the message repository: reads are served from it once warm,
//! and every write keeps it in step with the repository.

use webchat_ports::RECENT_WINDOW;

use super::message::{seqs, Room};

#[tokio::test]
async fn history_is_served_from_the_recent_window_after_a_first_read() {
    let room = Room::new().await;
    let sent = room.send_many(5).await;
    let m = &room.fx.app.messages;
    let first = m.history(room.bob, room.chat, None, None).await.unwrap();
    assert_eq!(seqs(&first), vec![5, 4, 3, 2, 1]);

    // Remove a row behind the use cases' back: only a cached window still has it.
    room.fx.repos.messages.delete(sent[2].id).await.unwrap();
    let cached = m.history(room.bob, room.chat, None, None).await.unwrap();
    assert_eq!(cached, first, "served from the window, not the repository");
    let page = m
        .history(room.bob, room.chat, Some(4), Some(2))
        .await
        .unwrap();
    assert_eq!(seqs(&page), vec![3, 2], "before_seq pages come from it too");
}

#[tokio::test]
async fn sends_after_warm_up_extend_the_window() {
    let room = Room::new().await;
    room.send_many(2).await;
    let m = &room.fx.app.messages;
    m.history(room.bob, room.chat, None, None).await.unwrap();
    let third = m.send(room.alice, room.chat, "m3", None).await.unwrap();
    let history = m.history(room.bob, room.chat, None, None).await.unwrap();
    assert_eq!(seqs(&history), vec![3, 2, 1]);
    assert_eq!(history[0], third);
}

#[tokio::test]
async fn get_is_served_from_the_cache() {
    let room = Room::new().await;
    let sent = room.send_many(1).await.remove(0);
    let m = &room.fx.app.messages;
    // The first read goes to the repository and keeps a copy (cache-aside)...
    assert_eq!(m.get(room.bob, sent.id).await.unwrap(), sent);
    room.fx.repos.messages.delete(sent.id).await.unwrap();
    // ...so the cache answers for the row now gone behind its back.
    assert_eq!(m.get(room.bob, sent.id).await.unwrap(), sent);
}

#[tokio::test]
async fn edits_and_pins_reach_a_warm_window() {
    let room = Room::new().await;
    let sent = room.send_many(3).await;
    let m = &room.fx.app.messages;
    m.history(room.bob, room.chat, None, None).await.unwrap();

    let edited = m.edit(room.bob, sent[1].id, "changed").await.unwrap();
    let pinned = m.set_pinned(room.alice, sent[0].id, true).await.unwrap();
    let history = m.history(room.bob, room.chat, None, None).await.unwrap();
    assert_eq!(history[1], edited);
    assert_eq!(history[2], pinned);
    assert_eq!(m.get(room.alice, sent[1].id).await.unwrap(), edited);
}

#[tokio::test]
async fn deletes_leave_no_trace_in_a_warm_window() {
    let room = Room::new().await;
    let sent = room.send_many(4).await;
    let m = &room.fx.app.messages;
    m.history(room.bob, room.chat, None, None).await.unwrap();
    m.delete(room.bob, sent[1].id).await.unwrap();
    let history = m.history(room.bob, room.chat, None, None).await.unwrap();
    assert_eq!(seqs(&history), vec![4, 3, 1]);
    let page = m
        .history(room.bob, room.chat, Some(4), Some(5))
        .await
        .unwrap();
    assert_eq!(seqs(&page), vec![3, 1]);
}

#[tokio::test]
async fn a_full_window_does_not_hide_older_history() {
    let room = Room::new().await;
    let n = RECENT_WINDOW + 10;
    room.send_many(n).await;
    let m = &room.fx.app.messages;
    m.history(room.bob, room.chat, None, Some(10))
        .await
        .unwrap();
    // Everything older than the window's tail must come from the repository.
    let oldest = m
        .history(room.bob, room.chat, Some(12), Some(20))
        .await
        .unwrap();
    assert_eq!(seqs(&oldest), (1..=11).rev().collect::<Vec<i64>>());
    let straddling = m
        .history(room.bob, room.chat, Some(15), Some(10))
        .await
        .unwrap();
    assert_eq!(seqs(&straddling), (5..=14).rev().collect::<Vec<i64>>());
}

#[tokio::test]
async fn pinned_is_served_from_the_cache_and_kept_in_step() {
    let room = Room::new().await;
    let sent = room.send_many(3).await;
    let m = &room.fx.app.messages;
    let a = m.set_pinned(room.alice, sent[0].id, true).await.unwrap();
    assert_eq!(
        m.pinned(room.bob, room.chat).await.unwrap(),
        vec![a.clone()]
    );

    // The set is cached: a row removed behind the use cases' back still shows.
    room.fx.repos.messages.delete(sent[0].id).await.unwrap();
    assert_eq!(
        m.pinned(room.bob, room.chat).await.unwrap(),
        vec![a.clone()]
    );

    super::advance(&room.fx.clock, 1);
    let b = m.set_pinned(room.bob, sent[1].id, true).await.unwrap();
    assert_eq!(
        m.pinned(room.bob, room.chat).await.unwrap(),
        vec![b.clone(), a.clone()]
    );
    m.set_pinned(room.bob, sent[1].id, false).await.unwrap();
    assert_eq!(m.pinned(room.bob, room.chat).await.unwrap(), vec![a]);
}
