//! Redis Cluster hash slots, computed here so the key schema can place a global
//! structure on the slot of a given id (see `Keys::online_of`).
//!
//! A key's slot is CRC16/XMODEM of its hash tag (the text between the first `{`
//! and the next `}`, when not empty) or of the whole key, modulo 16384: the same
//! rule Redis Cluster applies.

use std::sync::LazyLock;

/// Slots of a Redis Cluster.
pub(crate) const SLOTS: u16 = 16384;

/// CRC16/XMODEM (polynomial 0x1021, initial value 0), as Redis Cluster uses it.
fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for byte in bytes {
        crc ^= u16::from(*byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The hash tag of `key`, when it has a non-empty one.
pub(crate) fn hash_tag(key: &[u8]) -> Option<&[u8]> {
    let open = key.iter().position(|b| *b == b'{')?;
    let close = key[open + 1..].iter().position(|b| *b == b'}')?;
    let tag = &key[open + 1..open + 1 + close];
    (!tag.is_empty()).then_some(tag)
}

/// The slot of `key`.
pub(crate) fn slot(key: &[u8]) -> u16 {
    crc16(hash_tag(key).unwrap_or(key)) % SLOTS
}

/// For each slot, the shortest lowercase-hex text (the first in counting order)
/// whose CRC16 lands on it. Deterministic, so every process and version agrees.
static SLOT_TAGS: LazyLock<Vec<String>> = LazyLock::new(|| {
    let mut tags: Vec<Option<String>> = vec![None; usize::from(SLOTS)];
    let mut missing = usize::from(SLOTS);
    let mut n: u64 = 0;
    while missing > 0 {
        let text = format!("{n:x}");
        let entry = &mut tags[usize::from(crc16(text.as_bytes()) % SLOTS)];
        if entry.is_none() {
            *entry = Some(text);
            missing -= 1;
        }
        n += 1;
    }
    tags.into_iter().flatten().collect()
});

/// A hash tag whose slot is `slot`: `{tag}` in a key puts it on that slot.
pub(crate) fn tag_of_slot(slot: u16) -> &'static str {
    &SLOT_TAGS[usize::from(slot % SLOTS)]
}

/// Every slot's tag, slot 0 first.
pub(crate) fn every_slot_tag() -> &'static [String] {
    &SLOT_TAGS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_match_redis_cluster() {
        // Values from `CLUSTER KEYSLOT` on Redis 7.
        assert_eq!(slot(b"abc"), 7638);
        assert_eq!(slot(b"abd"), 11569);
        assert_eq!(slot(b"foo"), 12182);
        assert_eq!(slot(b"chat:recent:{abc}"), 7638);
        assert_eq!(
            slot(b"{}abc"),
            slot(b"{}abc"),
            "an empty tag hashes the key"
        );
        assert_ne!(slot(b"{}abc"), slot(b""));
        assert_eq!(slot(b"a{b}c{d}"), slot(b"b"), "the first tag counts");
    }

    #[test]
    fn every_slot_has_a_short_tag_of_its_own() {
        let tags = every_slot_tag();
        assert_eq!(tags.len(), usize::from(SLOTS));
        for (n, tag) in tags.iter().enumerate() {
            assert_eq!(usize::from(slot(tag.as_bytes())), n, "{tag}");
            assert!(tag.len() <= 5, "{tag}");
        }
        let key = "webchat:user:presence:{0190c9d2-0000-7000-8000-000000000001}";
        let beside = tag_of_slot(slot(key.as_bytes()));
        assert_eq!(
            slot(format!("x{{{beside}}}").as_bytes()),
            slot(key.as_bytes())
        );
    }
}
