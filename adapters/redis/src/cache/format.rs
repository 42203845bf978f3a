//! What the cache's keys hold: message JSON, or one of the markers that never parse
//! as JSON and are never a message id, and how reads turn those values back into
//! messages.

use std::collections::HashMap;

use webchat_domain::Message;
use webchat_ports::PortResult;

use crate::backend::corrupt;

/// Stands for "no messages" in a window (its only element), and is the field of a
/// pinned set that is always there (so a set with nothing pinned is cached); that
/// field's value is the `as_of` the set was read at.
pub(crate) const EMPTY_MARKER: &str = "~empty";

/// The value of `message:{id}` after a delete: never message JSON.
pub(crate) const TOMBSTONE: &str = "~deleted";

/// A pinned-set value `~unpinned:<version>`: the message left the set (unpinned or
/// deleted) at that version.
pub(crate) const UNPINNED_MARKER: &str = "~unpinned:";

/// Whether the first bytes of a `message:{id}` value, as `GETRANGE key 0
/// TOMBSTONE_END` answers (a few bytes instead of a whole copy), are a tombstone's:
/// message JSON starts with `{`, a missing key reads as "".
pub(crate) fn is_tombstone(head: &str) -> bool {
    head == TOMBSTONE
}

/// The last byte `GETRANGE` reads for [`is_tombstone`].
pub(crate) const TOMBSTONE_END: usize = TOMBSTONE.len() - 1;

pub(crate) fn encode(message: &Message) -> PortResult<String> {
    serde_json::to_string(message).map_err(|e| corrupt("message", e))
}

fn decode(json: &str) -> PortResult<Message> {
    serde_json::from_str(json).map_err(|e| corrupt("message", e))
}

/// A `message:{id}` value: `None` when absent or a tombstone.
pub(super) fn cached(json: Option<&str>) -> PortResult<Option<Message>> {
    json.filter(|json| *json != TOMBSTONE)
        .map(decode)
        .transpose()
}

/// A `chat:recent:{chatId}` range: `None` when the window is not cached; the empty
/// marker is skipped.
pub(super) fn window(items: &[String]) -> PortResult<Option<Vec<Message>>> {
    if items.is_empty() {
        return Ok(None);
    }
    items
        .iter()
        .filter(|item| *item != EMPTY_MARKER)
        .map(|item| decode(item))
        .collect::<PortResult<Vec<_>>>()
        .map(Some)
}

/// A `chat:pinned:{chatId}` hash: `None` when no set is cached, else its members
/// newest pin first (then higher seq first); markers are skipped.
pub(super) fn pinned(fields: HashMap<String, String>) -> PortResult<Option<Vec<Message>>> {
    if !fields.contains_key(EMPTY_MARKER) {
        return Ok(None);
    }
    let mut members = fields
        .iter()
        .filter(|(field, value)| *field != EMPTY_MARKER && !value.starts_with('~'))
        .map(|(_, json)| decode(json))
        .collect::<PortResult<Vec<_>>>()?;
    members.sort_by_key(|m| std::cmp::Reverse((m.pinned_at, m.seq)));
    Ok(Some(members))
}
