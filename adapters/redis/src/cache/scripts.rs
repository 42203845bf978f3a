//! The cache's Lua scripts (`lua/cache_*.lua`) and the argument lists they take.

use std::sync::LazyLock;

use redis::{Script, ScriptInvocation};
use webchat_domain::Message;
use webchat_ports::PortResult;

use super::format::{encode, TOMBSTONE};
use super::RedisMessageCache;
use crate::backend::unavailable;
use crate::scan::scan_keys;

/// A script that takes messages: the shared prelude, then its body.
fn with_prelude(body: &str) -> Script {
    Script::new(&format!(
        "{}\n{}",
        include_str!("../lua/cache_common.lua"),
        body
    ))
}

pub(super) static CACHE_MESSAGE: LazyLock<Script> =
    LazyLock::new(|| with_prelude(include_str!("../lua/cache_message.lua")));
pub(super) static UPDATE: LazyLock<Script> =
    LazyLock::new(|| with_prelude(include_str!("../lua/cache_update.lua")));
pub(super) static CACHE_MANY: LazyLock<Script> =
    LazyLock::new(|| with_prelude(include_str!("../lua/cache_many.lua")));
pub(super) static CACHE_PINNED: LazyLock<Script> =
    LazyLock::new(|| with_prelude(include_str!("../lua/cache_pinned.lua")));
pub(super) static WARM_UP: LazyLock<Script> =
    LazyLock::new(|| with_prelude(include_str!("../lua/cache_warm_up.lua")));
pub(super) static INVALIDATE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../lua/cache_invalidate.lua")));
static COUNT_LIVE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../lua/cache_count_live.lua")));

/// Keys per `COUNT_LIVE` call.
const PAGE: usize = 500;

impl RedisMessageCache {
    /// Runs a prelude script (`cache_common.lua`): its own keys, then the tombstone
    /// marker, the ttl and its own args, then each message's key pair and arg four.
    pub(super) async fn run(
        &self,
        op: &str,
        script: &Script,
        own_keys: &[String],
        own_args: &[String],
        messages: &[Message],
    ) -> PortResult<i64> {
        let keys = self.backend.keys();
        let mut invocation: ScriptInvocation<'_> = script.prepare_invoke();
        for key in own_keys {
            invocation.key(key);
        }
        invocation.arg(TOMBSTONE).arg(self.ttl());
        for arg in own_args {
            invocation.arg(arg);
        }
        for message in messages {
            let pin_score = message
                .pinned_at
                .map(|t| t.timestamp_millis().to_string())
                .unwrap_or_default();
            invocation
                .key(keys.message(message.id))
                .key(keys.chat_messages(message.chat_id))
                .arg(encode(message)?)
                .arg(message.seq)
                .arg(message.id.to_string())
                .arg(pin_score);
        }
        let mut conn = self.backend.conn().await?;
        invocation
            .invoke_async(&mut conn)
            .await
            .map_err(|e| unavailable(op, e))
    }

    /// How many `message:*` keys hold a message rather than a tombstone.
    pub(super) async fn count_live_messages(&self) -> PortResult<u64> {
        let keys: Vec<String> = scan_keys(&self.backend, "message:*")
            .await?
            .into_iter()
            .collect();
        let mut live = 0;
        for page in keys.chunks(PAGE) {
            let mut conn = self.backend.conn().await?;
            let n: u64 = COUNT_LIVE
                .key(page)
                .arg(TOMBSTONE)
                .invoke_async(&mut conn)
                .await
                .map_err(|e| unavailable("count messages", e))?;
            live += n;
        }
        Ok(live)
    }
}
