//! RedisMessageCache behaviour that the Redis layout makes easy to get wrong: the
//! markers, the pinned hash, walking the prefix, tombstones, invalidating a full
//! index in bounded commands, single-slot scripts, and memory that follows chats
//! rather than messages.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{edited, history, message, pinned, raw};
use webchat_domain::ChatId;
use webchat_ports::{CacheConfig, CacheStats, MessageCache, INDEX_LIMIT, RECENT_WINDOW};
use webchat_redis::RedisMessageCache;

const HOUR: CacheConfig = CacheConfig {
    ttl: Duration::from_secs(3600),
    read_ttl: Duration::from_secs(300),
};

#[tokio::test]
async fn empty_windows_and_pinned_sets_are_cached_with_markers() {
    let Some(url) = common::redis_or_skip().await else {
        return;
    };
    let backend = common::backend(&url);
    let prefix = backend.key_prefix().to_owned();
    let cache = RedisMessageCache::new(backend, HOUR);
    let mut conn = raw(&url).await;
    let chat = ChatId::new();

    cache.warm_up(chat, &[], 0).await.unwrap();
    let recent_key = format!("{prefix}chat:recent:{{{chat}}}");
    let items: Vec<String> = redis::cmd("LRANGE")
        .arg(&recent_key)
        .arg(0)
        .arg(-1)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        items,
        vec!["~empty"],
        "an empty window holds only the marker"
    );
    assert_eq!(cache.recent(chat, 0).await.unwrap(), Some(vec![]));
    let first = message(chat, 1);
    cache.cache_message(&first).await.unwrap();
    let items: Vec<String> = redis::cmd("LRANGE")
        .arg(&recent_key)
        .arg(0)
        .arg(-1)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(items.len(), 1, "the first message replaces the marker");
    assert_eq!(cache.recent(chat, 5).await.unwrap(), Some(vec![first]));

    cache.cache_pinned(chat, &[], 7).await.unwrap();
    let fields: HashMap<String, String> = redis::cmd("HGETALL")
        .arg(format!("{prefix}chat:pinned:{{{chat}}}"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        fields,
        HashMap::from([("~empty".to_owned(), "7".to_owned())]),
        "an empty pinned set holds only the marker field, valued the set's as_of"
    );
    assert_eq!(cache.pinned(chat).await.unwrap(), Some(vec![]));
    common::wipe(&url, &prefix).await;
}

#[tokio::test]
async fn the_pinned_set_is_one_hash_that_needs_no_copies() {
    let Some(url) = common::redis_or_skip().await else {
        return;
    };
    let backend = common::backend(&url);
    let prefix = backend.key_prefix().to_owned();
    let cache = RedisMessageCache::new(backend, HOUR);
    let mut conn = raw(&url).await;
    let chat = ChatId::new();
    let m = history(chat, 3);
    let (a, b) = (pinned(&m[2], true, 4), pinned(&m[1], true, 5));
    cache
        .cache_pinned(chat, &[a.clone(), b.clone()], 5)
        .await
        .unwrap();
    let key = format!("{prefix}chat:pinned:{{{chat}}}");
    let fields: HashMap<String, String> = redis::cmd("HGETALL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    let stored: webchat_domain::Message = serde_json::from_str(&fields[&a.id.to_string()]).unwrap();
    assert_eq!(stored, a, "a member's field holds the message JSON");

    redis::cmd("UNLINK")
        .arg(format!("{prefix}message:{{{}}}", a.id))
        .arg(format!("{prefix}message:{{{}}}", b.id))
        .query_async::<u64>(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        cache.pinned(chat).await.unwrap(),
        Some(vec![b.clone(), a.clone()]),
        "pinned reads the one hash, whatever copies by id exist"
    );

    cache.update_cached(&pinned(&b, false, 6)).await.unwrap();
    let value: String = redis::cmd("HGET")
        .arg(&key)
        .arg(b.id.to_string())
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        value, "~unpinned:6",
        "an unpin leaves a marker with its version, so an older pin stays out"
    );
    assert_eq!(cache.pinned(chat).await.unwrap(), Some(vec![a]));
    common::wipe(&url, &prefix).await;
}

#[tokio::test]
async fn stats_invalidate_and_clear_walk_the_prefix_only() {
    let Some(url) = common::redis_or_skip().await else {
        return;
    };
    let isolation = common::Isolation::new(&url);
    let cache = RedisMessageCache::new(isolation.backend(), HOUR);
    let neighbour = RedisMessageCache::new(isolation.backend(), HOUR);
    let (one, two) = (ChatId::new(), ChatId::new());
    let first = history(one, 3);
    cache.cache_read(&first).await.unwrap();
    cache.warm_up(two, &history(two, 2), 2).await.unwrap();
    cache.cache_message(&message(two, 3)).await.unwrap();
    neighbour
        .cache_read(&history(ChatId::new(), 4))
        .await
        .unwrap();

    assert_eq!(
        cache.stats().await.unwrap(),
        CacheStats {
            total_cached_messages: 3,
            total_chats: 1
        }
    );
    cache.invalidate_chat(one).await.unwrap();
    assert_eq!(cache.get_cached(first[0].id).await.unwrap(), None);
    assert_eq!(cache.stats().await.unwrap(), CacheStats::default());

    let removed = cache.clear_all().await.unwrap();
    assert_eq!(removed, 2, "the window and the watermark of chat two");
    assert_eq!(
        neighbour.stats().await.unwrap().total_cached_messages,
        4,
        "other prefixes are untouched"
    );
    isolation.wipe().await;
}

#[tokio::test]
async fn a_delete_leaves_a_string_tombstone_that_lives_the_cache_ttl() {
    let Some(url) = common::redis_or_skip().await else {
        return;
    };
    let backend = common::backend(&url);
    let prefix = backend.key_prefix().to_owned();
    let ttl = Duration::from_secs(60);
    let cache = RedisMessageCache::new(
        backend,
        CacheConfig {
            ttl,
            read_ttl: Duration::from_secs(10),
        },
    );
    let chat = ChatId::new();
    let all = history(chat, 3);
    cache.cache_read(&all).await.unwrap();
    cache.delete_cached(chat, all[0].id, 4).await.unwrap();

    let mut conn = raw(&url).await;
    let key = format!("{prefix}message:{{{}}}", all[0].id);
    let value: String = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(value, "~deleted", "the tombstone is a plain string");
    let pttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        pttl > 10_000 && pttl <= ttl.as_millis() as i64,
        "the tombstone lives the cache ttl, not read_ttl: PTTL {pttl}"
    );
    let indexed: Vec<String> = redis::cmd("ZRANGE")
        .arg(format!("{prefix}chat:messages:{{{chat}}}"))
        .arg(0)
        .arg(-1)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        !indexed.contains(&all[0].id.to_string()),
        "the deleted id leaves the index"
    );

    cache.invalidate_chat(chat).await.unwrap();
    let exists: bool = redis::cmd("EXISTS")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(exists, "invalidate_chat keeps the tombstone");
    assert_eq!(
        cache.clear_all().await.unwrap(),
        2,
        "clear_all removes the tombstone and the watermark"
    );
    common::wipe(&url, &prefix).await;
}

/// Arguments of each command the server ran, from SLOWLOG (which shows at most 32,
/// the last one saying how many more there were).
async fn slowlog_arg_counts(conn: &mut redis::aio::MultiplexedConnection) -> Vec<(String, usize)> {
    let entries: Vec<redis::Value> = redis::cmd("SLOWLOG")
        .arg("GET")
        .arg(-1)
        .query_async(conn)
        .await
        .unwrap();
    let mut out = Vec::new();
    for entry in entries {
        let redis::Value::Array(fields) = entry else {
            continue;
        };
        let args: Vec<String> = redis::from_redis_value(fields[3].clone()).unwrap();
        let mut count = args.len();
        if let Some(more) = args.last().and_then(|last| {
            last.strip_prefix("... (")
                .and_then(|rest| rest.strip_suffix(" more arguments)"))
                .and_then(|n| n.parse::<usize>().ok())
        }) {
            count = count - 1 + more;
        }
        out.push((args[0].to_lowercase(), count));
    }
    out
}

#[tokio::test]
async fn invalidate_walks_a_full_index_in_bounded_commands() {
    let Some(_) = common::redis_or_skip().await else {
        return;
    };
    let Some(server) = common::OwnRedis::new() else {
        return;
    };
    let url = server.url();
    let backend = common::backend(&url);
    let prefix = backend.key_prefix().to_owned();
    let cache = RedisMessageCache::new(backend, HOUR);
    let chat = ChatId::new();
    let all = history(chat, (INDEX_LIMIT + 100) as i64);
    cache.cache_read(&all).await.unwrap();
    cache.warm_up(chat, &all[..3], 1100).await.unwrap();

    let mut conn = raw(&url).await;
    for (name, value) in [
        ("slowlog-log-slower-than", "0"),
        ("slowlog-max-len", "100000"),
    ] {
        redis::cmd("CONFIG")
            .arg("SET")
            .arg(name)
            .arg(value)
            .query_async::<()>(&mut conn)
            .await
            .unwrap();
    }
    redis::cmd("SLOWLOG")
        .arg("RESET")
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    cache.invalidate_chat(chat).await.unwrap();
    let commands = slowlog_arg_counts(&mut conn).await;
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("slowlog-log-slower-than")
        .arg("10000")
        .query_async::<()>(&mut conn)
        .await
        .unwrap();

    let biggest = commands.iter().map(|(_, n)| *n).max().unwrap_or(0);
    assert!(
        biggest <= 2 + 500,
        "no command of invalidate_chat carries more than 500 ids; the biggest had {biggest} arguments"
    );
    let pages = commands.iter().filter(|(name, _)| name == "zrange").count();
    assert_eq!(pages, 3, "two pages of 500 ids, then an empty one");
    let keys = common::keys_under(&url, &prefix).await;
    assert_eq!(
        keys.len(),
        100,
        "only the 100 copies older than the index's seqs are left: {:?}",
        keys.iter()
            .filter(|k| !k.contains(":message:"))
            .collect::<Vec<_>>()
    );
    assert!(keys.iter().all(|k| k.contains(":message:{")));
    assert_eq!(cache.recent(chat, 1).await.unwrap(), None);
}

/// Makes `server` a one-node Redis Cluster owning every slot, and waits until it
/// serves. Its scripts (all start with a shebang) then fail on keys of two slots.
async fn own_cluster(server: &common::OwnRedis) {
    let mut conn = raw(&server.url()).await;
    redis::cmd("CLUSTER")
        .arg("ADDSLOTSRANGE")
        .arg(0)
        .arg(16383)
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    for _ in 0..100 {
        let info: String = redis::cmd("CLUSTER")
            .arg("INFO")
            .query_async(&mut conn)
            .await
            .unwrap();
        if info.contains("cluster_state:ok") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the one-node cluster never reached cluster_state:ok");
}

#[tokio::test]
async fn every_cache_command_stays_on_one_cluster_slot() {
    let Some(_) = common::redis_or_skip().await else {
        return;
    };
    let Some(server) = common::OwnRedis::with_args(&[
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        "nodes.conf",
    ]) else {
        return;
    };
    own_cluster(&server).await;
    let refused = redis::cmd("EVAL")
        .arg("#!lua\nredis.call('GET', 'a{1}')\nreturn redis.call('GET', 'b{2}')")
        .arg(0)
        .query_async::<Option<String>>(&mut raw(&server.url()).await)
        .await;
    assert!(
        refused.is_err(),
        "the one-node cluster refuses a script over two slots, so this test can see one"
    );
    let backend = common::backend(&server.url());
    let cache = RedisMessageCache::new(backend.clone(), HOUR);
    let announcer = webchat_redis::RedisAnnouncer::new(backend, HOUR);
    let chat = ChatId::new();
    let all = history(chat, 5);

    // Every operation, and every path of it (the undo after a tombstone included).
    cache.cache_read(&all).await.expect("cache_read");
    cache.warm_up(chat, &all[1..], 4).await.expect("warm_up");
    cache.cache_message(&all[0]).await.expect("cache_message");
    cache
        .cache_pinned(chat, &[pinned(&all[1], true, 5)], 5)
        .await
        .expect("cache_pinned");
    cache
        .update_cached(&pinned(&all[2], true, 6))
        .await
        .expect("update_cached");
    cache
        .delete_cached(chat, all[2].id, 7)
        .await
        .expect("delete_cached");
    cache
        .update_cached(&edited(&all[2], 6))
        .await
        .expect("update_cached of a tombstoned message");
    cache.warm_up(chat, &all[..2], 7).await.expect("warm_up");
    let next = message(chat, 6);
    let event = webchat_domain::Event::MessageCreated {
        chat_id: chat,
        message: next.clone(),
        pts: 6,
    };
    let announced = webchat_ports::Announcer::created(&announcer, &next, &event).await;
    announced.cached.expect("announce: cache half");
    announced.published.expect("announce: publish half");
    assert_eq!(
        cache.recent(chat, 1).await.expect("recent"),
        Some(vec![next]),
        "a push made while the watermark stood above the message's version (the delete's 7 > 6) is checked and kept: no tombstone"
    );
    cache.get_cached(all[0].id).await.expect("get_cached");
    cache.pinned(chat).await.expect("pinned");
    cache.stats().await.expect("stats");
    cache.invalidate_chat(chat).await.expect("invalidate_chat");

    // The undo path: a write-through that finds its message tombstoned.
    let other = ChatId::new();
    let m = history(other, 3);
    cache.delete_cached(other, m[0].id, 10).await.unwrap();
    cache.warm_up(other, &m[1..], 10).await.unwrap();
    cache
        .cache_message(&m[0])
        .await
        .expect("cache_message undone");
    assert_eq!(
        cache.recent(other, 10).await.unwrap(),
        Some(m[1..].to_vec())
    );
}

#[tokio::test]
async fn write_throughs_keep_redis_at_a_few_keys_per_chat() {
    let Some(url) = common::redis_or_skip().await else {
        return;
    };
    let backend = common::backend(&url);
    let prefix = backend.key_prefix().to_owned();
    let cache = RedisMessageCache::new(backend, HOUR);
    const CHATS: usize = 20;
    const PER_CHAT: i64 = 100;
    let chats: Vec<ChatId> = (0..CHATS).map(|_| ChatId::new()).collect();
    for chat in &chats {
        cache.warm_up(*chat, &[], 0).await.unwrap();
    }
    for seq in 1..=PER_CHAT {
        for chat in &chats {
            let mut m = message(*chat, seq);
            m.content = format!("message {seq}: {}", "x".repeat(80));
            cache.cache_message(&m).await.unwrap();
        }
    }

    let keys = common::keys_under(&url, &prefix).await;
    let mut conn = raw(&url).await;
    let mut bytes = 0u64;
    for key in &keys {
        let used: Option<u64> = redis::cmd("MEMORY")
            .arg("USAGE")
            .arg(key)
            .query_async(&mut conn)
            .await
            .unwrap();
        bytes += used.unwrap_or(0);
    }
    println!(
        "{} cache_message calls into {CHATS} chats: {} keys, {bytes} bytes ({} per chat)",
        CHATS as i64 * PER_CHAT,
        keys.len(),
        bytes / CHATS as u64
    );
    assert_eq!(
        keys.len(),
        2 * CHATS,
        "a window and a watermark per chat, no key per message: {keys:?}"
    );
    for chat in &chats {
        assert_eq!(
            cache.recent(*chat, 100).await.unwrap().map(|w| w.len()),
            Some(RECENT_WINDOW),
            "every window stayed whole and capped"
        );
    }
    common::wipe(&url, &prefix).await;
}

#[tokio::test]
async fn pipelined_scripts_are_reloaded_when_redis_lost_its_script_cache() {
    let Some(_) = common::redis_or_skip().await else {
        return;
    };
    let Some(server) = common::OwnRedis::new() else {
        return;
    };
    let cache = RedisMessageCache::new(common::backend(&server.url()), HOUR);
    let conn = raw(&server.url()).await;
    let flush = || {
        let mut conn = conn.clone();
        async move {
            redis::cmd("SCRIPT")
                .arg("FLUSH")
                .query_async::<()>(&mut conn)
                .await
                .unwrap();
        }
    };
    let chat = ChatId::new();
    let all = history(chat, 3);

    flush().await;
    cache
        .cache_read(&all)
        .await
        .expect("cache_read after SCRIPT FLUSH");
    flush().await;
    let newer = edited(&all[0], 4);
    cache
        .update_cached(&newer)
        .await
        .expect("update_cached after SCRIPT FLUSH");
    assert_eq!(cache.get_cached(newer.id).await.unwrap(), Some(newer));
    flush().await;
    cache
        .delete_cached(chat, all[1].id, 5)
        .await
        .expect("delete_cached after SCRIPT FLUSH");
    assert_eq!(cache.get_cached(all[1].id).await.unwrap(), None);
    flush().await;
    cache
        .invalidate_chat(chat)
        .await
        .expect("invalidate_chat after SCRIPT FLUSH");
    assert_eq!(cache.get_cached(all[2].id).await.unwrap(), None);
    assert_eq!(cache.stats().await.unwrap(), CacheStats::default());
}
