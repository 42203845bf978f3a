//! PresenceStore over Redis.
//!
//! Keys (under the prefix; braces are literal hash tags): `user:presence:{<userId>}`
//! string, the JSON UserPresence, living `online_ttl` while online (refreshed by
//! `touch`) and `offline_ttl` once offline; `user:sockets:{<userId>}` set of socket
//! ids (`{instanceId}:{connId}`) refreshed with the record; `users:online:{<tag>}`
//! sets of online user ids, one per hash slot, `<tag>` the slot's canonical tag, so
//! a user's online set shares the slot of the user's keys, each mirrored by the zset
//! `users:online:by_id:{<tag>}` (scores 0, so ordered by id, for paging);
//! `instance:{<instanceId>}`
//! string (the heartbeat time) living `instance_ttl`, whose absence marks the
//! instance dead so the cleanup job drops its sockets; `instances` zset of every
//! instance that heart-beat (score: its last heartbeat, unix ms), which the cleanup
//! job reads to learn which ones stopped.
//!
//! Every write that reads a status and changes it is one Lua script over the
//! user's four keys (one slot, also in Redis Cluster), so instances racing on the
//! same user cannot leave them online with no socket or offline with one. Readers
//! of "everyone online" sweep every slot with one read-only script per node, over
//! the slots it serves: `cleanup_stale` reads the online sets, `online_page` walks
//! the by-id zsets from the cursor, merging the slots (and then the nodes) by id.

use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use redis::aio::ConnectionLike;
use redis::Script;
use webchat_domain::{InstanceId, PresenceStatus, SocketId, UserId, UserPresence};
use webchat_ports::{OnlinePage, PortResult, PresenceChange, PresenceConfig, PresenceStore};

use crate::backend::{corrupt, millis, slot_script, unavailable, RedisBackend};
use crate::cluster::Node;
use crate::pipeline::send_unordered;
use crate::scan::unlink_keys;
use crate::slots;

static SET_ONLINE: LazyLock<Script> =
    LazyLock::new(|| slot_script(include_str!("lua/presence_set_online.lua")));
static SET_OFFLINE: LazyLock<Script> =
    LazyLock::new(|| slot_script(include_str!("lua/presence_set_offline.lua")));
static SET_STATUS: LazyLock<Script> =
    LazyLock::new(|| slot_script(include_str!("lua/presence_set_status.lua")));
static TOUCH: LazyLock<Script> =
    LazyLock::new(|| slot_script(include_str!("lua/presence_touch.lua")));
static CLEANUP: LazyLock<Script> =
    LazyLock::new(|| slot_script(include_str!("lua/presence_cleanup.lua")));
static PAGE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "#!lua flags=no-writes,allow-cross-slot-keys\n{}",
        include_str!("lua/presence_page.lua")
    ))
});
static SWEEP: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "#!lua flags=no-writes,allow-cross-slot-keys\n{}",
        include_str!("lua/presence_sweep.lua")
    ))
});

/// Users handled per cleanup script call: bounds how long one call blocks Redis.
const CLEANUP_PAGE: usize = 200;
/// Commands per round trip when reading online sets one by one (and scripts per
/// round trip of the cleanup).
const SWEEP_CHUNK: usize = 1024;
/// An instance silent this long leaves the registry (its sockets are long gone).
const REGISTRY_FORGETS_AFTER: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone)]
pub struct RedisPresenceStore {
    backend: RedisBackend,
    config: PresenceConfig,
}

impl RedisPresenceStore {
    pub fn new(backend: RedisBackend, config: PresenceConfig) -> Self {
        Self { backend, config }
    }

    fn record(user: UserId, status: PresenceStatus, socket: Option<&SocketId>) -> UserPresence {
        UserPresence {
            user_id: user,
            status,
            last_seen: Utc::now(),
            socket_id: socket.cloned(),
        }
    }

    /// Runs one of the per-user scripts with its four keys.
    async fn run<T: redis::FromRedisValue>(
        &self,
        op: &str,
        script: &Script,
        user: UserId,
        args: &[&str],
    ) -> PortResult<T> {
        let keys = self.backend.keys();
        let mut invocation = script.prepare_invoke();
        invocation
            .key(keys.presence(user))
            .key(keys.sockets(user))
            .key(keys.online(user))
            .key(keys.online_by_id(user))
            .arg(user.to_string());
        for arg in args {
            invocation.arg(*arg);
        }
        let mut conn = self.backend.conn().await?;
        invocation
            .invoke_async(&mut conn)
            .await
            .map_err(|e| unavailable(op, e))
    }

    /// The slot tags each node serves: one group per master in Cluster mode, one
    /// group of every slot for a single server.
    async fn slot_groups(&self) -> PortResult<Vec<(Option<Node>, Vec<&'static str>)>> {
        let conn = self.backend.conn().await?;
        Ok(match conn.cluster() {
            None => vec![(None, self.backend.keys().online_tags())],
            Some(cluster) => crate::cluster::masters(&mut cluster.clone())
                .await
                .map_err(|e| unavailable("CLUSTER SLOTS", e))?
                .into_iter()
                .map(|(node, ranges)| {
                    let tags = ranges
                        .into_iter()
                        .flat_map(|(start, end)| start..=end)
                        .map(slots::tag_of_slot)
                        .collect();
                    (Some(node), tags)
                })
                .collect(),
        })
    }

    /// Runs `script` (a read-only script over the slots of one node, its arguments
    /// after the script in `args`, ending with the node's tags) on `node`, or on the
    /// single server; loads the script when Redis lost it.
    async fn on_node(
        &self,
        node: Option<&Node>,
        script: &Script,
        args: &[&str],
        tags: &[&str],
    ) -> PortResult<redis::RedisResult<redis::Value>> {
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(script.get_hash()).arg(0).arg(args).arg(tags);
        let conn = self.backend.conn().await?;
        let loader = conn.clone();
        let mut conn = conn.clone();
        let mut send = async |cmd: &redis::Cmd| match (node, conn.cluster()) {
            (Some(node), Some(cluster)) => cluster
                .clone()
                .route_command(cmd.clone(), node.routing())
                .await?
                .extract_error(),
            _ => conn.req_packed_command(cmd).await?.extract_error(),
        };
        Ok(match send(&cmd).await {
            Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
                match script.load_async(&mut loader.clone()).await {
                    Ok(_) => send(&cmd).await,
                    Err(e) => Err(e),
                }
            }
            other => other,
        })
    }

    /// Every non-empty online set, by slot tag, with its members:
    /// `presence_sweep.lua` once per node over the slots it serves (a single
    /// server: once). A node whose slots are moving refuses the script (a key is
    /// not local any more); its sets are then read one `SMEMBERS` each.
    async fn online_members(&self) -> PortResult<Vec<(String, Vec<String>)>> {
        let keys = self.backend.keys();
        let (before, after) = keys.online_set_parts();
        let mut found = Vec::new();
        for (node, tags) in self.slot_groups().await? {
            let swept = self
                .on_node(node.as_ref(), &SWEEP, &[&before, after], &tags)
                .await?
                .and_then(|reply| {
                    Ok(redis::from_redis_value::<Vec<(String, Vec<String>)>>(
                        reply,
                    )?)
                });
            match swept {
                Ok(sets) => found.extend(sets),
                Err(e) if node.is_some() && e.kind() != redis::ErrorKind::Io => {
                    tracing::debug!(error = %e, "online sweep refused by a node; reading its sets one by one");
                    found.extend(self.online_members_one_by_one(&tags).await?);
                }
                Err(e) => return Err(unavailable("presence sweep", e)),
            }
        }
        Ok(found)
    }

    /// One page of online users among the slots of one node, with the node's
    /// total, one `SCARD` / `ZRANGE` / `GET` at a time (the fallback of
    /// `presence_page.lua` for a node whose slots are moving). Per slot, reads on
    /// from the cursor until `limit` live records or the end of its by-id zset.
    async fn page_one_by_one(
        &self,
        tags: &[&str],
        after: &str,
        limit: usize,
    ) -> PortResult<(u64, Vec<UserPresence>)> {
        let keys = self.backend.keys();
        let conn = self.backend.conn().await?;
        let mut total = 0;
        let mut busy: Vec<(&str, String)> = Vec::new();
        for chunk in tags.chunks(SWEEP_CHUNK) {
            let mut pipe = redis::pipe();
            for tag in chunk {
                pipe.cmd("SCARD").arg(keys.online_set(tag));
            }
            let counts: Vec<u64> = pipe
                .query_async(&mut conn.unordered())
                .await
                .map_err(|e| unavailable("SCARD online", e))?;
            for (tag, n) in chunk.iter().zip(counts) {
                if n > 0 {
                    total += n;
                    let from = if after.is_empty() {
                        "-".to_owned()
                    } else {
                        format!("({after}")
                    };
                    busy.push((tag, from));
                }
            }
        }
        let mut page = Vec::new();
        let mut found = vec![0usize; busy.len()];
        let mut open: Vec<usize> = (0..busy.len()).collect();
        while !open.is_empty() {
            let mut pipe = redis::pipe();
            for &i in &open {
                pipe.cmd("ZRANGE")
                    .arg(keys.online_by_id_set(busy[i].0))
                    .arg(&busy[i].1)
                    .arg("+")
                    .arg("BYLEX")
                    .arg("LIMIT")
                    .arg(0)
                    .arg(limit);
            }
            let batches: Vec<Vec<String>> = pipe
                .query_async(&mut conn.unordered())
                .await
                .map_err(|e| unavailable("ZRANGE online", e))?;
            let mut next = Vec::new();
            for (&i, ids) in open.iter().zip(batches) {
                if ids.is_empty() {
                    continue;
                }
                let mut pipe = redis::pipe();
                for id in &ids {
                    pipe.cmd("GET").arg(keys.presence_of(id));
                }
                let records: Vec<Option<String>> = pipe
                    .query_async(&mut conn.unordered())
                    .await
                    .map_err(|e| unavailable("GET presence", e))?;
                for json in records.into_iter().flatten() {
                    let presence = decode(&json)?;
                    if presence.status != PresenceStatus::Offline && found[i] < limit {
                        found[i] += 1;
                        page.push(presence);
                    }
                }
                if found[i] < limit && ids.len() == limit {
                    busy[i].1 = format!("({}", ids[ids.len() - 1]);
                    next.push(i);
                }
            }
            open = next;
        }
        page.sort_by_key(|p| p.user_id);
        page.truncate(limit);
        Ok((total, page))
    }

    /// The non-empty online sets among `tags`' slots, by tag, one `SMEMBERS` each.
    async fn online_members_one_by_one(
        &self,
        tags: &[&str],
    ) -> PortResult<Vec<(String, Vec<String>)>> {
        let keys = self.backend.keys();
        let conn = self.backend.conn().await?;
        let mut found = Vec::new();
        for chunk in tags.chunks(SWEEP_CHUNK) {
            let sets: Vec<String> = chunk.iter().map(|tag| keys.online_set(tag)).collect();
            let mut pipe = redis::pipe();
            for set in &sets {
                pipe.cmd("SMEMBERS").arg(set);
            }
            let members: Vec<Vec<String>> = pipe
                .query_async(&mut conn.unordered())
                .await
                .map_err(|e| unavailable("SMEMBERS online", e))?;
            found.extend(
                chunk
                    .iter()
                    .map(|tag| (*tag).to_owned())
                    .zip(members)
                    .filter(|(_, users)| !users.is_empty()),
            );
        }
        Ok(found)
    }

    /// The instances of the registry whose heartbeat key is there; forgets those
    /// silent for a day.
    async fn live_instances(&self) -> PortResult<Vec<String>> {
        let keys = self.backend.keys();
        let mut conn = self.backend.conn().await?;
        let forget_before = Utc::now().timestamp_millis()
            - i64::try_from(REGISTRY_FORGETS_AFTER.as_millis()).unwrap_or(i64::MAX);
        let known: Vec<String> = redis::cmd("ZRANGE")
            .arg(keys.instances())
            .arg(0)
            .arg(-1)
            .query_async(&mut conn)
            .await
            .map_err(|e| unavailable("ZRANGE instances", e))?;
        if known.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for instance in &known {
            pipe.cmd("EXISTS").arg(keys.instance_of(instance));
        }
        let alive: Vec<bool> = pipe
            .query_async(&mut conn.unordered())
            .await
            .map_err(|e| unavailable("EXISTS instance", e))?;
        redis::cmd("ZREMRANGEBYSCORE")
            .arg(keys.instances())
            .arg("-inf")
            .arg(forget_before)
            .query_async::<u64>(&mut conn)
            .await
            .map_err(|e| unavailable("ZREMRANGEBYSCORE instances", e))?;
        Ok(known
            .into_iter()
            .zip(alive)
            .filter(|(_, alive)| *alive)
            .map(|(instance, _)| instance)
            .collect())
    }
}

fn encode(presence: &UserPresence) -> PortResult<String> {
    serde_json::to_string(presence).map_err(|e| corrupt("presence", e))
}

fn decode(json: &str) -> PortResult<UserPresence> {
    serde_json::from_str(json).map_err(|e| corrupt("presence", e))
}

/// The page script's answer: the total, then the records.
fn split_page(reply: Vec<redis::Value>) -> PortResult<(u64, Vec<String>)> {
    let mut items = reply.into_iter();
    let total = items
        .next()
        .ok_or_else(|| corrupt("online page", "empty reply"))
        .and_then(|v| redis::from_redis_value(v).map_err(|e| corrupt("online page", e)))?;
    let records = items
        .map(|v| redis::from_redis_value(v).map_err(|e| corrupt("online page", e)))
        .collect::<PortResult<_>>()?;
    Ok((total, records))
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

#[async_trait]
impl PresenceStore for RedisPresenceStore {
    #[tracing::instrument(skip(self))]
    async fn set_online(&self, user: UserId, socket: &SocketId) -> PortResult<PresenceChange> {
        let presence = Self::record(user, PresenceStatus::Online, Some(socket));
        let ttl = millis(self.config.online_ttl).to_string();
        let json = encode(&presence)?;
        let changed: i64 = self
            .run(
                "set_online",
                &SET_ONLINE,
                user,
                &[socket.as_str(), &json, &ttl],
            )
            .await?;
        Ok(PresenceChange {
            presence,
            changed: changed == 1,
        })
    }

    #[tracing::instrument(skip(self))]
    async fn set_offline(&self, user: UserId, socket: &SocketId) -> PortResult<PresenceChange> {
        let offline = encode(&Self::record(user, PresenceStatus::Offline, Some(socket)))?;
        let ttl = millis(self.config.offline_ttl).to_string();
        let (changed, record): (i64, Option<String>) = self
            .run(
                "set_offline",
                &SET_OFFLINE,
                user,
                &[socket.as_str(), &offline, &ttl],
            )
            .await?;
        let presence = match record {
            Some(json) => decode(&json)?,
            None => UserPresence::unknown(user, Utc::now()),
        };
        Ok(PresenceChange {
            presence,
            changed: changed == 1,
        })
    }

    #[tracing::instrument(skip(self))]
    async fn set_status(
        &self,
        user: UserId,
        status: PresenceStatus,
    ) -> PortResult<Option<PresenceChange>> {
        let ttl = millis(self.config.online_ttl).to_string();
        let now = rfc3339(Utc::now());
        let outcome: Option<(i64, String)> = self
            .run(
                "set_status",
                &SET_STATUS,
                user,
                &[status.as_str(), &now, &ttl],
            )
            .await?;
        outcome
            .map(|(changed, json)| {
                Ok(PresenceChange {
                    presence: decode(&json)?,
                    changed: changed == 1,
                })
            })
            .transpose()
    }

    #[tracing::instrument(skip(self))]
    async fn socket_count(&self, user: UserId) -> PortResult<u64> {
        let mut conn = self.backend.conn().await?;
        redis::cmd("SCARD")
            .arg(self.backend.keys().sockets(user))
            .query_async(&mut conn)
            .await
            .map_err(|e| unavailable("SCARD sockets", e))
    }

    #[tracing::instrument(skip(self))]
    async fn get_presence(&self, user: UserId) -> PortResult<Option<UserPresence>> {
        let mut conn = self.backend.conn().await?;
        let json: Option<String> = redis::cmd("GET")
            .arg(self.backend.keys().presence(user))
            .query_async(&mut conn)
            .await
            .map_err(|e| unavailable("GET presence", e))?;
        json.as_deref().map(decode).transpose()
    }

    /// `presence_page.lua` once per node over the slots it serves (a single
    /// server: once), each answering its smallest `limit` ids after the cursor; the
    /// pages are merged by id. A node whose slots are moving refuses the script; its
    /// slots are then read one by one.
    #[tracing::instrument(skip(self))]
    async fn online_page(&self, after: Option<UserId>, limit: usize) -> PortResult<OnlinePage> {
        if limit == 0 {
            return Ok(OnlinePage::default());
        }
        let keys = self.backend.keys();
        let (online_before, online_after) = keys.online_set_parts();
        let (by_id_before, by_id_after) = keys.online_by_id_parts();
        let (presence_before, presence_after) = keys.presence_parts();
        let after = after.map(|u| u.to_string()).unwrap_or_default();
        let limit_arg = limit.to_string();
        let args = [
            online_before.as_str(),
            online_after,
            &by_id_before,
            by_id_after,
            &presence_before,
            presence_after,
            &after,
            &limit_arg,
        ];
        let mut page = OnlinePage::default();
        // Members whose record expired are skipped, left for the cleanup job to announce.
        for (node, tags) in self.slot_groups().await? {
            let answer = self
                .on_node(node.as_ref(), &PAGE, &args, &tags)
                .await?
                .and_then(|reply| Ok(redis::from_redis_value::<Vec<redis::Value>>(reply)?));
            let (total, users) = match answer {
                Ok(reply) => {
                    let (total, records) = split_page(reply)?;
                    let users = records
                        .iter()
                        .map(|json| decode(json))
                        .collect::<PortResult<Vec<_>>>()?;
                    (total, users)
                }
                Err(e) if node.is_some() && e.kind() != redis::ErrorKind::Io => {
                    tracing::debug!(error = %e, "online page refused by a node; reading its slots one by one");
                    self.page_one_by_one(&tags, &after, limit).await?
                }
                Err(e) => return Err(unavailable("online_page", e)),
            };
            page.total += total;
            page.users.extend(users);
        }
        page.users.sort_by_key(|p| p.user_id);
        page.users.truncate(limit);
        Ok(page)
    }

    #[tracing::instrument(skip(self))]
    async fn touch(&self, user: UserId, socket: &SocketId) -> PortResult<PresenceChange> {
        let json = encode(&Self::record(user, PresenceStatus::Online, Some(socket)))?;
        let ttl = millis(self.config.online_ttl).to_string();
        let (changed, record): (i64, String) = self
            .run("touch", &TOUCH, user, &[socket.as_str(), &json, &ttl])
            .await?;
        Ok(PresenceChange {
            presence: decode(&record)?,
            changed: changed == 1,
        })
    }

    /// The heartbeat key, then the registry entry (two slots: in Cluster mode two
    /// commands, in this order, so a registered instance always had a heartbeat).
    #[tracing::instrument(skip(self))]
    async fn heartbeat_instance(&self, instance: &InstanceId) -> PortResult<()> {
        let keys = self.backend.keys();
        let mut conn = self.backend.conn().await?;
        redis::pipe()
            .cmd("SET")
            .arg(keys.instance(instance))
            .arg(rfc3339(Utc::now()))
            .arg("PX")
            .arg(millis(self.config.instance_ttl))
            .ignore()
            .cmd("ZADD")
            .arg(keys.instances())
            .arg(Utc::now().timestamp_millis())
            .arg(instance.as_str())
            .ignore()
            .query_async::<()>(&mut conn)
            .await
            .map_err(|e| unavailable("heartbeat", e))
    }

    /// Learns which registered instances live, sweeps the online sets, then
    /// runs the cleanup script per set (a page of its users at a time), each set's
    /// scripts on its own slot.
    #[tracing::instrument(skip(self))]
    async fn cleanup_stale(&self) -> PortResult<Vec<UserPresence>> {
        let keys = self.backend.keys();
        let live = self.live_instances().await?;
        let sets = self.online_members().await?;
        let ttl = millis(self.config.offline_ttl).to_string();
        let now = rfc3339(Utc::now());
        let mut invocations = Vec::new();
        for (tag, users) in &sets {
            for page in users.chunks(CLEANUP_PAGE) {
                let mut invocation = CLEANUP.prepare_invoke();
                invocation
                    .key(keys.online_set(tag))
                    .key(keys.online_by_id_set(tag));
                for user in page {
                    invocation
                        .key(keys.presence_of(user))
                        .key(keys.sockets_of(user));
                }
                invocation.arg(&ttl).arg(&now).arg(live.len());
                for instance in &live {
                    invocation.arg(instance);
                }
                for user in page {
                    invocation.arg(user);
                }
                invocations.push(invocation);
            }
        }
        let mut gone = Vec::new();
        for chunk in invocations.chunks(SWEEP_CHUNK) {
            let mut pipe = redis::pipe();
            for invocation in chunk {
                pipe.invoke_script(invocation);
            }
            let replies =
                send_unordered(&self.backend, "cleanup_stale", &mut pipe, &[&CLEANUP]).await?;
            for reply in replies {
                let records: Vec<String> =
                    redis::from_redis_value(reply).map_err(|e| corrupt("cleanup_stale", e))?;
                for json in records {
                    gone.push(decode(&json)?);
                }
            }
        }
        if !gone.is_empty() {
            tracing::info!(count = gone.len(), "stale presence cleaned up");
        }
        Ok(gone)
    }

    #[tracing::instrument(skip(self))]
    async fn clear_all(&self) -> PortResult<u64> {
        unlink_keys(
            &self.backend,
            &[
                "user:presence:*",
                "user:sockets:*",
                "users:online:*",
                "instance:*",
                "instances",
            ],
        )
        .await
    }
}
