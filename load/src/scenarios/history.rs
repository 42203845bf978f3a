//! history: REST reads (`GET /api/chats/{id}/messages?limit=50&before_seq=S`) over
//! chats first filled with --messages messages each. Read k goes to chat k % chats,
//! as one of its members, at page (k / chats) % pages counted from the newest: page
//! 0 is the server's recent window (cache), deeper pages reach the database.

use std::sync::Arc;

use anyhow::{bail, Result};
use futures::{StreamExt, TryStreamExt};
use serde_json::json;

use super::rest::{answer, drive};
use super::rest_report::{build, RestRun};
use crate::api::Api;
use crate::cli::HistoryArgs;
use crate::payload::{self, Payload};
use crate::procwatch::Watch;
use crate::setup::{create_accounts, Layout};
use crate::util::{progress, run_id};

const PAGE: usize = 50;

pub async fn run(args: HistoryArgs) -> Result<i32> {
    if args.users == 0 || args.members == 0 || args.messages == 0 || args.pages == 0 {
        bail!("--users, --members, --messages and --pages must be at least 1");
    }
    let urls = &args.common.urls;
    let run = run_id();
    let watch = Watch::new(&args.common)?;
    let layout = Layout::new(args.users, args.members, args.users, urls.len());
    let api = Api::new()?;
    let accounts =
        create_accounts(&api, urls, &layout, &run, args.common.setup_concurrency).await?;
    let chats = layout.chats.len();

    progress!(
        "filling {chats} chats with {} messages each...",
        args.messages
    );
    let pad = "x".repeat(args.size);
    let t0 = std::time::Instant::now();
    futures::stream::iter(0..chats * args.messages)
        .map(|i| {
            let (k, n) = (i % chats, i / chats);
            let slot = layout.chats[k][n % layout.chats[k].len()];
            let who = &accounts.users[layout.slots[slot].user];
            let base = &urls[slot % urls.len()];
            let p = Payload {
                t: 0,
                s: slot as u32,
                n: i as u64,
                warm: false,
            };
            let mut content = String::new();
            payload::encode(&mut content, &run, &p, &pad);
            let cmid = format!("{run}-{i}");
            let chat_id = &accounts.chat_ids[k];
            let api = &api;
            async move { api.send_message(base, who, chat_id, &content, &cmid).await }
        })
        .buffer_unordered(args.common.setup_concurrency.max(1))
        .try_collect::<()>()
        .await?;
    let prefill_s = t0.elapsed().as_secs_f64();

    // The deepest page that exists: before_seq never goes below 1.
    let pages = args.pages.min(args.messages.div_ceil(PAGE)).max(1);
    let newest = args.messages as i64 + 1;
    let targets: Arc<Vec<(String, String)>> = Arc::new(
        (0..chats)
            .map(|k| {
                let slot = layout.chats[k][0];
                let url = format!(
                    "{}/api/chats/{}/messages",
                    urls[slot % urls.len()],
                    accounts.chat_ids[k]
                );
                (url, accounts.users[layout.slots[slot].user].token.clone())
            })
            .collect(),
    );
    let http = api.client().clone();
    let make = move |k: u64| {
        let n = targets.len() as u64;
        let (url, token) = &targets[(k % n) as usize];
        let page = ((k / n) % pages as u64) as i64;
        let before = newest - page * PAGE as i64;
        let req = http
            .get(format!("{url}?limit={PAGE}&before_seq={before}"))
            .bearer_auth(token);
        answer(req)
    };

    progress!("reading history: {chats} chats, {pages} page(s) deep...");
    let (stats, usage) = drive(&args.load, 200, &watch, make).await?;
    let report = build(RestRun {
        mode: "history",
        common: &args.common,
        load: &args.load,
        stats: &stats,
        usage: &usage,
        has_servers: watch.has_servers(),
        extra: json!({
            "users": args.users, "members": args.members, "chats": chats,
            "messages_per_chat": args.messages, "pages": pages, "size": args.size,
            "prefill_s": crate::util::round3(prefill_s),
        }),
        ok_status: 200,
    });
    Ok(report.emit())
}
