use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use webchat_domain::{ChatId, Message, MessageId, UserId};

use crate::contract::fixtures::micros;
use crate::contract::TimeControl;
use crate::{CacheConfig, MessageCache};

mod chat;
mod copies;
mod expiry;
mod pinned;
mod tombstones;
mod watermark;
mod window;

type Made = (Arc<dyn MessageCache>, Arc<dyn TimeControl>);

/// Lifetimes for every case but expiry: long enough that no entry expires while a
/// case runs on a slow machine.
const LASTING: CacheConfig = CacheConfig {
    ttl: Duration::from_secs(120),
    read_ttl: Duration::from_secs(60),
};

/// Lifetimes for the expiry case, which advances 2.2 s in all.
const SHORT: CacheConfig = CacheConfig {
    ttl: Duration::from_secs(2),
    read_ttl: Duration::from_secs(1),
};

/// MessageCache, as its trait docs specify: the recent window (created only by
/// `warm_up`, capped, extended only by the message right after its head, kept on a
/// re-cache, dropped on an older message it lacks, a forward gap or a delete, its
/// entries replaced only over older versions); read copies (`cache_read` fills only
/// missing copies; `update_cached` replaces older ones and fences a missing one);
/// the watermark (raised by the authoritative writes, refusing `warm_up` and
/// `cache_pinned` read before it); tombstones; the pinned set; the index bound
/// (`INDEX_LIMIT`); `invalidate_chat`, `stats`, `clear_all` and expiry.
///
/// Messages are made with `version == seq` (their creation pts in a chat with no
/// other changes); changes take higher versions. Stores are made with
/// `CacheConfig { ttl: 120 s, read_ttl: 60 s }`, the expiry case's with
/// `{ ttl: 2 s, read_ttl: 1 s }`; it advances 2.2 s in all.
pub async fn message_cache_contract<F, Fut>(make: F)
where
    F: Fn(CacheConfig) -> Fut,
    Fut: Future<Output = Made>,
{
    let fresh = || make(LASTING);
    window::warm_up_creates_the_window_capped(fresh().await).await;
    window::cache_message_extends_the_window_with_the_next_message(fresh().await).await;
    window::cache_message_never_creates_a_window_nor_a_copy(fresh().await).await;
    window::cache_message_keeps_the_window_on_a_re_cache(fresh().await).await;
    window::cache_message_drops_the_window_on_an_older_message_it_lacks(fresh().await).await;
    window::cache_message_drops_the_window_on_a_forward_gap(fresh().await).await;
    window::update_cached_replaces_a_window_entry_only_over_an_older_version(fresh().await).await;
    window::delete_cached_drops_the_window(fresh().await).await;

    copies::cache_read_fills_missing_copies(fresh().await).await;
    copies::cache_read_never_replaces_a_cached_copy(fresh().await).await;
    copies::update_cached_replaces_an_older_read_copy(fresh().await).await;
    copies::update_cached_over_a_newer_copy_changes_nothing(fresh().await).await;
    copies::update_cached_fences_a_missing_copy(fresh().await).await;

    watermark::warm_up_read_before_a_write_through_changes_nothing(fresh().await).await;
    watermark::cache_pinned_read_before_a_write_through_changes_nothing(fresh().await).await;
    watermark::update_cached_raises_the_watermark(fresh().await).await;
    watermark::delete_cached_raises_the_watermark(fresh().await).await;
    watermark::tentative_writes_leave_the_watermark_alone(fresh().await).await;

    tombstones::no_write_brings_a_deleted_copy_back(fresh().await).await;
    tombstones::keeps_a_deleted_message_out_of_the_window(fresh().await).await;
    tombstones::keeps_a_deleted_message_out_of_the_pinned_set(fresh().await).await;

    pinned::lists_pins_newest_pin_first(fresh().await).await;
    pinned::the_pinned_set_follows_update_cached(fresh().await).await;
    pinned::stale_pin_changes_stay_out(fresh().await).await;
    pinned::delete_cached_takes_the_message_out(fresh().await).await;

    chat::the_index_keeps_the_newest_seqs(fresh().await).await;
    chat::invalidate_chat_forgets_one_chat(fresh().await).await;
    chat::stats_count_read_copies_and_their_chats(fresh().await).await;
    chat::clear_all_removes_everything(fresh().await).await;

    expiry::entries_live_their_lifetimes(make(SHORT).await).await;
}

fn now(time: &Arc<dyn TimeControl>) -> DateTime<Utc> {
    micros(time.clock().now())
}

/// A stored-looking message of `chat` with `seq`, created at pts `seq`.
fn message(chat: ChatId, seq: i64, at: DateTime<Utc>) -> Message {
    Message {
        id: MessageId::new(),
        chat_id: chat,
        sender_id: UserId::new(),
        content: format!("message {seq}"),
        seq,
        client_msg_id: None,
        created_at: at,
        edited_at: None,
        pinned_at: None,
        version: seq,
    }
}

/// A chat's history with seqs 1..=n, newest first (as `warm_up` takes it).
fn history(chat: ChatId, n: i64, at: DateTime<Utc>) -> Vec<Message> {
    (1..=n).rev().map(|seq| message(chat, seq, at)).collect()
}

/// `m` after an edit committed at pts `version`.
fn edited(m: &Message, version: i64) -> Message {
    let mut m = m.clone();
    m.content = format!("edited at pts {version}");
    m.edited_at = Some(m.created_at);
    m.version = version;
    m
}

/// `m` after a pin (`Some`) or unpin (`None`) committed at pts `version`.
fn pinned_at(m: &Message, at: Option<DateTime<Utc>>, version: i64) -> Message {
    let mut m = m.clone();
    m.pinned_at = at;
    m.version = version;
    m
}

/// The `as_of` a reader of `newest_first` saw: the newest version in it.
fn as_of(newest_first: &[Message]) -> i64 {
    newest_first.iter().map(|m| m.version).max().unwrap_or(0)
}

fn seqs(messages: &[Message]) -> Vec<i64> {
    messages.iter().map(|m| m.seq).collect()
}

fn ids(messages: &[Message]) -> Vec<MessageId> {
    messages.iter().map(|m| m.id).collect()
}

async fn recent(cache: &Arc<dyn MessageCache>, chat: ChatId, limit: usize) -> Option<Vec<Message>> {
    cache.recent(chat, limit).await.expect("recent")
}

async fn cached(cache: &Arc<dyn MessageCache>, id: MessageId) -> Option<Message> {
    cache.get_cached(id).await.expect("get_cached")
}

async fn pinned(cache: &Arc<dyn MessageCache>, chat: ChatId) -> Option<Vec<Message>> {
    cache.pinned(chat).await.expect("pinned")
}

async fn warm_up(
    cache: &Arc<dyn MessageCache>,
    chat: ChatId,
    newest_first: &[Message],
    as_of: i64,
) {
    cache
        .warm_up(chat, newest_first, as_of)
        .await
        .expect("warm_up");
}

async fn cache_message(cache: &Arc<dyn MessageCache>, m: &Message) {
    cache.cache_message(m).await.expect("cache_message");
}

async fn update(cache: &Arc<dyn MessageCache>, m: &Message) {
    cache.update_cached(m).await.expect("update_cached");
}

async fn read(cache: &Arc<dyn MessageCache>, messages: &[Message]) {
    cache.cache_read(messages).await.expect("cache_read");
}

async fn delete(cache: &Arc<dyn MessageCache>, m: &Message, version: i64) {
    cache
        .delete_cached(m.chat_id, m.id, version)
        .await
        .expect("delete_cached");
}

async fn cache_pinned(cache: &Arc<dyn MessageCache>, chat: ChatId, set: &[Message], as_of: i64) {
    cache
        .cache_pinned(chat, set, as_of)
        .await
        .expect("cache_pinned");
}

/// Whether a `warm_up` of `chat` read at `as_of` takes (it leaves a window behind):
/// how the suite sees the watermark. Replaces the chat's window when it takes.
async fn warm_up_takes(cache: &Arc<dyn MessageCache>, chat: ChatId, as_of: i64) -> bool {
    cache.invalidate_chat(chat).await.expect("invalidate_chat");
    warm_up(cache, chat, &[], as_of).await;
    recent(cache, chat, 1).await.is_some()
}
