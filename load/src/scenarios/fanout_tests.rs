//! The fanout verdict end to end: socket states fed with real frames, summed into
//! the report, must fail the run exactly when deliveries are lost, duplicated or
//! reordered.

use std::time::Duration;

use clap::Parser;

use super::fanout_report::{build, Inputs};
use super::pace::Paced;
use crate::cli::{Cli, Command, FanoutArgs};
use crate::client::socket::Finished;
use crate::client::state::{Phase, Shared, SocketState};
use crate::client::webchat::WebchatCodec;
use crate::payload::{self, Payload};
use crate::procwatch::{Usage, Watch};
use crate::setup::Layout;
use crate::stats::latency::{new_histogram, Summary};

const RUN: &str = "run1";

fn args() -> FanoutArgs {
    let cli = Cli::try_parse_from([
        "webchat-load",
        "fanout",
        "--urls",
        "http://127.0.0.1:1",
        "--conns",
        "2",
        "--members",
        "2",
        "--rate",
        "3",
        "--duration",
        "1",
    ])
    .unwrap();
    match cli.command {
        Command::Fanout(a) => a,
        _ => unreachable!(),
    }
}

fn frame(seq: i64) -> String {
    let mut content = String::new();
    let p = Payload {
        t: 0,
        s: 0,
        n: seq as u64,
        warm: false,
    };
    payload::encode(&mut content, RUN, &p, "");
    format!(
        r#"{{"type":"message.created","chat_id":"c","message":{{"content":"{content}","seq":{seq}}}}}"#
    )
}

/// Two sockets in one chat; three messages sent and acked; each socket receives
/// the given seqs. Returns the run's failures.
fn verdict(seqs: [&[i64]; 2]) -> Vec<String> {
    let a = args();
    let layout = Layout::new(2, 2, 2, 1);
    let shared = Shared::new(RUN.into(), String::new());
    shared.set_phase(Phase::Measure);
    let finished: Vec<Finished> = seqs
        .iter()
        .enumerate()
        .map(|(i, seqs)| {
            let mut st = SocketState::new(i, vec![("c".into(), 0)]);
            for &s in *seqs {
                st.on_text(&WebchatCodec, &shared, &frame(s), 1);
            }
            if i == 0 {
                st.acks = 3;
            }
            Finished {
                state: st,
                dropped: None,
                unacked_at_end: 0,
            }
        })
        .collect();
    let watch = Watch::new(&a.common).unwrap();
    let usage = Usage::between(&watch.snap(), &watch.snap());
    let paced = Paced {
        sent: 3,
        max_lag: Duration::ZERO,
        window: Duration::from_secs(1),
    };
    let report = build(Inputs {
        args: &a,
        layout: &layout,
        shared: &shared,
        finished: &finished,
        senders: 2,
        sent_per_chat: &[3],
        paced: &paced,
        connect_s: 0.0,
        usage: &usage,
        has_servers: false,
        loop_delay: Summary::of(&new_histogram()),
    });
    assert_eq!(report.json["deliveries_expected"], 6);
    report.failures
}

#[test]
fn a_clean_run_passes() {
    assert!(verdict([&[1, 2, 3], &[1, 2, 3]]).is_empty());
}

#[test]
fn a_lost_delivery_fails() {
    let f = verdict([&[1, 2, 3], &[1, 3]]);
    assert!(f.iter().any(|f| f.contains("never arrived")), "{f:?}");
    assert!(f.iter().any(|f| f.contains("skipped")), "{f:?}");
}

#[test]
fn a_duplicate_fails() {
    let f = verdict([&[1, 2, 3], &[1, 2, 2, 3]]);
    assert_eq!(f, vec!["1 duplicate deliveries".to_owned()]);
}

#[test]
fn reordering_fails() {
    let f = verdict([&[1, 3, 2], &[1, 2, 3]]);
    assert_eq!(f, vec!["1 order violations".to_owned()]);
}
