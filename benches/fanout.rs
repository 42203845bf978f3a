//! Load benchmark: one chat, many sockets. Boots the release `webchat` binary as a
//! separate process (memory backends unless REDIS_URL / DATABASE_URL are given in
//! the environment), connects `SOCKETS` WebSocket clients, sends `MESSAGES` messages
//! over REST and reports delivery latency, throughput and the server's memory per
//! socket (from /proc). Run with `cargo bench --bench fanout`; tune with the
//! environment variables `SOCKETS` (default 500) and `MESSAGES` (default 200).

use std::process::Stdio;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

async fn post(http: &reqwest::Client, url: String, token: Option<&str>, body: Value) -> Value {
    let mut req = http.post(url).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("request");
    assert!(resp.status().is_success(), "{}", resp.status());
    resp.json().await.unwrap_or(Value::Null)
}

#[tokio::main]
async fn main() {
    let sockets = env_num("SOCKETS", 500);
    let messages = env_num("MESSAGES", 200);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_webchat"))
        .env("PORT", port.to_string())
        .env("WEBCHAT_THROTTLE_STRICT", "100000000/60")
        .env("WEBCHAT_THROTTLE_DEFAULT", "100000000/60")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("webchat binary");
    let pid = child.id().expect("pid");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    for _ in 0..200 {
        if http.get(format!("{base}/health/live")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let idle_rss = rss_kib(pid);

    // Users: one sender and one per socket.
    let mut tokens = Vec::new();
    let mut ids = Vec::new();
    for i in 0..=sockets {
        let name = format!("bench_{i}_{}", std::process::id());
        let creds = json!({"username": name, "password": "password-1"});
        let user = post(
            &http,
            format!("{base}/api/auth/register"),
            None,
            creds.clone(),
        )
        .await;
        let login = post(&http, format!("{base}/api/auth/login"), None, creds).await;
        ids.push(user["id"].as_str().unwrap().to_owned());
        tokens.push(login["access_token"].as_str().unwrap().to_owned());
    }
    let chat = post(
        &http,
        format!("{base}/api/chats"),
        Some(&tokens[0]),
        json!({"name": "bench", "member_ids": &ids[1..]}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before_sockets = rss_kib(pid);

    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<Vec<Duration>>();
    let start_times =
        std::sync::Arc::new(std::sync::Mutex::new(vec![None::<Instant>; messages + 1]));
    for token in &tokens[1..] {
        let (mut ws, _) =
            tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/ws?token={token}"))
                .await
                .expect("socket");
        ws.send(Message::text(r#"{"type":"ping"}"#)).await.unwrap();
        let done = done_tx.clone();
        let starts = start_times.clone();
        tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(messages);
            while latencies.len() < messages {
                match tokio::time::timeout(Duration::from_secs(30), ws.next()).await {
                    Ok(Some(Ok(Message::Text(t)))) => {
                        let v: Value = serde_json::from_str(t.as_str()).unwrap();
                        if v["type"] == "message.created" {
                            let seq = v["message"]["seq"].as_u64().unwrap() as usize;
                            let sent = starts.lock().unwrap()[seq];
                            if let Some(sent) = sent {
                                latencies.push(sent.elapsed());
                            }
                        }
                    }
                    Ok(Some(Ok(_))) => {}
                    _ => break,
                }
            }
            let _ = done.send(latencies);
        });
    }
    drop(done_tx);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let with_sockets = rss_kib(pid);

    let started = Instant::now();
    for seq in 1..=messages {
        start_times.lock().unwrap()[seq] = Some(Instant::now());
        post(
            &http,
            format!("{base}/api/chats/{chat}/messages"),
            Some(&tokens[0]),
            json!({"content": format!("message {seq}")}),
        )
        .await;
    }
    let mut all = Vec::new();
    while let Some(mut l) = done_rx.recv().await {
        all.append(&mut l);
    }
    let elapsed = started.elapsed();
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    let expected = sockets * messages;
    let backends = match (std::env::var("REDIS_URL"), std::env::var("DATABASE_URL")) {
        (Ok(_), Ok(_)) => "Redis + PostgreSQL",
        (Ok(_), Err(_)) => "Redis, memory repositories",
        (Err(_), Ok(_)) => "memory, PostgreSQL repositories",
        _ => "memory backends",
    };
    println!("fanout: {sockets} sockets x {messages} messages (one chat, {backends})");
    println!(
        "  delivered {}/{} in {:.2?} -> {:.0} deliveries/s",
        all.len(),
        expected,
        elapsed,
        all.len() as f64 / elapsed.as_secs_f64()
    );
    println!(
        "  latency p50 {:?}  p99 {:?}  max {:?}",
        pct(0.50),
        pct(0.99),
        all.last().copied().unwrap_or_default()
    );
    println!(
        "  server RSS: idle {} KiB, +users {} KiB, +sockets {} KiB -> {:.1} KiB per socket",
        idle_rss,
        before_sockets,
        with_sockets,
        (with_sockets.saturating_sub(before_sockets)) as f64 / sockets as f64
    );
    let _ = child.kill().await;
}
