//! A flood of random frames at a live server: garbage, mutated frames, binary,
//! oversized, forbidden chats, bad values (NUL, huge numbers). Meanwhile three
//! well-behaved clients talk in the same chat; afterwards each of them has every
//! message exactly once and in order, every send acknowledged, and its socket open.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::common::{create_chat, unique, user_id, Api, TestServer, Ws, WAIT};

// Few accounts (registration is throttled per address), many sockets each (under
// the cap of 20).
const FUZZ_USERS: usize = 3;
const SOCKETS_PER_FUZZ_USER: usize = 17;
/// Frames per fuzzing socket, paced under the per-socket budget (20/s) so nearly
/// all of them are parsed and handled, not just counted.
const FRAMES_PER_SOCKET: usize = 210;
/// Sends per good client: under the `strict` policy's 10 a minute.
const GOOD_SENDS: usize = 8;

fn random_string(rng: &mut StdRng, max: usize) -> String {
    let len = rng.gen_range(0..=max);
    (0..len)
        .map(|_| match rng.gen_range(0..10) {
            0 => '\0',
            1 => char::from_u32(rng.gen_range(1..32)).unwrap(),
            2 => '😀',
            3 => '"',
            4 => '\\',
            _ => rng.gen_range('a'..='z'),
        })
        .collect()
}

fn random_number(rng: &mut StdRng) -> Value {
    match rng.gen_range(0..6) {
        0 => json!(i64::MAX),
        1 => json!(i64::MIN),
        2 => json!(-1),
        3 => json!(1.5),
        4 => json!(u64::MAX),
        _ => json!(rng.gen_range(0..100)),
    }
}

/// One random frame: mostly frames that look right with a random twist.
fn random_frame(rng: &mut StdRng, chat: &str, foreign: &str) -> WsMessage {
    let kinds = ["join", "leave", "send", "typing", "status", "ping", "nope"];
    let chat_ok = chat;
    let chat = match rng.gen_range(0..4) {
        0 => json!(foreign),
        1 => json!(random_string(rng, 40)),
        2 => random_number(rng),
        _ => json!(chat),
    };
    let mut frame = json!({"type": kinds[rng.gen_range(0..kinds.len())], "chat_id": chat});
    for field in [
        "content",
        "client_msg_id",
        "since_seq",
        "since_pts",
        "status",
    ] {
        if rng.gen_bool(0.5) {
            frame[field] = match rng.gen_range(0..5) {
                0 => random_number(rng),
                1 => json!(["away"]),
                2 => json!({"nested": random_string(rng, 5)}),
                3 => Value::Null,
                _ => json!(random_string(rng, 200)),
            };
        }
    }
    match rng.gen_range(0..200) {
        0 => WsMessage::text("w".repeat(1_100_000)),
        1..=10 => WsMessage::text(random_string(rng, 300)),
        11..=20 => WsMessage::binary(
            (0..rng.gen_range(0..200))
                .map(|_| rng.gen())
                .collect::<Vec<u8>>(),
        ),
        21..=25 => WsMessage::text(format!(
            "{{\"type\":\"send\",\"content\":\"{}\"",
            "y".repeat(70_000)
        )),
        26..=40 => {
            // Cut short, at a character boundary (text frames are UTF-8).
            let text = frame.to_string();
            let keep = rng.gen_range(0..text.chars().count());
            WsMessage::text(text.chars().take(keep).collect::<String>())
        }
        51..=56 => WsMessage::text(
            json!({"type": "send", "chat_id": chat_ok, "content": format!("fuzz {}", rng.gen::<u32>())})
                .to_string(),
        ),
        57..=60 => WsMessage::text(json!({"type": "typing", "chat_id": chat_ok}).to_string()),
        41..=50 => WsMessage::text(
            json!({"type": "send", "chat_id": frame["chat_id"], "content": "z".repeat(5000)})
                .to_string(),
        ),
        _ => WsMessage::text(frame.to_string()),
    }
}

/// A fuzzing socket: fires its frames, reads (and drops) whatever comes back, and
/// reconnects if the server closed it (which only an oversized frame may cause).
async fn fuzz(
    server: std::net::SocketAddr,
    token: String,
    chat: String,
    foreign: String,
    seed: u64,
) -> usize {
    let mut rng = StdRng::seed_from_u64(seed);
    let url = format!("ws://{server}/ws?token={token}");
    let (mut socket, _) = tokio_tungstenite::connect_async(&url)
        .await
        .expect("fuzzer connects");
    let mut fired = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(60));
    while fired < FRAMES_PER_SOCKET {
        tick.tick().await;
        let frame = random_frame(&mut rng, &chat, &foreign);
        if socket.send(frame).await.is_err() {
            let (again, _) = tokio_tungstenite::connect_async(&url)
                .await
                .expect("fuzzer reconnects");
            socket = again;
            continue;
        }
        fired += 1;
        // Drain replies without waiting.
        while let Some(Some(Ok(_))) = futures::FutureExt::now_or_never(socket.next()) {}
    }
    let _ = socket.close(None).await;
    fired
}

#[tokio::test]
async fn ten_thousand_random_frames_harm_no_other_client() {
    let server = TestServer::memory().await;
    let seed: u64 = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("fuzz seed {seed} (FUZZ_SEED={seed} replays it)");

    let mut good: Vec<(Api, String)> = Vec::new();
    for i in 0..3 {
        let (api, login) = server.client().signup(&unique(&format!("good{i}"))).await;
        good.push((api, user_id(&login)));
    }
    let mut fuzzers: Vec<(Api, String)> = Vec::new();
    for i in 0..FUZZ_USERS {
        let (api, login) = server.client().signup(&unique(&format!("fuzz{i}"))).await;
        fuzzers.push((api, user_id(&login)));
    }
    let members: Vec<&str> = good
        .iter()
        .skip(1)
        .chain(&fuzzers)
        .map(|(_, id)| id.as_str())
        .collect();
    let chat = create_chat(&good[0].0, "fuzzed", &members).await;
    let foreign = create_chat(&good[0].0, "private", &[]).await;

    let mut observers = Vec::new();
    for (api, _) in &good {
        let mut socket = Ws::connect(server.addr, api.token()).await;
        socket.sync().await;
        observers.push(socket);
    }

    let mut tasks = Vec::new();
    for (u, (api, _)) in fuzzers.iter().enumerate() {
        for s in 0..SOCKETS_PER_FUZZ_USER {
            let n = (u * SOCKETS_PER_FUZZ_USER + s) as u64;
            tasks.push(tokio::spawn(fuzz(
                server.addr,
                api.token().to_owned(),
                chat.clone(),
                foreign.clone(),
                seed.wrapping_add(n),
            )));
        }
    }

    // The well-behaved clients talk meanwhile, each reading everything it gets.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut talkers = Vec::new();
    for (i, mut socket) in observers.into_iter().enumerate() {
        let chat = chat.clone();
        let mut stopped = stopped.clone();
        talkers.push(tokio::spawn(async move {
            let mut record = Record::default();
            let mut tick = tokio::time::interval(Duration::from_millis(1200));
            let mut sent = 0;
            loop {
                tokio::select! {
                    _ = tick.tick(), if sent < GOOD_SENDS => {
                        let id = format!("good-{i}-{sent}");
                        let content = format!("hello {sent}");
                        socket.send_json(json!({"type": "send", "chat_id": chat, "content": content, "client_msg_id": id})).await;
                        sent += 1;
                    }
                    frame = socket.next_within(Duration::from_secs(30)) => {
                        record.note(frame.expect("a good client's socket stays open"));
                    }
                    _ = stopped.changed() => break,
                }
            }
            assert_eq!(sent, GOOD_SENDS);
            (socket, record)
        }));
    }

    let mut fired = 0;
    for task in tasks {
        fired += task.await.expect("fuzzer runs");
    }
    assert!(fired >= 10_000, "fired {fired} frames");
    let _ = stop.send(true);

    let newest = good[0]
        .0
        .get(&format!("/api/chats/{chat}/messages?limit=1"))
        .await;
    let last = newest.body[0]["seq"]
        .as_i64()
        .expect("the chat has messages");
    for (i, talker) in talkers.into_iter().enumerate() {
        let (mut socket, mut record) = talker.await.expect("good client runs");
        while record.seqs.last().copied().unwrap_or(0) < last {
            let frame = socket.next_within(WAIT).await;
            record.note(frame.expect("the rest of the messages arrive"));
        }
        let expected: Vec<i64> = (1..=last).collect();
        assert_eq!(
            record.seqs, expected,
            "client {i}: every message once, in order"
        );
        let mut acked = record.acked.clone();
        acked.sort();
        let mut ids: Vec<String> = (0..GOOD_SENDS).map(|n| format!("good-{i}-{n}")).collect();
        ids.sort();
        assert_eq!(acked, ids, "client {i}: every send acknowledged");
        assert!(
            record.errors.is_empty(),
            "client {i} got errors: {:?}",
            record.errors
        );
        socket.sync().await;
        socket.close().await;
    }
    let health = server.client().get("/health").await;
    assert_eq!(health.status, 200, "{}", health.body);
    println!("{fired} random frames; {last} messages in the chat");
    server.stop().await;
}

/// What a well-behaved client saw.
#[derive(Default)]
struct Record {
    seqs: Vec<i64>,
    acked: Vec<String>,
    errors: Vec<Value>,
}

impl Record {
    fn note(&mut self, frame: Value) {
        match frame["type"].as_str() {
            Some("message.created") => self.seqs.push(frame["message"]["seq"].as_i64().unwrap()),
            Some("ack") => self
                .acked
                .push(frame["client_msg_id"].as_str().unwrap().to_owned()),
            Some("error") => self.errors.push(frame),
            _ => {}
        }
    }
}
