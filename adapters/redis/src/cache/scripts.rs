//! The cache's Lua scripts (`lua/cache_*.lua`) and how they are sent.
//!
//! Two kinds, by the keys they touch, so that each runs on one Redis Cluster slot:
//! *chat scripts* declare only keys of one chat (`chat:*:{chatId}`) and get the
//! shared prelude `cache_chat.lua`; *per-key scripts* touch their one
//! `message:{id}` key. An operation that needs both sends one of each, in the order
//! its comment argues for.

use std::sync::LazyLock;

use redis::Script;

use super::format::{EMPTY_MARKER, TOMBSTONE, UNPINNED_MARKER};

/// The first lines of every cache script: a shebang without flags, so that in
/// Redis Cluster mode Redis itself refuses a script touching keys of two slots
/// (declared or not); then the markers, defined once (in `format`).
fn header() -> String {
    format!(
        "#!lua\nlocal EMPTY, TOMBSTONE, UNPINNED = '{EMPTY_MARKER}', '{TOMBSTONE}', '{UNPINNED_MARKER}'\n"
    )
}

/// A script over one chat's keys: the markers, the shared prelude, then its body.
fn chat_script(body: &str) -> Script {
    Script::new(&format!(
        "{}{}\n{}",
        header(),
        include_str!("../lua/cache_chat.lua"),
        body
    ))
}

/// A script over one `message:{id}` key.
fn key_script(body: &str) -> Script {
    Script::new(&format!("{}{}", header(), body))
}

pub(crate) static CACHE_MESSAGE: LazyLock<Script> =
    LazyLock::new(|| chat_script(include_str!("../lua/cache_message.lua")));
pub(crate) static ANNOUNCE: LazyLock<Script> =
    LazyLock::new(|| chat_script(include_str!("../lua/cache_announce.lua")));
pub(super) static UPDATE: LazyLock<Script> =
    LazyLock::new(|| chat_script(include_str!("../lua/cache_update.lua")));
pub(super) static DELETE: LazyLock<Script> =
    LazyLock::new(|| chat_script(include_str!("../lua/cache_delete.lua")));
pub(super) static FORGET: LazyLock<Script> =
    LazyLock::new(|| chat_script(include_str!("../lua/cache_forget.lua")));
pub(super) static WARM_UP: LazyLock<Script> =
    LazyLock::new(|| chat_script(include_str!("../lua/cache_warm_up.lua")));
pub(super) static CACHE_PINNED: LazyLock<Script> =
    LazyLock::new(|| chat_script(include_str!("../lua/cache_pinned.lua")));
pub(super) static INDEX: LazyLock<Script> =
    LazyLock::new(|| chat_script(include_str!("../lua/cache_index.lua")));
pub(super) static COPY: LazyLock<Script> =
    LazyLock::new(|| key_script(include_str!("../lua/cache_copy.lua")));
pub(super) static DROP_COPY: LazyLock<Script> =
    LazyLock::new(|| key_script(include_str!("../lua/cache_drop_copy.lua")));

pub(super) use crate::pipeline::{replies, reply, send, send_unordered};
