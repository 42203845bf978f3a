//! send: REST sends (`POST /api/chats/{id}/messages`, `{content, client_msg_id}`),
//! each user into its own chat, open loop at --rate or closed loop.

use std::sync::Arc;

use anyhow::{bail, Result};
use serde_json::json;

use super::rest::{answer, drive};
use super::rest_report::{build, RestRun};
use crate::api::Api;
use crate::cli::SendArgs;
use crate::payload::{self, Payload};
use crate::procwatch::Watch;
use crate::setup::{create_accounts, Layout};
use crate::util::{now_ns, progress, run_id};

/// One prepared sender: where it posts and as whom.
struct Target {
    url: String,
    token: String,
    index: u32,
}

pub async fn run(args: SendArgs) -> Result<i32> {
    if args.users == 0 || args.members == 0 {
        bail!("--users and --members must be at least 1");
    }
    let urls = &args.common.urls;
    let run = run_id();
    let watch = Watch::new(&args.common)?;
    let layout = Layout::new(args.users, args.members, args.users, urls.len());
    let api = Api::new()?;
    let accounts =
        create_accounts(&api, urls, &layout, &run, args.common.setup_concurrency).await?;
    let targets: Arc<Vec<Target>> = Arc::new(
        layout
            .slots
            .iter()
            .map(|s| Target {
                url: format!(
                    "{}/api/chats/{}/messages",
                    urls[s.url], accounts.chat_ids[s.chat]
                ),
                token: accounts.users[s.user].token.clone(),
                index: s.index as u32,
            })
            .collect(),
    );
    let http = api.client().clone();
    let pad = Arc::new("x".repeat(args.size));
    let run_arc = Arc::new(run.clone());
    let make = move |k: u64| {
        let t = &targets[(k % targets.len() as u64) as usize];
        let mut content = String::new();
        let p = Payload {
            t: now_ns(),
            s: t.index,
            n: k,
            warm: false,
        };
        payload::encode(&mut content, &run_arc, &p, &pad);
        // The content is plain ASCII without quotes or backslashes: no escaping.
        let body = format!(r#"{{"content":"{content}","client_msg_id":"{run_arc}-{k}"}}"#);
        let req = http
            .post(&t.url)
            .bearer_auth(&t.token)
            .header("content-type", "application/json")
            .body(body);
        answer(req)
    };

    progress!(
        "sending over REST: {} users in {} chats...",
        args.users,
        layout.chats.len()
    );
    let (stats, usage) = drive(&args.load, 201, &watch, make).await?;
    let report = build(RestRun {
        mode: "send",
        common: &args.common,
        load: &args.load,
        stats: &stats,
        usage: &usage,
        has_servers: watch.has_servers(),
        extra: json!({"users": args.users, "members": args.members, "chats": layout.chats.len(), "size": args.size}),
        ok_status: 201,
    });
    Ok(report.emit())
}
