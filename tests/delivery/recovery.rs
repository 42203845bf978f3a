//! Recovery after an absence: a member away for 2,500 messages pages back through
//! all of them, each once and in order; a client away while messages were edited,
//! deleted, pinned and unpinned learns of every change.

use std::time::Duration;

use futures::stream::{self, StreamExt};
use serde_json::{json, Value};

use crate::support::{chat_of, on, users, Cluster, Socket};

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_away_for_2500_messages_pages_back_through_all_of_them() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let people = users(&[cluster.a(), cluster.b()], 2, "p").await;
    let chat = chat_of(&people).await;
    let sender = on(cluster.a(), &people[0].0);
    const AWAY: usize = 2500;
    let sent: Vec<u16> = stream::iter(1..=AWAY)
        .map(|n| {
            let sender = sender.clone();
            let chat = chat.clone();
            async move {
                let r = sender
                    .post(
                        &format!("/api/chats/{chat}/messages"),
                        json!({"content": format!("m{n} {}", "x".repeat(300))}),
                    )
                    .await;
                r.status
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    assert!(sent.iter().all(|s| *s == 201), "every send stored");

    let mut bob = Socket::connect(cluster.b(), people[1].0.token()).await;
    let mut since = 0;
    let mut recovered = Vec::new();
    let mut pages = 0;
    loop {
        bob.send_json(json!({"type": "join", "chat_id": chat, "since_seq": since}))
            .await;
        let joined = bob.expect("joined", WAIT).await;
        pages += 1;
        let missed = joined["missed"].as_array().expect("missed");
        recovered.extend(missed.iter().map(|m| m["seq"].as_i64().unwrap()));
        if joined["has_more"] != true {
            break;
        }
        since = *recovered.last().expect("a page with has_more is not empty");
        assert!(pages < 50, "paging must end");
    }
    assert_eq!(
        recovered,
        (1..=AWAY as i64).collect::<Vec<_>>(),
        "every message once, in order, over {pages} pages"
    );
    assert!(pages >= 3, "a page holds at most 1,000 messages or 512 KiB");
    bob.close().await;
    cluster.stop().await;
}

fn by_type<'a>(changes: &'a [Value], kind: &str) -> Vec<&'a Value> {
    changes.iter().filter(|c| c["type"] == kind).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_away_learns_of_edits_deletions_pins_and_unpins() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let people = users(&[cluster.a(), cluster.b()], 2, "c").await;
    let chat = chat_of(&people).await;
    let alice = on(cluster.a(), &people[0].0);
    let mut ids = Vec::new();
    for n in 1..=5 {
        let r = alice
            .post(
                &format!("/api/chats/{chat}/messages"),
                json!({"content": format!("m{n}")}),
            )
            .await;
        ids.push(r.body["id"].as_str().unwrap().to_owned());
    }
    // Bob saw all five live, then went away at pts 5.
    let mut bob = Socket::connect(cluster.b(), people[1].0.token()).await;
    bob.send_json(json!({"type": "join", "chat_id": chat, "since_seq": 0}))
        .await;
    let joined = bob.expect("joined", WAIT).await;
    assert_eq!(joined["seq"], 5);
    assert_eq!(joined["pts"], 5);
    bob.close().await;

    let patch = alice
        .patch(
            &format!("/api/messages/{}", ids[1]),
            json!({"content": "m2, edited"}),
        )
        .await;
    assert_eq!(patch.status, 200);
    assert_eq!(
        alice
            .delete(&format!("/api/messages/{}", ids[2]))
            .await
            .status,
        204
    );
    assert_eq!(
        alice
            .post_empty(&format!("/api/messages/{}/pin", ids[3]))
            .await
            .status,
        200
    );
    assert_eq!(
        alice
            .delete(&format!("/api/messages/{}/pin", ids[3]))
            .await
            .status,
        200
    );
    assert_eq!(
        alice
            .post_empty(&format!("/api/messages/{}/pin", ids[4]))
            .await
            .status,
        200
    );
    alice
        .post(
            &format!("/api/chats/{chat}/messages"),
            json!({"content": "m6"}),
        )
        .await;

    let mut bob = Socket::connect(cluster.b(), people[1].0.token()).await;
    bob.send_json(json!({"type": "join", "chat_id": chat, "since_seq": 5, "since_pts": 5}))
        .await;
    let joined = bob.expect("joined", WAIT).await;
    let missed: Vec<i64> = joined["missed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(missed, vec![6], "the new message comes as missed");
    let changes = joined["changes"].as_array().expect("changes").clone();
    let updated = by_type(&changes, "message.updated");
    assert_eq!(updated.len(), 1);
    assert_eq!(updated[0]["message"]["content"], "m2, edited");
    let deleted = by_type(&changes, "message.deleted");
    assert_eq!(deleted.len(), 1, "{changes:?}");
    assert_eq!(
        deleted[0]["message"]["id"],
        ids[2].as_str(),
        "deleted by id"
    );
    let unpinned = by_type(&changes, "message.unpinned");
    assert_eq!(
        unpinned.len(),
        1,
        "a pin then an unpin is one change: the unpin"
    );
    assert_eq!(unpinned[0]["message"]["id"], ids[3].as_str());
    let pinned = by_type(&changes, "message.pinned");
    assert_eq!(pinned.len(), 1);
    assert_eq!(pinned[0]["message"]["id"], ids[4].as_str());
    assert!(pinned[0]["message"]["pinned_at"].is_string());
    assert_eq!(changes.len(), 4, "one change per message the client had");
    assert_eq!(joined["changes_has_more"], false);
    assert_eq!(joined["pts"], 11, "6 changes and 1 creation after pts 5");
    let ordered: Vec<i64> = changes.iter().map(|c| c["pts"].as_i64().unwrap()).collect();
    assert!(
        ordered.windows(2).all(|w| w[0] < w[1]),
        "oldest first: {ordered:?}"
    );
    // The chat list says where each chat stands, for unread counts.
    let list = on(cluster.b(), &people[1].0).get("/api/chats").await;
    let entry = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == chat.as_str())
        .cloned();
    let entry = entry.expect("the chat is listed");
    assert_eq!(
        (entry["last_seq"].as_i64(), entry["last_pts"].as_i64()),
        (Some(6), Some(11))
    );
    bob.close().await;
    cluster.stop().await;
}
