//! PresenceStore over Redis.
//!
//! Keys (under the prefix): `user:presence:{userId}` string, the JSON UserPresence,
//! living `online_ttl` while online (refreshed by `touch`) and `offline_ttl` once
//! offline; `users:online` set of user ids, mirrored by the zset `users:online:by_id`
//! (scores 0, so ordered by id, for paging); `user:sockets:{userId}` set of socket ids
//! (`{instanceId}:{connId}`) refreshed with the record; `instance:{instanceId}`
//! string (the heartbeat time) living `instance_ttl`, whose absence marks the
//! instance dead so the cleanup job drops its sockets. Every write that reads a
//! status and changes it is one Lua script, so instances racing on the same user
//! cannot leave them online with no socket or offline with one.

use std::sync::LazyLock;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use redis::Script;
use webchat_domain::{InstanceId, PresenceStatus, SocketId, UserId, UserPresence};
use webchat_ports::{OnlinePage, PortResult, PresenceChange, PresenceConfig, PresenceStore};

use crate::backend::{corrupt, millis, unavailable, RedisBackend};
use crate::connection::SharedHandle;
use crate::scan::unlink_keys;

static SET_ONLINE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/presence_set_online.lua")));
static SET_OFFLINE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/presence_set_offline.lua")));
static SET_STATUS: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/presence_set_status.lua")));
static TOUCH: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/presence_touch.lua")));
static CLEANUP: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/presence_cleanup.lua")));
static PAGE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/presence_page.lua")));

/// Users handled per cleanup script call: bounds how long one call blocks Redis.
const CLEANUP_PAGE: usize = 200;

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
            .key(keys.online())
            .key(keys.online_by_id())
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

    /// The `users:online` members, on the caller's connection (it goes on to use it).
    async fn online_members(&self, conn: &mut SharedHandle) -> PortResult<Vec<String>> {
        redis::cmd("SMEMBERS")
            .arg(self.backend.keys().online())
            .query_async(conn)
            .await
            .map_err(|e| unavailable("SMEMBERS", e))
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

    #[tracing::instrument(skip(self))]
    async fn online_page(&self, after: Option<UserId>, limit: usize) -> PortResult<OnlinePage> {
        if limit == 0 {
            return Ok(OnlinePage::default());
        }
        let keys = self.backend.keys();
        let mut conn = self.backend.conn().await?;
        // Members whose record expired are skipped, left for the cleanup job to announce.
        let (total, records): (u64, Vec<String>) = PAGE
            .key(keys.online())
            .key(keys.online_by_id())
            .arg(keys.prefix())
            .arg(after.map(|u| u.to_string()).unwrap_or_default())
            .arg(limit)
            .invoke_async::<Vec<redis::Value>>(&mut conn)
            .await
            .map_err(|e| unavailable("online_page", e))
            .and_then(split_page)?;
        Ok(OnlinePage {
            users: records
                .iter()
                .map(|json| decode(json))
                .collect::<PortResult<_>>()?,
            total,
        })
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

    #[tracing::instrument(skip(self))]
    async fn heartbeat_instance(&self, instance: &InstanceId) -> PortResult<()> {
        let mut conn = self.backend.conn().await?;
        redis::cmd("SET")
            .arg(self.backend.keys().instance(instance))
            .arg(rfc3339(Utc::now()))
            .arg("PX")
            .arg(millis(self.config.instance_ttl))
            .query_async::<()>(&mut conn)
            .await
            .map_err(|e| unavailable("SET instance", e))
    }

    #[tracing::instrument(skip(self))]
    async fn cleanup_stale(&self) -> PortResult<Vec<UserPresence>> {
        let keys = self.backend.keys();
        let mut conn = self.backend.conn().await?;
        let users = self.online_members(&mut conn).await?;
        let ttl = millis(self.config.offline_ttl).to_string();
        let mut gone = Vec::new();
        for page in users.chunks(CLEANUP_PAGE) {
            let now = rfc3339(Utc::now());
            let mut invocation = CLEANUP.prepare_invoke();
            invocation
                .key(keys.online())
                .key(keys.online_by_id())
                .arg(keys.prefix())
                .arg(&ttl)
                .arg(&now);
            for user in page {
                invocation.arg(user);
            }
            let records: Vec<String> = invocation
                .invoke_async(&mut conn)
                .await
                .map_err(|e| unavailable("cleanup_stale", e))?;
            for json in records {
                gone.push(decode(&json)?);
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
                "users:online",
                "users:online:by_id",
                "instance:*",
            ],
        )
        .await
    }
}
