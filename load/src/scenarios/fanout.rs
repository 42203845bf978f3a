//! fanout: C sockets in chats of M members, R messages per second in total over
//! WebSocket, every member checking what it receives. The phases are load.js's:
//! setup, connect + ping, settle, warm-up (not counted) + 1 s quiet, measured
//! sending, drain, report; then, if deliveries are missing, a late window.

use std::sync::Arc;

use anyhow::{bail, Result};

use super::fanout_report::{self, Inputs};
use super::pace::{pace, DelayProbe};
use super::sockets::{close_all, open_all, unique_by_drain_end};
use crate::api::Api;
use crate::cli::{ClientKind, FanoutArgs};
use crate::client::socket::Cmd;
use crate::client::socketio::SocketIoCodec;
use crate::client::state::{Phase, Shared, SocketState};
use crate::client::webchat::WebchatCodec;
use crate::client::Codec;
use crate::procwatch::{Usage, Watch};
use crate::setup::{create_accounts, Layout};
use crate::util::{progress, run_id, sleep_s};

/// webchat refuses content over 4000 characters; the fixed fields take < 80.
const MAX_PAD: usize = 3900;

pub async fn run(args: FanoutArgs) -> Result<i32> {
    match args.client {
        ClientKind::Ws => run_with(Arc::new(WebchatCodec), args).await,
        ClientKind::Socketio => run_with(Arc::new(SocketIoCodec), args).await,
    }
}

fn check(a: &FanoutArgs) -> Result<()> {
    if a.conns == 0 || a.members == 0 || a.senders == 0 {
        bail!("--conns, --members and --senders must be at least 1");
    }
    if !(a.rate > 0.0 && a.duration > 0.0) {
        bail!("--rate and --duration must be positive");
    }
    if a.size > MAX_PAD {
        bail!("--size {} is too big: webchat refuses content over 4000 characters (max --size {MAX_PAD})", a.size);
    }
    Ok(())
}

/// The first `senders` members of every chat, interleaved (member 0 of every chat,
/// then member 1, ...) so consecutive sends go to different chats.
fn pick_senders(layout: &Layout, senders: usize) -> Vec<usize> {
    let mut out = Vec::new();
    for j in 0..senders {
        for chat in &layout.chats {
            if let Some(&slot) = chat.get(j) {
                out.push(slot);
            }
        }
    }
    out
}

async fn run_with<C: Codec>(codec: Arc<C>, args: FanoutArgs) -> Result<i32> {
    check(&args)?;
    let urls = &args.common.urls;
    let run = run_id();
    let watch = Watch::new(&args.common)?;
    let layout = Layout::new(args.conns, args.members, args.conns, urls.len());
    let api = Api::new()?;
    let accounts =
        create_accounts(&api, urls, &layout, &run, args.common.setup_concurrency).await?;

    let shared = Arc::new(Shared::new(run.clone(), "x".repeat(args.size)));
    let sockets = layout
        .slots
        .iter()
        .map(|s| {
            let url = codec.dial(&urls[s.url], &accounts.users[s.user].token);
            let chat = (accounts.chat_ids[s.chat].clone(), s.chat);
            (url, SocketState::new(s.index, vec![chat]))
        })
        .collect();
    progress!(
        "connecting {} sockets over {} URL(s)...",
        layout.slots.len(),
        urls.len()
    );
    let opened = open_all(codec, shared.clone(), sockets, args.concurrency).await;
    if opened.failed > 0 {
        bail!(
            "{} of {} sockets failed to connect; first error: {}",
            opened.failed,
            layout.slots.len(),
            opened.first_error.unwrap_or_default()
        );
    }
    sleep_s(args.settle).await;

    let senders = pick_senders(&layout, args.senders);
    let cmds = &opened.cmds;
    let mut msg_no: u64 = 0;
    let mut sent_per_chat = vec![0u64; layout.chats.len()];
    // Sends are fire-and-forget into each sender's channel: the pacer never waits
    // for a socket, let alone for an ack.
    let mut send = |warm: bool, sent_per_chat: &mut Vec<u64>| {
        let slot = senders[(msg_no % senders.len() as u64) as usize];
        let _ = cmds[slot].send(Cmd::Send { n: msg_no, warm });
        if !warm {
            sent_per_chat[layout.slots[slot].chat] += 1;
        }
        msg_no += 1;
    };
    if args.warmup > 0.0 {
        progress!(
            "warm-up: {} msg/s for {} s (not counted)...",
            args.rate,
            args.warmup
        );
        let mut unused = Vec::new();
        pace(args.rate, args.warmup, |_| send(true, &mut unused)).await;
        sleep_s(1.0).await;
    }

    let probe = DelayProbe::start();
    let before = watch.snap();
    progress!(
        "sending {} msg/s for {} s from {} senders in {} chats of {}...",
        args.rate,
        args.duration,
        senders.len(),
        layout.chats.len(),
        args.members
    );
    shared.set_phase(Phase::Measure);
    let paced = pace(args.rate, args.duration, |_| {
        send(false, &mut sent_per_chat)
    })
    .await;
    shared.set_phase(Phase::Drain);
    sleep_s(args.drain).await;
    shared.set_phase(Phase::Late);
    let after = watch.snap();
    let loop_delay = probe.finish().await;
    let usage = Usage::between(&before, &after);

    // Late window: only when deliveries of sent messages are missing, as load.js.
    let expected_if_all: u64 = sent_per_chat
        .iter()
        .zip(&layout.chats)
        .map(|(s, m)| s * m.len() as u64)
        .sum();
    let unique = unique_by_drain_end(&opened.cmds).await;
    if args.late > 0.0 && expected_if_all > unique {
        progress!(
            "{} deliveries missing after the drain; listening {} s more for late ones...",
            expected_if_all - unique,
            args.late
        );
        sleep_s(args.late).await;
    }
    let connect_s = opened.elapsed.as_secs_f64();
    let finished = close_all(opened.cmds, opened.tasks).await;
    let report = fanout_report::build(Inputs {
        args: &args,
        layout: &layout,
        shared: &shared,
        finished: &finished,
        senders: senders.len(),
        sent_per_chat: &sent_per_chat,
        paced: &paced,
        connect_s,
        usage: &usage,
        has_servers: watch.has_servers(),
        loop_delay,
    });
    Ok(report.emit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn senders_are_interleaved_over_chats() {
        let l = Layout::new(8, 4, 8, 2);
        assert_eq!(pick_senders(&l, 2), vec![0, 4, 1, 5]);
        assert_eq!(pick_senders(&l, 9).len(), 8, "no more senders than members");
    }
}
