//! connect: opens C idle sockets and reports how fast they open and what they cost
//! the servers: RSS growth per socket (sum of server RSS `--settle` s after the last
//! connect, minus before, / C) and server CPU per connect. Measure on freshly
//! started servers: a process that already held and freed sockets reuses its heap.

use std::sync::Arc;

use anyhow::{bail, Result};
use hdrhistogram::Histogram;
use serde_json::json;

use super::sockets::{close_all, open_all};
use crate::api::Api;
use crate::cli::{ClientKind, ConnectArgs};
use crate::client::socketio::SocketIoCodec;
use crate::client::state::{Shared, SocketState};
use crate::client::webchat::WebchatCodec;
use crate::client::Codec;
use crate::procwatch::{Usage, Watch};
use crate::report::Report;
use crate::setup::{create_accounts, Layout};
use crate::stats::latency::{new_histogram, record_ns, Summary};
use crate::util::{progress, round3, run_id, sleep_s};

pub async fn run(args: ConnectArgs) -> Result<i32> {
    match args.client {
        ClientKind::Ws => run_with(Arc::new(WebchatCodec), args).await,
        ClientKind::Socketio => run_with(Arc::new(SocketIoCodec), args).await,
    }
}

async fn run_with<C: Codec>(codec: Arc<C>, args: ConnectArgs) -> Result<i32> {
    if args.conns == 0 {
        bail!("--conns must be at least 1");
    }
    let urls = &args.common.urls;
    let users = args.users.unwrap_or(args.conns).clamp(1, args.conns);
    let run = run_id();
    let watch = Watch::new(&args.common)?;
    let layout = Layout::new(args.conns, args.members, users, urls.len());
    let api = Api::new()?;
    let accounts =
        create_accounts(&api, urls, &layout, &run, args.common.setup_concurrency).await?;
    let user_chats = layout.user_chats();
    let sockets = layout
        .slots
        .iter()
        .map(|s| {
            let url = codec.dial(&urls[s.url], &accounts.users[s.user].token);
            let chats = user_chats[s.user]
                .iter()
                .map(|&k| (accounts.chat_ids[k].clone(), k))
                .collect();
            (url, SocketState::new(s.index, chats))
        })
        .collect();
    let shared = Arc::new(Shared::new(run, String::new()));

    sleep_s(0.5).await;
    let before = watch.snap();
    progress!(
        "opening {} idle sockets ({} in flight)...",
        args.conns,
        args.concurrency
    );
    let opened = open_all(codec, shared, sockets, args.concurrency).await;
    let mid = watch.snap();
    sleep_s(args.settle).await;
    let after = watch.snap();
    let connect_usage = Usage::between(&before, &mid);
    let usage = Usage::between(&before, &after);

    let mut upgrade: Histogram<u64> = new_histogram();
    let mut ready: Histogram<u64> = new_histogram();
    for r in opened.ready.iter().flatten() {
        record_ns(&mut upgrade, r.connected - r.started);
        record_ns(&mut ready, r.ponged - r.started);
    }
    let ok = args.conns - opened.failed;
    let elapsed = opened.elapsed.as_secs_f64();
    let first_error = opened.first_error.clone();
    let finished = close_all(opened.cmds, opened.tasks).await;
    // sockets that opened and were closed by the server while idle
    let drops = finished
        .iter()
        .zip(&opened.ready)
        .filter(|(f, r)| r.is_some() && f.dropped.is_some())
        .count();

    let per_conn = |v: f64| (ok > 0 && watch.has_servers()).then(|| round3(v / ok as f64));
    let upgrade = Summary::of(&upgrade);
    let ready = Summary::of(&ready);
    let json = json!({
        "mode": "connect", "tool": "webchat-load", "target": "webchat", "client": args.client.name(),
        "date": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "urls": urls, "conns": args.conns, "users": users, "members": args.members,
        "concurrency": args.concurrency, "connected": ok, "failed": opened.failed,
        "first_error": first_error, "drops_while_idle": drops,
        "connect_s": round3(elapsed), "connects_per_s": round3(ok as f64 / elapsed),
        "connect_latency_ms": upgrade, "ready_latency_ms": ready,
        "server_rss_before_mib": usage.server_rss_before_mib,
        "server_rss_after_mib": usage.server_rss_after_mib,
        "server_rss_growth_kib_per_conn": per_conn(usage.server_rss_growth_kib as f64),
        "server_cpu_ms_per_connect": per_conn(connect_usage.server_cpu_s * 1000.0),
        "driver_cpu_ms_per_connect": (ok > 0).then(|| round3(connect_usage.driver_cpu_s * 1000.0 / ok as f64)),
        "connect_phase_usage": connect_usage, "usage_incl_settle": usage,
    });
    let mut r = Report::new(json);
    let show = |v: &serde_json::Value| v.to_string();
    r.row(
        "target (client)",
        format!(
            "webchat ({}) (client {})",
            urls.join(" "),
            args.client.name()
        ),
    );
    r.row(
        "connections ok / failed",
        format!("{ok} / {}", opened.failed),
    );
    r.row(
        "connect time s, rate /s",
        format!("{}, {}", round3(elapsed), round3(ok as f64 / elapsed)),
    );
    r.row("connect latency ms p50/p90/p99/max", upgrade.line());
    r.row("ready (pong) latency ms p50/p90/p99/max", ready.line());
    r.row("drops while idle", drops);
    r.row(
        "servers: RSS MiB before -> after",
        format!(
            "{} -> {}",
            usage.server_rss_before_mib, usage.server_rss_after_mib
        ),
    );
    r.row(
        "servers: RSS KiB per connection",
        show(&r.json["server_rss_growth_kib_per_conn"]),
    );
    r.row(
        "servers: cpu ms per connect",
        show(&r.json["server_cpu_ms_per_connect"]),
    );
    r.row(
        "driver: cpu ms per connect",
        show(&r.json["driver_cpu_ms_per_connect"]),
    );
    r.row("driver: cpu s (connect phase)", connect_usage.driver_cpu_s);
    connect_usage.rows(r.rows_mut());
    if let Some(e) = &first_error {
        eprintln!(
            "WARNING: {} sockets failed; first error: {e}",
            opened.failed
        );
    }
    r.fail_if(
        opened.failed > 0,
        format!("{} sockets failed to open", opened.failed),
    );
    r.fail_if(
        drops > 0,
        format!("{drops} idle sockets closed by the server"),
    );
    r.check_servers(&usage);
    Ok(r.emit())
}
