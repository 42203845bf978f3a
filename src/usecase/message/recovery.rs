//! Recovery after an absence (`join` with `since_seq` / `since_pts`): the messages a
//! client missed, a page at a time, and what changed in the messages it already
//! had (edits, deletions, pins), one entry per message.
//!
//! Both stop at the socket's position: what came after it reaches the socket live,
//! so nothing arrives twice.

use std::collections::HashMap;

use webchat_domain::{ChangeKind, ChatChange, ChatHead, ChatId, Event, Message, UserId};
use webchat_ports::RECENT_WINDOW;

use super::{cache_soft, MessageService};
use crate::metrics::{self, CacheRead};
use crate::usecase::AppResult;

/// Most messages, and most changes, one recovery page holds.
pub const RECOVERY_PAGE: usize = 1000;

/// One page of recovery.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Messages after `since_seq`, oldest first.
    pub missed: Vec<Message>,
    /// True when more messages follow the page (ask again after its last seq).
    pub has_more: bool,
    /// Changes after `since_pts` to the messages the client had, one per message
    /// (its latest), oldest first; creations when the client gave no `since_seq`.
    pub changes: Vec<Event>,
    /// True when more changes follow: ask again with `since_pts = changes_until`.
    pub changes_has_more: bool,
    /// The `since_pts` asked for, and the pts up to which `changes` is complete
    /// (when changes were asked for).
    pub changes_since: Option<i64>,
    pub changes_until: Option<i64>,
}

impl MessageService {
    /// What a member missed in `chat`: messages with `since_seq < seq <= upto.seq`
    /// and changes with `since_pts < pts <= upto.pts` (`upto`: the socket's position;
    /// unknown: up to now).
    pub async fn recover(
        &self,
        user: UserId,
        chat: ChatId,
        since_seq: Option<i64>,
        since_pts: Option<i64>,
        upto: Option<ChatHead>,
    ) -> AppResult<Recovery> {
        self.chats.ensure_member(user, chat).await?;
        let mut recovery = Recovery::default();
        if let Some(since) = since_seq {
            let (missed, has_more) = self.missed(chat, since, upto.map(|u| u.seq)).await?;
            recovery.missed = missed;
            recovery.has_more = has_more;
        }
        if let Some(since) = since_pts {
            let (changes, until, has_more) = self
                .changes(chat, since, upto.map(|u| u.pts), since_seq)
                .await?;
            recovery.changes = changes;
            recovery.changes_since = Some(since);
            recovery.changes_until = Some(until);
            recovery.changes_has_more = has_more;
        }
        Ok(recovery)
    }

    /// Messages after `since`, up to `upto`: from the recent window when it covers
    /// the range, else from the repository.
    async fn missed(
        &self,
        chat: ChatId,
        since: i64,
        upto: Option<i64>,
    ) -> AppResult<(Vec<Message>, bool)> {
        if let Some(upto) = upto {
            if upto <= since {
                return Ok((Vec::new(), false));
            }
            let window = cache_soft("recent", self.cache.recent(chat, RECENT_WINDOW).await);
            let page = window.and_then(|w| window_range(&w, since, upto));
            metrics::cache_read(CacheRead::Recovery, page.is_some());
            if let Some(page) = page {
                return Ok((page, false));
            }
        }
        let mut rows = self
            .messages
            .since_seq(chat, since, RECOVERY_PAGE + 1)
            .await?;
        if let Some(upto) = upto {
            rows.retain(|m| m.seq <= upto);
        }
        let has_more = rows.len() > RECOVERY_PAGE;
        rows.truncate(RECOVERY_PAGE);
        Ok((rows, has_more))
    }

    /// The latest change of each message changed after `since`, up to `upto`; only
    /// messages the client had (seq <= `known_seq`) when it knows its seq. Also
    /// returns the pts the answer is complete up to, and whether more follow.
    async fn changes(
        &self,
        chat: ChatId,
        since: i64,
        upto: Option<i64>,
        known_seq: Option<i64>,
    ) -> AppResult<(Vec<Event>, i64, bool)> {
        let page = self
            .messages
            .changes_since(chat, since, RECOVERY_PAGE)
            .await?;
        let upto = upto.unwrap_or(page.head.pts).max(since);
        let in_range: Vec<&ChatChange> = page.changes.iter().filter(|c| c.pts <= upto).collect();
        let last = page.changes.last().map(|c| c.pts);
        let cut = page.changes.len() == RECOVERY_PAGE && last.is_some_and(|p| p < upto);
        let until = if cut { last.unwrap_or(since) } else { upto };
        Ok((collapse(&in_range, known_seq), until, cut))
    }
}

/// One event per message: its latest change, as a creation when the client does
/// not know its seq and it was created in the range, as a deletion whenever it is
/// gone. Ordered by the pts of that latest change.
fn collapse(changes: &[&ChatChange], known_seq: Option<i64>) -> Vec<Event> {
    let mut latest: HashMap<_, (usize, ChatChange)> = HashMap::new();
    for (order, change) in changes.iter().enumerate() {
        let known = known_seq.is_none_or(|k| change.message.seq <= k);
        if known_seq.is_some() && !known {
            // The client gets this message (as it is now) in `missed`.
            continue;
        }
        if change.kind == ChangeKind::Created && known_seq.is_some() {
            continue;
        }
        let created_here = change.kind == ChangeKind::Created
            || latest
                .get(&change.message.id)
                .is_some_and(|(_, c)| c.kind == ChangeKind::Created);
        let mut entry = (*change).clone();
        if created_here && entry.kind != ChangeKind::Deleted {
            entry.kind = ChangeKind::Created;
        }
        latest.insert(change.message.id, (order, entry));
    }
    let mut entries: Vec<(usize, ChatChange)> = latest.into_values().collect();
    entries.sort_by_key(|(order, _)| *order);
    entries
        .into_iter()
        .filter_map(|(_, c)| Event::from_change(&c))
        .collect()
}

/// The window's messages in `(since, upto]`, oldest first, when the window holds
/// all of them: it reaches `upto` and goes back to `since` (or is the whole chat).
fn window_range(newest_first: &[Message], since: i64, upto: i64) -> Option<Vec<Message>> {
    let head = newest_first.first()?.seq;
    let oldest = newest_first.last()?.seq;
    let whole_chat = newest_first.len() < RECENT_WINDOW;
    if head < upto || !(whole_chat || oldest <= since + 1) {
        return None;
    }
    let mut page: Vec<Message> = newest_first
        .iter()
        .filter(|m| m.seq > since && m.seq <= upto)
        .cloned()
        .collect();
    page.reverse();
    Some(page)
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use webchat_domain::{MessageId, UserId};

    use super::*;

    fn message(seq: i64) -> Message {
        Message {
            id: MessageId::new(),
            chat_id: ChatId::new(),
            sender_id: UserId::new(),
            content: format!("m{seq}"),
            seq,
            client_msg_id: None,
            created_at: Utc::now(),
            edited_at: None,
            pinned_at: None,
            version: 0,
        }
    }

    #[test]
    fn the_window_answers_only_ranges_it_holds() {
        let full: Vec<Message> = (51..=100).rev().map(message).collect();
        let seqs = |p: Option<Vec<Message>>| p.map(|p| p.iter().map(|m| m.seq).collect::<Vec<_>>());
        assert_eq!(seqs(window_range(&full, 97, 100)), Some(vec![98, 99, 100]));
        assert_eq!(seqs(window_range(&full, 50, 52)), Some(vec![51, 52]));
        assert_eq!(window_range(&full, 40, 100), None, "older than the window");
        assert_eq!(window_range(&full, 97, 101), None, "newer than the window");
        let short: Vec<Message> = (1..=3).rev().map(message).collect();
        assert_eq!(seqs(window_range(&short, 0, 3)), Some(vec![1, 2, 3]));
    }

    #[test]
    fn changes_collapse_to_one_per_message() {
        let (a, b) = (message(1), message(2));
        let change = |pts, kind, m: &Message, deleted| ChatChange {
            chat_id: m.chat_id,
            pts,
            kind,
            message: m.clone(),
            deleted,
        };
        let log = [
            change(3, ChangeKind::Edited, &a, false),
            change(4, ChangeKind::Pinned, &b, false),
            change(5, ChangeKind::Edited, &a, false),
            change(6, ChangeKind::Deleted, &b, true),
        ];
        let refs: Vec<&ChatChange> = log.iter().collect();
        let out = collapse(&refs, Some(2));
        let kinds: Vec<(i64, &str)> = out
            .iter()
            .map(|e| {
                let kind = match e {
                    Event::MessageUpdated { .. } => "updated",
                    Event::MessageDeleted { .. } => "deleted",
                    _ => "other",
                };
                (e.pts().unwrap(), kind)
            })
            .collect();
        assert_eq!(kinds, vec![(5, "updated"), (6, "deleted")]);
        // Without the client's seq, a message created in the range is a creation.
        let c = message(3);
        let log = [
            change(7, ChangeKind::Created, &c, false),
            change(8, ChangeKind::Edited, &c, false),
        ];
        let refs: Vec<&ChatChange> = log.iter().collect();
        assert!(matches!(
            collapse(&refs, None).as_slice(),
            [Event::MessageCreated { pts: 8, .. }]
        ));
    }
}
