//! What every socket saw, summed over the run (and per chat where the report
//! breaks it down).

use std::collections::BTreeMap;

use crate::client::socket::Finished;
use crate::setup::Layout;
use crate::stats::order::OrderCounts;

#[derive(Default)]
pub struct Totals {
    pub acks_per_chat: Vec<u64>,
    pub order_per_chat: Vec<OrderCounts>,
    pub order: OrderCounts,
    pub warm_order: OrderCounts,
    pub holes: u64,
    pub received: u64,
    pub unique_sending: u64,
    pub unique_drain: u64,
    pub late: u64,
    pub warm: u64,
    pub foreign: u64,
    pub sent_written: u64,
    pub send_failed: u64,
    pub unacked: u64,
    pub drops: u64,
    pub first_drop: Option<String>,
    pub protocol_errors: u64,
    pub first_protocol_error: Option<String>,
    pub ack_errors: BTreeMap<String, u64>,
    pub error_frames: BTreeMap<String, u64>,
    pub other_frames: BTreeMap<String, u64>,
}

pub fn totals(layout: &Layout, finished: &[Finished]) -> Totals {
    let n = layout.chats.len();
    let mut t = Totals {
        acks_per_chat: vec![0; n],
        order_per_chat: vec![OrderCounts::default(); n],
        ..Totals::default()
    };
    for f in finished {
        let s = &f.state;
        t.acks_per_chat[layout.slots[s.index].chat] += s.acks;
        for c in &s.chats {
            t.order_per_chat[c.index].add(&c.order);
            t.order.add(&c.order);
            t.warm_order.add(&c.warm_order);
            t.holes += c.tracker.holes() as u64;
        }
        let r = &s.recv;
        t.received += r.sending + r.drain;
        t.unique_sending += r.unique_sending;
        t.unique_drain += r.unique_drain;
        t.late += r.unique_late;
        t.warm += r.warm;
        t.foreign += r.foreign;
        t.sent_written += s.sent;
        t.send_failed += s.send_failed;
        t.unacked += f.unacked_at_end as u64;
        if let Some(d) = &f.dropped {
            t.drops += 1;
            t.first_drop.get_or_insert_with(|| d.clone());
        }
        t.protocol_errors += s.protocol_errors;
        if let Some(e) = &s.first_protocol_error {
            t.first_protocol_error.get_or_insert_with(|| e.clone());
        }
        s.ack_errors.merge_into(&mut t.ack_errors);
        s.error_frames.merge_into(&mut t.error_frames);
        s.other_frames.merge_into(&mut t.other_frames);
    }
    t
}
