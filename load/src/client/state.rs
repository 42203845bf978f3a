//! What one socket saw: the per-socket state that every incoming frame updates.
//! Kept free of I/O so the counting rules can be tested frame by frame.
//!
//! Counts are bucketed by the run phase at receipt (read from one shared atomic),
//! so "received by the end of the drain" stays exact even though the scenario
//! collects the numbers later: once the phase is `Late`, those buckets are frozen.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use super::{Codec, Inbound};
use crate::payload::{self, Payload};
use crate::stats::latency::{Buf, Sink};
use crate::stats::order::{OrderCounts, Outcome, SeqTracker};
use crate::stats::Tally;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Phase {
    /// connecting, warm-up, quiet: measured messages cannot exist yet
    Setup = 0,
    /// measured sends going out
    Measure = 1,
    /// sends stopped, waiting for the last deliveries
    Drain = 2,
    /// after the drain: measured deliveries now count as late
    Late = 3,
}

/// What all sockets of a run share (read-mostly).
pub struct Shared {
    pub run: String,
    /// content padding (--size)
    pub pad: String,
    phase: AtomicU8,
    pub latency: Sink,
    pub ack_latency: Sink,
    warned_throttle: AtomicBool,
    warned_protocol: AtomicBool,
}

impl Shared {
    pub fn new(run: String, pad: String) -> Self {
        Self {
            run,
            pad,
            phase: AtomicU8::new(Phase::Setup as u8),
            latency: Sink::default(),
            ack_latency: Sink::default(),
            warned_throttle: AtomicBool::new(false),
            warned_protocol: AtomicBool::new(false),
        }
    }

    pub fn set_phase(&self, p: Phase) {
        self.phase.store(p as u8, Ordering::SeqCst);
    }

    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Relaxed) {
            0 => Phase::Setup,
            1 => Phase::Measure,
            2 => Phase::Drain,
            _ => Phase::Late,
        }
    }
}

/// One chat as this socket sees it.
pub struct ChatView {
    pub id: String,
    /// the chat's index in the run's layout
    pub index: usize,
    pub tracker: SeqTracker,
    /// integrity of measured messages, through the late window
    pub order: OrderCounts,
    /// integrity of warm-up messages (reported, not part of the verdict)
    pub warm_order: OrderCounts,
}

/// Delivery counts of measured messages, by phase at receipt.
#[derive(Debug, Default, Clone, Copy)]
pub struct Received {
    /// while sending / during the drain / after it: duplicates included
    pub sending: u64,
    pub drain: u64,
    /// first deliveries (no duplicate) in each phase
    pub unique_sending: u64,
    pub unique_drain: u64,
    pub unique_late: u64,
    /// warm-up deliveries (ignored otherwise)
    pub warm: u64,
    /// not this run's, not a chat of this socket, or unreadable content
    pub foreign: u64,
}

pub struct SocketState {
    pub index: usize,
    pub chats: Vec<ChatView>,
    pub recv: Received,
    /// sends awaiting an ack: message number -> (send ns, warm)
    pub pending: HashMap<u64, (u64, bool)>,
    /// measured sends written / acked, and failures
    pub sent: u64,
    pub acks: u64,
    pub send_failed: u64,
    pub ack_errors: Tally,
    pub error_frames: Tally,
    pub other_frames: Tally,
    pub protocol_errors: u64,
    pub first_protocol_error: Option<String>,
    latency: Buf,
    ack_latency: Buf,
}

impl SocketState {
    /// `chats`: (chat id, layout index) of each chat this socket is subscribed to;
    /// all were created by this run, so their seqs start after 0.
    pub fn new(index: usize, chats: Vec<(String, usize)>) -> Self {
        Self {
            index,
            chats: chats
                .into_iter()
                .map(|(id, index)| ChatView {
                    id,
                    index,
                    tracker: SeqTracker::new(0),
                    order: OrderCounts::default(),
                    warm_order: OrderCounts::default(),
                })
                .collect(),
            recv: Received::default(),
            pending: HashMap::new(),
            sent: 0,
            acks: 0,
            send_failed: 0,
            ack_errors: Tally::default(),
            error_frames: Tally::default(),
            other_frames: Tally::default(),
            protocol_errors: 0,
            first_protocol_error: None,
            latency: Buf::new(index),
            ack_latency: Buf::new(index),
        }
    }

    /// Handles one text frame received at `now` (ns); true when it was a pong.
    pub fn on_text<C: Codec>(&mut self, codec: &C, shared: &Shared, text: &str, now: u64) -> bool {
        match codec.decode(text) {
            Ok(Inbound::Created {
                chat_id,
                seq,
                content,
            }) => self.on_created(shared, &chat_id, seq, &content, now),
            Ok(Inbound::Ack { client_msg_id }) => self.on_ack(shared, &client_msg_id, None, now),
            Ok(Inbound::Error {
                code,
                client_msg_id,
            }) => {
                self.error_frames.bump(&code);
                if code == "too_many_requests"
                    && !shared.warned_throttle.swap(true, Ordering::Relaxed)
                {
                    eprintln!(
                        "WARNING: webchat answered too_many_requests (the per-socket frame budget \
                         of 20/s, or the send throttle: start webchat with WEBCHAT_THROTTLE_STRICT=100000/60)"
                    );
                }
                if let Some(id) = client_msg_id {
                    self.on_ack(shared, &id, Some(&code), now);
                }
            }
            Ok(Inbound::Pong) => return true,
            Ok(Inbound::Other(kind)) => self.other_frames.bump(&kind),
            Err(e) => self.protocol_error(shared, e.0),
        }
        false
    }

    fn protocol_error(&mut self, shared: &Shared, what: String) {
        self.protocol_errors += 1;
        if !shared.warned_protocol.swap(true, Ordering::Relaxed) {
            eprintln!("PROTOCOL ERROR (socket {}): {what}", self.index);
        }
        self.first_protocol_error.get_or_insert(what);
    }

    fn on_created(&mut self, shared: &Shared, chat_id: &str, seq: i64, content: &str, now: u64) {
        let Some(chat) = self.chats.iter_mut().find(|c| c.id == chat_id) else {
            self.recv.foreign += 1;
            return;
        };
        let Ok(p) = payload::decode(content, &shared.run) else {
            self.recv.foreign += 1;
            return;
        };
        // Warm-up messages go through the tracker too: the seqs after them must
        // continue from theirs.
        let outcome = chat.tracker.observe(seq);
        if p.warm {
            chat.warm_order.count(outcome);
            self.recv.warm += 1;
            return;
        }
        chat.order.count(outcome);
        let first = outcome != Outcome::Duplicate;
        let r = &mut self.recv;
        match shared.phase() {
            Phase::Setup | Phase::Measure => {
                r.sending += 1;
                r.unique_sending += u64::from(first);
            }
            Phase::Drain => {
                r.drain += 1;
                r.unique_drain += u64::from(first);
            }
            Phase::Late => {
                r.unique_late += u64::from(first);
                return; // late deliveries are not timed, as in load.js
            }
        }
        if first {
            self.latency
                .record(&shared.latency, now.saturating_sub(p.t));
        }
    }

    fn on_ack(&mut self, shared: &Shared, client_msg_id: &str, error: Option<&str>, now: u64) {
        let entry =
            payload::msg_no(client_msg_id, &shared.run).and_then(|n| self.pending.remove(&n));
        let Some((t, warm)) = entry else {
            if error.is_none() {
                self.protocol_error(
                    shared,
                    format!("ack for unknown client_msg_id {client_msg_id:?}"),
                );
            }
            return;
        };
        if warm {
            return;
        }
        match error {
            Some(code) => self.ack_errors.bump(code),
            None => {
                self.acks += 1;
                self.ack_latency
                    .record(&shared.ack_latency, now.saturating_sub(t));
            }
        }
    }

    /// Records a send about to be written and returns its content.
    pub fn begin_send(
        &mut self,
        shared: &Shared,
        n: u64,
        warm: bool,
        now: u64,
        content: &mut String,
    ) {
        let p = Payload {
            t: now,
            s: self.index as u32,
            n,
            warm,
        };
        payload::encode(content, &shared.run, &p, &shared.pad);
        self.pending.insert(n, (now, warm));
        if !warm {
            self.sent += 1;
        }
    }

    /// A send that could not be written (socket gone).
    pub fn send_lost(&mut self, n: u64, warm: bool) {
        if self.pending.remove(&n).is_some() && !warm {
            self.sent -= 1;
        }
        if !warm {
            self.send_failed += 1;
        }
    }

    /// Unique measured deliveries by the end of the drain.
    pub fn unique_by_drain_end(&self) -> u64 {
        self.recv.unique_sending + self.recv.unique_drain
    }

    /// Measured sends still without an ack or error.
    pub fn unacked(&self) -> usize {
        self.pending.values().filter(|(_, warm)| !warm).count()
    }

    pub fn flush(&mut self, shared: &Shared) {
        self.latency.flush(&shared.latency);
        self.ack_latency.flush(&shared.ack_latency);
    }
}
