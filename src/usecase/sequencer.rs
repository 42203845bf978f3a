//! Per-chat delivery order: the cursor an instance keeps for each chat its sockets
//! are in. A pure state machine (no I/O, no clock of its own); the socket registry
//! drives it with events from the bus, pages from the change log, and the time.
//!
//! The cursor is the last `pts` (and the newest message `seq`) delivered to local
//! sockets. An event with `pts == cursor + 1` is delivered; a later one waits in
//! `pending` (bounded) until the gap closes or the change log fills it; an earlier
//! one is a duplicate and is dropped. Because a creation takes its seq and pts
//! together, delivering in pts order delivers `message.created` in seq order.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use webchat_domain::{ChatHead, Event};

/// Events a chat may hold back while a gap is open. Past this, newer events are
/// not kept: the change log has them, and the fill that follows fetches them.
pub const PENDING_LIMIT: usize = 4096;

#[derive(Debug, Default)]
pub struct Sequencer {
    /// `None` until the chat's head is known (the cursor starts there).
    cursor: Option<ChatHead>,
    /// Where the cursor started: the position of every socket that joined before.
    start: Option<ChatHead>,
    pending: BTreeMap<i64, Arc<Event>>,
    /// Since when an event has waited for an earlier one.
    waiting_since: Option<Instant>,
    /// True when events past `pending`'s limit were left for the log.
    overflowed: bool,
}

impl Sequencer {
    pub fn new() -> Self {
        Self::default()
    }

    /// What has been delivered (`None` before `start`).
    pub fn cursor(&self) -> Option<ChatHead> {
        self.cursor
    }

    /// The head the cursor started from (`None` before `start`).
    pub fn started_at(&self) -> Option<ChatHead> {
        self.start
    }

    /// Since when a delivered-out-of-order event has waited, if one has.
    pub fn waiting_since(&self) -> Option<Instant> {
        self.waiting_since
    }

    /// True when events were left for the log because too many waited: fill now.
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// True when the chat's head is past the cursor (something was missed).
    pub fn behind(&self, head: ChatHead) -> bool {
        self.cursor.is_none_or(|c| head.pts > c.pts)
    }

    /// Starts the cursor at `head`, read after the subscription began, so every
    /// later change reaches this chat's subscription or the log. Returns what was
    /// waiting and now follows in order. A second start changes nothing.
    pub fn start(&mut self, head: ChatHead, now: Instant) -> Vec<Arc<Event>> {
        if self.cursor.is_some() {
            return Vec::new();
        }
        self.cursor = Some(head);
        self.start = Some(head);
        self.drain(now)
    }

    /// An event from the bus: returns what to deliver now, in order.
    pub fn offer(&mut self, event: Arc<Event>, now: Instant) -> Vec<Arc<Event>> {
        let Some(pts) = event.pts() else {
            return vec![event];
        };
        match self.cursor {
            Some(c) if pts <= c.pts => Vec::new(),
            Some(c) if pts == c.pts + 1 => {
                self.advance(&event);
                let mut out = vec![event];
                out.extend(self.drain(now));
                out
            }
            _ => {
                self.hold(pts, event, now);
                Vec::new()
            }
        }
    }

    /// A page of the change log read after the cursor: its events (as they are now)
    /// are delivered in order, the cursor moves to `covered` (the last pts the page
    /// accounts for, including changes it left out because their message is gone),
    /// and the waiting events that follow drain. `head_seq` is the chat's last seq
    /// when the page reached the head.
    pub fn fill(
        &mut self,
        events: Vec<Arc<Event>>,
        covered: i64,
        head_seq: Option<i64>,
        now: Instant,
    ) -> Vec<Arc<Event>> {
        let Some(cursor) = self.cursor else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for event in events {
            if event.pts().is_some_and(|p| p > cursor.pts && p <= covered) {
                self.advance(&event);
                out.push(event);
            }
        }
        if let Some(c) = self.cursor.as_mut() {
            c.pts = c.pts.max(covered);
            if let Some(seq) = head_seq {
                c.seq = c.seq.max(seq);
            }
        }
        self.overflowed = false;
        out.extend(self.drain(now));
        out
    }

    fn hold(&mut self, pts: i64, event: Arc<Event>, now: Instant) {
        if self.pending.len() >= PENDING_LIMIT {
            self.overflowed = true;
        } else {
            self.pending.insert(pts, event);
        }
        self.waiting_since.get_or_insert(now);
    }

    fn advance(&mut self, event: &Event) {
        if let Some(c) = self.cursor.as_mut() {
            c.pts = event.pts().unwrap_or(c.pts).max(c.pts);
            if let Event::MessageCreated { message, .. } = event {
                c.seq = c.seq.max(message.seq);
            }
        }
    }

    /// Delivers the waiting events that now follow the cursor; forgets duplicates.
    fn drain(&mut self, now: Instant) -> Vec<Arc<Event>> {
        let mut out = Vec::new();
        while let Some(c) = self.cursor {
            let Some(entry) = self.pending.first_entry() else {
                break;
            };
            let pts = *entry.key();
            if pts <= c.pts {
                entry.remove();
            } else if pts == c.pts + 1 {
                let event = entry.remove();
                self.advance(&event);
                out.push(event);
            } else {
                break;
            }
        }
        self.waiting_since = match (self.pending.is_empty() && !self.overflowed, out.is_empty()) {
            (true, _) => None,
            // Progress was made but a gap remains: its wait starts now.
            (false, false) => Some(now),
            (false, true) => self.waiting_since.or(Some(now)),
        };
        out
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::Utc;
    use webchat_domain::{ChatId, Message, MessageId, UserId};

    use super::*;

    fn created(chat: ChatId, seq: i64, pts: i64) -> Arc<Event> {
        Arc::new(Event::MessageCreated {
            chat_id: chat,
            message: Message {
                id: MessageId::new(),
                chat_id: chat,
                sender_id: UserId::new(),
                content: format!("m{seq}"),
                seq,
                client_msg_id: None,
                created_at: Utc::now(),
                edited_at: None,
                pinned_at: None,
                version: 0,
            },
            pts,
        })
    }

    fn pts_of(events: &[Arc<Event>]) -> Vec<i64> {
        events.iter().filter_map(|e| e.pts()).collect()
    }

    fn started() -> (Sequencer, ChatId, Instant) {
        let mut s = Sequencer::new();
        let now = Instant::now();
        assert!(s.start(ChatHead { seq: 0, pts: 0 }, now).is_empty());
        (s, ChatId::new(), now)
    }

    #[test]
    fn in_order_events_pass_and_duplicates_are_dropped() {
        let (mut s, chat, now) = started();
        assert_eq!(pts_of(&s.offer(created(chat, 1, 1), now)), [1]);
        assert_eq!(pts_of(&s.offer(created(chat, 2, 2), now)), [2]);
        assert!(s.offer(created(chat, 1, 1), now).is_empty(), "a duplicate");
        assert_eq!(s.cursor(), Some(ChatHead { seq: 2, pts: 2 }));
        assert_eq!(s.waiting_since(), None);
    }

    #[test]
    fn a_later_event_waits_for_the_gap_then_both_go_in_order() {
        let (mut s, chat, now) = started();
        assert!(s.offer(created(chat, 2, 2), now).is_empty());
        assert_eq!(s.waiting_since(), Some(now));
        assert_eq!(pts_of(&s.offer(created(chat, 1, 1), now)), [1, 2]);
        assert_eq!(s.waiting_since(), None);
    }

    #[test]
    fn a_fill_closes_a_gap_and_skips_changes_whose_message_is_gone() {
        let (mut s, chat, now) = started();
        s.offer(created(chat, 1, 1), now);
        assert!(s.offer(created(chat, 4, 5), now).is_empty());
        // The log: pts 2 created seq 2, pts 3 created seq 3 (since deleted: left
        // out), pts 4 deleted it, pts 5 is the waiting event.
        let out = s.fill(vec![created(chat, 2, 2)], 4, None, now);
        assert_eq!(pts_of(&out), [2, 5], "the fill, then what waited");
        assert_eq!(s.cursor(), Some(ChatHead { seq: 4, pts: 5 }));
        assert_eq!(s.waiting_since(), None);
    }

    #[test]
    fn events_before_the_start_wait_and_the_start_drops_what_it_covers() {
        let mut s = Sequencer::new();
        let chat = ChatId::new();
        let now = Instant::now();
        assert!(s.offer(created(chat, 3, 3), now).is_empty());
        assert!(s.offer(created(chat, 4, 4), now).is_empty());
        let out = s.start(ChatHead { seq: 3, pts: 3 }, now);
        assert_eq!(pts_of(&out), [4]);
        assert_eq!(s.started_at(), Some(ChatHead { seq: 3, pts: 3 }));
        assert!(!s.behind(ChatHead { seq: 4, pts: 4 }));
        assert!(s.behind(ChatHead { seq: 5, pts: 5 }));
    }

    #[test]
    fn a_remaining_gap_restarts_its_wait_after_progress() {
        let (mut s, chat, t0) = started();
        s.offer(created(chat, 2, 2), t0);
        s.offer(created(chat, 4, 4), t0);
        let t1 = t0 + Duration::from_millis(50);
        assert_eq!(pts_of(&s.offer(created(chat, 1, 1), t1)), [1, 2]);
        assert_eq!(s.waiting_since(), Some(t1), "pts 3 is still missing");
    }

    #[test]
    fn memory_stays_bounded_and_the_overflow_asks_for_a_fill() {
        let (mut s, chat, now) = started();
        for pts in 2..(PENDING_LIMIT as i64 + 10) {
            s.offer(created(chat, pts, pts), now);
        }
        assert!(s.overflowed());
        let last = PENDING_LIMIT as i64 + 9;
        let out = s.fill(vec![created(chat, 1, 1)], 1, None, now);
        assert_eq!(out.len(), PENDING_LIMIT + 1, "1, then every held event");
        assert_eq!(s.cursor().map(|c| c.pts), Some(PENDING_LIMIT as i64 + 1));
        assert!(s.waiting_since().is_none() && !s.overflowed());
        // What was not held comes from the log on the next fill.
        let rest: Vec<_> = (PENDING_LIMIT as i64 + 2..=last)
            .map(|p| created(chat, p, p))
            .collect();
        assert_eq!(s.fill(rest, last, None, now).len(), 8);
    }
}
