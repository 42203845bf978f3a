//! Exactly-once and in-order checking of one chat's `message.created` stream as one
//! socket sees it. webchat promises per-chat `seq`s that are gapless and strictly
//! increasing, so every delivery must be exactly the previous seq + 1.
//!
//! The state is a high-water mark plus the set of seqs skipped below it ("holes").
//! In a healthy run the hole set stays empty, so each delivery costs one compare;
//! memory grows only with what actually went wrong.

use std::collections::BTreeSet;

/// What one delivery was, relative to what this socket saw before in that chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// exactly the previous seq + 1
    InOrder,
    /// jumped ahead: `missing` seqs were skipped (they may still arrive, late)
    Gap { missing: u64 },
    /// below the high-water mark and never seen: arrived after a later one
    Reordered,
    /// seen before
    Duplicate,
}

/// A jump bigger than this is recorded as a gap but its holes are not remembered
/// (a wild seq from a broken server must not allocate gigabytes); a late arrival
/// inside such a jump then reads as a duplicate. Real runs stay far below it.
const MAX_HOLES_PER_JUMP: i64 = 1_000_000;

#[derive(Debug, Clone)]
pub struct SeqTracker {
    /// highest seq seen (or the chat's seq before the first expected message)
    high: i64,
    /// seqs below `high` not seen yet
    holes: BTreeSet<i64>,
}

impl SeqTracker {
    /// `last_seq` is the chat's seq before the first message this socket should see:
    /// 0 for a chat created by this run, so a missing first message is a gap too.
    pub fn new(last_seq: i64) -> Self {
        Self {
            high: last_seq,
            holes: BTreeSet::new(),
        }
    }

    pub fn observe(&mut self, seq: i64) -> Outcome {
        if seq == self.high + 1 {
            self.high = seq;
            return Outcome::InOrder;
        }
        if seq > self.high {
            let missing = seq - self.high - 1;
            if missing <= MAX_HOLES_PER_JUMP {
                self.holes.extend(self.high + 1..seq);
            }
            self.high = seq;
            return Outcome::Gap {
                missing: missing as u64,
            };
        }
        if self.holes.remove(&seq) {
            Outcome::Reordered
        } else {
            Outcome::Duplicate
        }
    }

    /// Seqs skipped and still missing (not arrived out of order since).
    pub fn holes(&self) -> usize {
        self.holes.len()
    }

    #[cfg(test)]
    pub fn high(&self) -> i64 {
        self.high
    }
}

/// Integrity counters of one (socket, chat) or summed over many.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OrderCounts {
    pub duplicates: u64,
    /// deliveries below the high-water mark (arrived after a later seq)
    pub order_violations: u64,
    /// forward jumps (a seq skipped at the time of the delivery)
    pub gaps: u64,
    /// seqs skipped by those jumps
    pub gap_missing: u64,
}

impl OrderCounts {
    pub fn count(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::InOrder => {}
            Outcome::Gap { missing } => {
                self.gaps += 1;
                self.gap_missing += missing;
            }
            Outcome::Reordered => self.order_violations += 1,
            Outcome::Duplicate => self.duplicates += 1,
        }
    }

    pub fn add(&mut self, o: &OrderCounts) {
        self.duplicates += o.duplicates;
        self.order_violations += o.order_violations;
        self.gaps += o.gaps;
        self.gap_missing += o.gap_missing;
    }

    #[cfg(test)]
    pub fn is_clean(&self) -> bool {
        *self == OrderCounts::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Outcome::*;

    fn run(seqs: &[i64]) -> (Vec<Outcome>, OrderCounts, SeqTracker) {
        let mut t = SeqTracker::new(0);
        let mut c = OrderCounts::default();
        let out = seqs
            .iter()
            .map(|&s| {
                let o = t.observe(s);
                c.count(o);
                o
            })
            .collect();
        (out, c, t)
    }

    #[test]
    fn in_order_stream_is_clean() {
        let (out, c, t) = run(&[1, 2, 3, 4, 5]);
        assert!(out.iter().all(|o| *o == InOrder));
        assert!(c.is_clean());
        assert_eq!((t.high(), t.holes()), (5, 0));
    }

    #[test]
    fn a_missing_first_message_is_a_gap() {
        let (out, c, _) = run(&[2, 3]);
        assert_eq!(out, vec![Gap { missing: 1 }, InOrder]);
        assert_eq!((c.gaps, c.gap_missing), (1, 1));
    }

    #[test]
    fn jump_then_late_fill_is_gap_plus_order_violation() {
        let (out, c, t) = run(&[1, 2, 4, 3, 5]);
        assert_eq!(
            out,
            vec![InOrder, InOrder, Gap { missing: 1 }, Reordered, InOrder]
        );
        assert_eq!(c.gaps, 1);
        assert_eq!(c.order_violations, 1);
        assert_eq!(c.duplicates, 0);
        assert_eq!(t.holes(), 0, "the hole was filled");
    }

    #[test]
    fn a_never_filled_jump_leaves_a_hole() {
        let (_, c, t) = run(&[1, 2, 5, 6]);
        assert_eq!((c.gaps, c.gap_missing), (1, 2));
        assert_eq!(c.order_violations, 0);
        assert_eq!(t.holes(), 2);
    }

    #[test]
    fn duplicates_are_detected_in_order_and_after_reorder() {
        let (out, c, _) = run(&[1, 2, 2, 1, 4, 3, 3, 4]);
        assert_eq!(
            out,
            vec![
                InOrder,
                InOrder,
                Duplicate,
                Duplicate,
                Gap { missing: 1 },
                Reordered,
                Duplicate,
                Duplicate
            ]
        );
        assert_eq!(c.duplicates, 4);
        assert_eq!(c.order_violations, 1);
        assert_eq!(c.gaps, 1);
    }

    #[test]
    fn going_down_is_a_violation_not_a_duplicate() {
        // two racing senders: 1, 3 (gap), 2 (late), then 5 before 4
        let (_, c, _) = run(&[1, 3, 2, 5, 4, 6]);
        assert_eq!(c.order_violations, 2);
        assert_eq!(c.gaps, 2);
        assert_eq!(c.duplicates, 0);
    }

    #[test]
    fn starts_from_the_given_seq() {
        let mut t = SeqTracker::new(41);
        assert_eq!(t.observe(42), InOrder);
        assert_eq!(
            t.observe(41),
            Duplicate,
            "at or below the start counts as seen"
        );
    }

    #[test]
    fn counts_add_up() {
        let mut a = OrderCounts {
            duplicates: 1,
            order_violations: 2,
            gaps: 3,
            gap_missing: 4,
        };
        a.add(&a.clone());
        assert_eq!(
            a,
            OrderCounts {
                duplicates: 2,
                order_violations: 4,
                gaps: 6,
                gap_missing: 8
            }
        );
        assert!(!a.is_clean());
    }
}
