use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use webchat_domain::{ChatId, Message, MessageId, UserId};

use crate::contract::fixtures::micros;
use crate::contract::TimeControl;
use crate::{CacheConfig, MessageCache};

mod entries;
mod tombstones;
mod window;

type Made = (Arc<dyn MessageCache>, Arc<dyn TimeControl>);

/// MessageCache: entries by id, the recent window rules of the trait docs (created
/// only by `warm_up`, extended only by the message right after its head, unchanged
/// by a re-cache, dropped by an out-of-order older message, a forward gap or a
/// delete, capped at `RECENT_WINDOW`), tombstones (no write brings a deleted message
/// back until the ttl), the pinned set, `cache_many`, `invalidate_chat`, `stats`,
/// `clear_all` and expiry. Stores are made with a 2 s ttl; advances 2.6 s in all.
pub async fn message_cache_contract<F, Fut>(make: F)
where
    F: Fn(CacheConfig) -> Fut,
    Fut: Future<Output = Made>,
{
    let fresh = || {
        make(CacheConfig {
            ttl: Duration::from_secs(2),
        })
    };
    entries::caches_messages_by_id(fresh().await).await;
    window::warms_up_and_caps_the_window(fresh().await).await;
    window::extends_the_window_with_the_next_message(fresh().await).await;
    window::keeps_the_window_on_a_re_cache(fresh().await).await;
    window::drops_the_window_on_an_out_of_order_older_message(fresh().await).await;
    window::drops_the_window_on_a_forward_gap(fresh().await).await;
    window::keeps_edits_in_step(fresh().await).await;
    window::drops_the_window_on_delete(fresh().await).await;
    tombstones::forgets_a_deleted_message_for_good(fresh().await).await;
    tombstones::keeps_a_deleted_message_out_of_the_window(fresh().await).await;
    tombstones::keeps_a_deleted_message_out_of_the_pinned_set(fresh().await).await;
    entries::keeps_pins_newest_pin_first(fresh().await).await;
    entries::invalidates_one_chat(fresh().await).await;
    entries::counts_and_clears(fresh().await).await;
    entries::expires_entries(fresh().await).await;
}

fn now(time: &Arc<dyn TimeControl>) -> DateTime<Utc> {
    micros(time.clock().now())
}

/// A stored-looking message of `chat` with `seq`.
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
        version: 0,
    }
}

/// A chat's history with seqs 1..=n, newest first (as `warm_up` takes it).
fn history(chat: ChatId, n: i64, at: DateTime<Utc>) -> Vec<Message> {
    (1..=n).rev().map(|seq| message(chat, seq, at)).collect()
}

fn seqs(messages: &[Message]) -> Vec<i64> {
    messages.iter().map(|m| m.seq).collect()
}

async fn recent(cache: &Arc<dyn MessageCache>, chat: ChatId, limit: usize) -> Option<Vec<Message>> {
    cache.recent(chat, limit).await.expect("recent")
}

async fn cached(cache: &Arc<dyn MessageCache>, id: MessageId) -> Option<Message> {
    cache.get_cached(id).await.expect("get_cached")
}
