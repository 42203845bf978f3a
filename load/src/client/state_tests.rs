//! Frame-by-frame tests of what a socket counts: they feed real webchat frames to
//! `SocketState` and check the delivery, integrity and ack numbers.

use super::state::{Phase, Shared, SocketState};
use super::webchat::WebchatCodec;
use crate::payload::{self, Payload};
use crate::stats::order::OrderCounts;

const RUN: &str = "run1";

fn created(chat: &str, seq: i64, n: u64, t: u64, warm: bool) -> String {
    let mut content = String::new();
    let p = Payload { t, s: 0, n, warm };
    payload::encode(&mut content, RUN, &p, "");
    format!(
        r#"{{"type":"message.created","chat_id":"{chat}","message":{{"id":"m{seq}","chat_id":"{chat}","content":"{content}","seq":{seq}}}}}"#
    )
}

fn setup() -> (Shared, SocketState) {
    let shared = Shared::new(RUN.into(), String::new());
    let st = SocketState::new(0, vec![("c1".into(), 0)]);
    (shared, st)
}

fn feed(st: &mut SocketState, shared: &Shared, frames: &[String]) {
    for f in frames {
        st.on_text(&WebchatCodec, shared, f, 5_000_000);
    }
}

#[test]
fn clean_stream_counts_every_delivery_once() {
    let (shared, mut st) = setup();
    shared.set_phase(Phase::Measure);
    let frames: Vec<_> = (1..=5)
        .map(|s| created("c1", s, s as u64, 1_000_000, false))
        .collect();
    feed(&mut st, &shared, &frames);
    assert_eq!(st.recv.sending, 5);
    assert_eq!(st.unique_by_drain_end(), 5);
    assert!(st.chats[0].order.is_clean());
    st.flush(&shared);
    let h = shared.latency.merged();
    assert_eq!(h.len(), 5);
    // 5 ms receipt - 1 ms send = 4000 us, within the histogram's 3 digits
    assert!((3996..=4004).contains(&h.max()), "{}", h.max());
}

#[test]
fn duplicates_gaps_and_reordering_are_counted() {
    let (shared, mut st) = setup();
    shared.set_phase(Phase::Measure);
    let seqs = [1, 2, 2, 4, 3, 3, 5];
    let frames: Vec<_> = seqs
        .iter()
        .map(|&s| created("c1", s, s as u64, 0, false))
        .collect();
    feed(&mut st, &shared, &frames);
    assert_eq!(
        st.chats[0].order,
        OrderCounts {
            duplicates: 2,
            order_violations: 1,
            gaps: 1,
            gap_missing: 1
        }
    );
    assert_eq!(st.recv.sending, 7, "received counts duplicates, as load.js");
    assert_eq!(st.unique_by_drain_end(), 5);
    assert_eq!(st.chats[0].tracker.holes(), 0);
}

#[test]
fn warm_up_feeds_the_tracker_but_no_counts() {
    let (shared, mut st) = setup();
    let mut frames: Vec<_> = (1..=3)
        .map(|s| created("c1", s, s as u64, 0, true))
        .collect();
    frames.push(created("c1", 2, 2, 0, true)); // a warm-up duplicate
    feed(&mut st, &shared, &frames);
    shared.set_phase(Phase::Measure);
    feed(&mut st, &shared, &[created("c1", 4, 4, 0, false)]);
    assert_eq!(st.recv.warm, 4);
    assert_eq!(st.unique_by_drain_end(), 1);
    assert!(
        st.chats[0].order.is_clean(),
        "seq 4 follows the warm-up's 3"
    );
    assert_eq!(st.chats[0].warm_order.duplicates, 1);
}

#[test]
fn phases_split_sending_drain_and_late() {
    let (shared, mut st) = setup();
    shared.set_phase(Phase::Measure);
    feed(&mut st, &shared, &[created("c1", 1, 1, 0, false)]);
    shared.set_phase(Phase::Drain);
    feed(&mut st, &shared, &[created("c1", 2, 2, 0, false)]);
    shared.set_phase(Phase::Late);
    feed(
        &mut st,
        &shared,
        &[created("c1", 3, 3, 0, false), created("c1", 3, 3, 0, false)],
    );
    let r = st.recv;
    assert_eq!((r.unique_sending, r.unique_drain, r.unique_late), (1, 1, 1));
    assert_eq!(st.unique_by_drain_end(), 2);
    assert_eq!(
        st.chats[0].order.duplicates, 1,
        "a late duplicate still counts"
    );
    st.flush(&shared);
    assert_eq!(
        shared.latency.merged().len(),
        2,
        "late deliveries are not timed"
    );
}

#[test]
fn foreign_deliveries_are_set_apart() {
    let (shared, mut st) = setup();
    shared.set_phase(Phase::Measure);
    let other_chat = created("c2", 1, 1, 0, false);
    let other_run = created("c1", 1, 1, 0, false).replace("rrun1", "rrun2");
    feed(&mut st, &shared, &[other_chat, other_run]);
    assert_eq!(st.recv.foreign, 2);
    assert_eq!(st.unique_by_drain_end(), 0);
    assert!(
        st.chats[0].order.is_clean(),
        "foreign seqs never reach the tracker"
    );
}

#[test]
fn acks_and_error_frames_resolve_sends() {
    let (shared, mut st) = setup();
    let mut content = String::new();
    st.begin_send(&shared, 7, false, 1_000_000, &mut content);
    st.begin_send(&shared, 8, false, 1_000_000, &mut content);
    st.begin_send(&shared, 9, true, 1_000_000, &mut content);
    st.begin_send(&shared, 10, false, 1_000_000, &mut content);
    assert_eq!((st.sent, st.unacked()), (3, 3));
    feed(
        &mut st,
        &shared,
        &[
            r#"{"type":"ack","client_msg_id":"run1-7","message":{"seq":1}}"#.into(),
            r#"{"type":"error","code":"too_many_requests","message":"x","client_msg_id":"run1-8"}"#
                .into(),
            r#"{"type":"ack","client_msg_id":"run1-9","message":{"seq":2}}"#.into(),
            r#"{"type":"presence","user_id":"u","status":"online"}"#.into(),
        ],
    );
    assert_eq!(st.acks, 1);
    assert_eq!(st.unacked(), 1, "only n=10 is still pending");
    let mut errors = Default::default();
    st.ack_errors.merge_into(&mut errors);
    assert_eq!(errors.get("too_many_requests"), Some(&1));
    let mut others = Default::default();
    st.other_frames.merge_into(&mut others);
    assert_eq!(others.get("presence"), Some(&1));
    assert_eq!(st.protocol_errors, 0);
}

#[test]
fn protocol_breaks_are_counted() {
    let (shared, mut st) = setup();
    feed(
        &mut st,
        &shared,
        &[
            "not json".into(),
            r#"{"type":"ack","client_msg_id":"run1-99","message":{}}"#.into(),
        ],
    );
    assert_eq!(st.protocol_errors, 2, "garbage and an ack for nothing sent");
    assert!(st.first_protocol_error.is_some());
}
