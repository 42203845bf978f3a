//! Typed configuration from the environment (docs/protocol.md, "Configuration").

use std::time::Duration;

use anyhow::{bail, Context};
use webchat_domain::{InstanceId, RateLimitPolicy};
use webchat_redis::RedisConfig;

/// Everything the server reads from its environment.
#[derive(Debug, Clone)]
pub struct Config {
    pub host: String,
    pub port: u16,
    /// From `REDIS_URL`, or `REDIS_HOST`/`PORT`/`PASSWORD`/`DB`, with the key prefix.
    pub redis: Option<RedisConfig>,
    pub database_url: Option<String>,
    pub jwt_secret: Option<String>,
    pub throttle_default: RateLimitPolicy,
    pub throttle_strict: RateLimitPolicy,
    /// `WEBCHAT_INSTANCE_ID`, or random: names this process in socket ids.
    pub instance_id: InstanceId,
    /// How often the presence cleanup job runs (`WEBCHAT_PRESENCE_CLEANUP_SECS`).
    pub cleanup_interval: Duration,
    /// `WEBCHAT_TRUST_PROXY=1`: take client IPs from `X-Forwarded-For` (set it only
    /// behind a reverse proxy that overwrites that header).
    pub trust_proxy: bool,
    /// `WEBCHAT_METRICS`: serve `/metrics` (on unless `0`, `false` or `no`).
    pub metrics: bool,
    /// `WEBCHAT_SOCKETIO`: serve Socket.IO at `/socket.io/` (on unless `0`, `false`
    /// or `no`).
    pub socketio: bool,
    /// `WEBCHAT_LOG_FORMAT`: `text` (the default) or `json` (one object per line).
    pub log_format: LogFormat,
    /// `WEBCHAT_MAX_SOCKETS_PER_USER`: open WebSockets one user may hold across every
    /// instance (default 20); the next upgrade is answered 429.
    pub max_sockets_per_user: usize,
    /// `WEBCHAT_MAX_CHAT_MEMBERS`: members one chat may have (default 1000); creating
    /// a chat with more, or adding one past it, is answered 409 `chat_full`.
    pub max_chat_members: usize,
}

/// The shortest `WEBCHAT_JWT_SECRET` accepted, in bytes: HS256 keys shorter than its
/// 256-bit hash can be brute-forced offline from any token.
pub const MIN_JWT_SECRET_BYTES: usize = 32;

/// Open WebSockets per user unless `WEBCHAT_MAX_SOCKETS_PER_USER` says otherwise.
pub const DEFAULT_MAX_SOCKETS_PER_USER: usize = 20;

/// Members a chat may have unless `WEBCHAT_MAX_CHAT_MEMBERS` says otherwise.
pub const DEFAULT_MAX_CHAT_MEMBERS: usize = 1000;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, with the current span's fields (request ids).
    Json,
}

impl LogFormat {
    /// Reads `WEBCHAT_LOG_FORMAT`'s value (unset: text).
    pub fn parse(value: Option<&str>) -> anyhow::Result<Self> {
        match value.map(str::to_ascii_lowercase).as_deref() {
            None | Some("text") => Ok(Self::Text),
            Some("json") => Ok(Self::Json),
            Some(other) => bail!("WEBCHAT_LOG_FORMAT: expected text or json, got {other:?}"),
        }
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    }

    /// Reads configuration through `get` (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let port = match get("PORT") {
            Some(p) => p
                .parse()
                .with_context(|| format!("PORT: not a port: {p:?}"))?,
            None => 4000,
        };
        let redis = RedisConfig::from_env_map(&get)?;
        let database_url = get("DATABASE_URL");
        if let Some(url) = &database_url {
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                bail!("DATABASE_URL: expected postgres://user@host:port/db");
            }
        }
        let policy = |var: &str, name: &str, default: RateLimitPolicy| -> anyhow::Result<_> {
            match get(var) {
                Some(spec) => {
                    RateLimitPolicy::parse_spec(name, &spec).with_context(|| var.to_owned())
                }
                None => Ok(default),
            }
        };
        let instance_id = match get("WEBCHAT_INSTANCE_ID") {
            Some(id) => InstanceId::parse(&id).context("WEBCHAT_INSTANCE_ID")?,
            None => InstanceId::random(),
        };
        let cleanup_secs: u64 = match get("WEBCHAT_PRESENCE_CLEANUP_SECS") {
            Some(s) => s.parse().context("WEBCHAT_PRESENCE_CLEANUP_SECS")?,
            None => 30,
        };
        // A dead instance's users go offline within two intervals: longer ones
        // would leave them online for minutes.
        if !(1..=60).contains(&cleanup_secs) {
            bail!("WEBCHAT_PRESENCE_CLEANUP_SECS: must be 1 to 60 (a dead instance's users go offline within two intervals)");
        }
        let max_sockets_per_user = match get("WEBCHAT_MAX_SOCKETS_PER_USER") {
            Some(n) => n.parse().ok().filter(|n| *n >= 1).with_context(|| {
                format!("WEBCHAT_MAX_SOCKETS_PER_USER: expected a number >= 1, got {n:?}")
            })?,
            None => DEFAULT_MAX_SOCKETS_PER_USER,
        };
        let jwt_secret = get("WEBCHAT_JWT_SECRET");
        if let Some(secret) = &jwt_secret {
            // The length only: the secret itself never goes into an error or a log.
            if secret.len() < MIN_JWT_SECRET_BYTES {
                bail!(
                    "WEBCHAT_JWT_SECRET: must be at least {MIN_JWT_SECRET_BYTES} bytes, got {} \
                     (generate one with `openssl rand -hex 32`)",
                    secret.len()
                );
            }
        }
        let max_chat_members = match get("WEBCHAT_MAX_CHAT_MEMBERS") {
            Some(n) => n.parse().ok().filter(|n| *n >= 1).with_context(|| {
                format!("WEBCHAT_MAX_CHAT_MEMBERS: expected a number >= 1, got {n:?}")
            })?,
            None => DEFAULT_MAX_CHAT_MEMBERS,
        };
        Ok(Self {
            host: get("HOST").unwrap_or_else(|| "127.0.0.1".into()),
            port,
            redis,
            database_url,
            jwt_secret,
            throttle_default: policy(
                "WEBCHAT_THROTTLE_DEFAULT",
                "default",
                RateLimitPolicy::default_policy(),
            )?,
            throttle_strict: policy(
                "WEBCHAT_THROTTLE_STRICT",
                "strict",
                RateLimitPolicy::strict_policy(),
            )?,
            instance_id,
            cleanup_interval: Duration::from_secs(cleanup_secs),
            trust_proxy: matches!(
                get("WEBCHAT_TRUST_PROXY").as_deref(),
                Some("1" | "true" | "yes")
            ),
            metrics: switch("WEBCHAT_METRICS", get("WEBCHAT_METRICS").as_deref())?,
            socketio: switch("WEBCHAT_SOCKETIO", get("WEBCHAT_SOCKETIO").as_deref())?,
            log_format: LogFormat::parse(get("WEBCHAT_LOG_FORMAT").as_deref())?,
            max_sockets_per_user,
            max_chat_members,
        })
    }

    /// Defaults for tests and embedded use: memory backends, port 0.
    pub fn for_tests() -> Self {
        let mut config = Self::from_lookup(|_| None).expect("defaults are valid");
        config.port = 0;
        config
    }
}

/// A feature switch that is on unless set to `0`, `false` or `no`.
fn switch(name: &str, value: Option<&str>) -> anyhow::Result<bool> {
    match value {
        None | Some("1" | "true" | "yes") => Ok(true),
        Some("0" | "false" | "no") => Ok(false),
        Some(other) => bail!("{name}: expected 1 or 0, got {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn with(vars: &[(&str, &str)]) -> anyhow::Result<Config> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_match_the_contract() {
        let c = with(&[]).unwrap();
        assert_eq!((c.host.as_str(), c.port), ("127.0.0.1", 4000));
        assert!(c.redis.is_none() && c.database_url.is_none());
        assert_eq!(
            (c.throttle_default.limit, c.throttle_strict.limit),
            (100, 10)
        );
        assert!(c.metrics, "metrics are on by default");
        assert_eq!(c.log_format, LogFormat::Text);
        assert_eq!(c.max_sockets_per_user, 20);
        assert_eq!(c.max_chat_members, 1000);
    }

    #[test]
    fn metrics_can_be_turned_off_and_logs_written_as_json() {
        assert!(!with(&[("WEBCHAT_METRICS", "0")]).unwrap().metrics);
        assert!(with(&[]).unwrap().socketio, "Socket.IO is on by default");
        assert!(!with(&[("WEBCHAT_SOCKETIO", "0")]).unwrap().socketio);
        assert!(with(&[("WEBCHAT_SOCKETIO", "maybe")]).is_err());
        assert!(with(&[("WEBCHAT_METRICS", "1")]).unwrap().metrics);
        let c = with(&[("WEBCHAT_LOG_FORMAT", "json")]).unwrap();
        assert_eq!(c.log_format, LogFormat::Json);
    }

    #[test]
    fn redis_is_configured_by_url_or_host_with_the_prefix() {
        let c = with(&[("REDIS_HOST", "cache"), ("WEBCHAT_KEY_PREFIX", "x:")]).unwrap();
        assert_eq!(c.redis.expect("redis configured").key_prefix, "x:");
        assert!(with(&[("REDIS_URL", "redis://127.0.0.1:1/0")])
            .unwrap()
            .redis
            .is_some());
    }

    #[test]
    fn redis_cluster_and_sentinel_are_named_modes() {
        use webchat_redis::RedisMode;
        let c = with(&[
            ("REDIS_CLUSTER_NODES", "redis://a:7000,redis://b:7001"),
            ("REDIS_URL", "redis://ignored:6379"),
        ])
        .unwrap();
        assert_eq!(
            c.redis.expect("redis configured").mode(),
            RedisMode::Cluster
        );
        let c = with(&[
            ("REDIS_SENTINELS", "s1:26379,s2:26379,s3:26379"),
            ("REDIS_SENTINEL_MASTER", "mymaster"),
        ])
        .unwrap();
        assert_eq!(
            c.redis.expect("redis configured").mode(),
            RedisMode::Sentinel
        );
    }

    #[test]
    fn malformed_values_name_their_variable() {
        for (var, value) in [
            ("PORT", "x"),
            ("REDIS_URL", "http://x"),
            ("REDIS_CLUSTER_NODES", "redis://a:1/3"),
            ("REDIS_SENTINELS", "s1:26379"),
            ("DATABASE_URL", "mysql://x"),
            ("WEBCHAT_THROTTLE_STRICT", "ten"),
            ("WEBCHAT_PRESENCE_CLEANUP_SECS", "120"),
            ("WEBCHAT_METRICS", "maybe"),
            ("WEBCHAT_LOG_FORMAT", "xml"),
            ("WEBCHAT_MAX_SOCKETS_PER_USER", "0"),
            ("WEBCHAT_MAX_SOCKETS_PER_USER", "many"),
            ("WEBCHAT_JWT_SECRET", "too-short-a-secret"),
            ("WEBCHAT_JWT_SECRET", "0123456789abcdef0123456789abcde"),
            ("WEBCHAT_MAX_CHAT_MEMBERS", "0"),
            ("WEBCHAT_MAX_CHAT_MEMBERS", "-5"),
        ] {
            let err = format!("{:#}", with(&[(var, value)]).unwrap_err());
            assert!(err.contains(var), "{var}: {err}");
        }
        let err = format!(
            "{:#}",
            with(&[("WEBCHAT_JWT_SECRET", "hunter2-hunter2")]).unwrap_err()
        );
        assert!(
            !err.contains("hunter2"),
            "the secret is never echoed: {err}"
        );
        let secret = "0123456789abcdef0123456789abcdef";
        let c = with(&[("WEBCHAT_JWT_SECRET", secret)]).unwrap();
        assert_eq!(c.jwt_secret.as_deref(), Some(secret), "32 bytes are enough");
        assert_eq!(
            with(&[("WEBCHAT_MAX_CHAT_MEMBERS", "3")])
                .unwrap()
                .max_chat_members,
            3
        );
        let c = with(&[("WEBCHAT_THROTTLE_STRICT", "3/10")]).unwrap();
        assert_eq!(
            (c.throttle_strict.limit, c.throttle_strict.window),
            (3, Duration::from_secs(10))
        );
    }
}
