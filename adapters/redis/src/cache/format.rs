//! What the cache's keys hold: message JSON, or one of two markers that never parse
//! as JSON, and how reads turn those values back into messages.

use webchat_domain::Message;
use webchat_ports::PortResult;

use crate::backend::corrupt;

/// Stands for "no messages" in a window and "nothing pinned" in a pinned set; never
/// a message id or message JSON.
pub(super) const EMPTY_MARKER: &str = "~empty";

/// The value of `message:{id}` after a delete: never message JSON.
pub(super) const TOMBSTONE: &str = "~deleted";

pub(super) fn encode(message: &Message) -> PortResult<String> {
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

/// The `message:{id}` values of a pinned set's members, in set order.
pub(super) fn pinned(records: Vec<Option<String>>) -> PortResult<Option<Vec<Message>>> {
    // One evicted (or deleted) message makes the cached set unusable: the caller
    // refills it from the repository.
    let Some(records) = records
        .into_iter()
        .map(|r| r.filter(|json| json != TOMBSTONE))
        .collect::<Option<Vec<String>>>()
    else {
        return Ok(None);
    };
    records
        .iter()
        .map(|json| decode(json))
        .collect::<PortResult<Vec<_>>>()
        .map(Some)
}
