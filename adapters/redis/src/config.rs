//! Where Redis is and how keys are named, read from the environment (docs/protocol.md).

use std::fmt;
use std::time::Duration;

use redis::{ConnectionInfo, IntoConnectionInfo, RedisConnectionInfo};
use thiserror::Error;

/// The prefix of every key and channel when `WEBCHAT_KEY_PREFIX` is unset.
pub const DEFAULT_KEY_PREFIX: &str = "webchat:";

/// A Redis setting that cannot be used. The message names the variable and never
/// repeats a password.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{variable}: {reason}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub reason: String,
}

impl ConfigError {
    fn new(variable: &'static str, reason: impl Into<String>) -> Self {
        Self {
            variable,
            reason: reason.into(),
        }
    }
}

/// How to reach Redis and how to name keys.
#[derive(Clone)]
pub struct RedisConfig {
    pub connection: ConnectionInfo,
    /// Prepended to every key and channel, e.g. `webchat:`.
    pub key_prefix: String,
    /// How long one connect may take; while a reconnect runs, calls wait at most
    /// this long before failing.
    pub connection_timeout: Duration,
    /// How long one command may take (above the slowest script).
    pub response_timeout: Duration,
}

impl fmt::Debug for RedisConfig {
    // Hand-written so a password never reaches a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let settings = self.connection.redis_settings();
        f.debug_struct("RedisConfig")
            .field("addr", &self.connection.addr().to_string())
            .field("db", &settings.db())
            .field("password", &settings.password().map(|_| "<redacted>"))
            .field("key_prefix", &self.key_prefix)
            .field("connection_timeout", &self.connection_timeout)
            .field("response_timeout", &self.response_timeout)
            .finish()
    }
}

impl RedisConfig {
    /// Parses a `redis://[:password@]host:port/db` URL.
    pub fn from_url(url: &str) -> Result<Self, ConfigError> {
        let connection = url
            .into_connection_info()
            .map_err(|e| ConfigError::new("REDIS_URL", format!("not a Redis URL ({e})")))?;
        Ok(Self::with_connection(connection))
    }

    /// `host:port`, no password, database 0.
    pub fn from_host(host: &str, port: u16) -> Result<Self, ConfigError> {
        let connection = (host.to_owned(), port)
            .into_connection_info()
            .map_err(|e| ConfigError::new("REDIS_HOST", e.to_string()))?;
        Ok(Self::with_connection(connection))
    }

    fn with_connection(connection: ConnectionInfo) -> Self {
        Self {
            connection,
            key_prefix: DEFAULT_KEY_PREFIX.to_owned(),
            connection_timeout: Duration::from_millis(1500),
            response_timeout: Duration::from_secs(2),
        }
    }

    pub fn with_key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// Reads REDIS_URL, or else REDIS_HOST / REDIS_PORT / REDIS_PASSWORD / REDIS_DB,
    /// and WEBCHAT_KEY_PREFIX, through `var` (so the app and tests can pass any
    /// source). `Ok(None)` when neither REDIS_URL nor REDIS_HOST is set: the app
    /// then runs on in-memory adapters.
    pub fn from_env_map(
        var: &impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, ConfigError> {
        let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let config = if let Some(url) = set("REDIS_URL") {
            Self::from_url(url.trim())?
        } else if let Some(host) = set("REDIS_HOST") {
            let port = match set("REDIS_PORT") {
                Some(p) => p.trim().parse::<u16>().map_err(|_| {
                    ConfigError::new("REDIS_PORT", format!("not a port number: {p:?}"))
                })?,
                None => 6379,
            };
            let db = match set("REDIS_DB") {
                Some(d) => d
                    .trim()
                    .parse::<i64>()
                    .ok()
                    .filter(|d| *d >= 0)
                    .ok_or_else(|| {
                        ConfigError::new("REDIS_DB", format!("not a database number: {d:?}"))
                    })?,
                None => 0,
            };
            let mut settings = RedisConnectionInfo::default().set_db(db);
            if let Some(password) = var("REDIS_PASSWORD").filter(|p| !p.is_empty()) {
                settings = settings.set_password(password);
            }
            let mut config = Self::from_host(host.trim(), port)?;
            config.connection = config.connection.set_redis_settings(settings);
            config
        } else {
            return Ok(None);
        };
        let prefix = var("WEBCHAT_KEY_PREFIX").unwrap_or_else(|| DEFAULT_KEY_PREFIX.to_owned());
        if prefix.chars().any(char::is_whitespace) {
            return Err(ConfigError::new(
                "WEBCHAT_KEY_PREFIX",
                "must not contain whitespace",
            ));
        }
        Ok(Some(config.with_key_prefix(prefix)))
    }

    /// [`from_env_map`](Self::from_env_map) over the process environment.
    pub fn from_env() -> Result<Option<Self>, ConfigError> {
        Self::from_env_map(&|name| std::env::var(name).ok())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<Option<RedisConfig>, ConfigError> {
        let env: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        RedisConfig::from_env_map(&|k| env.get(k).cloned())
    }

    #[test]
    fn nothing_set_means_no_redis() {
        assert!(parse(&[("WEBCHAT_KEY_PREFIX", "x:")]).unwrap().is_none());
    }

    #[test]
    fn url_carries_password_and_db() {
        let c = parse(&[("REDIS_URL", "redis://:s3cret@cache.example:6380/3")])
            .unwrap()
            .unwrap();
        assert_eq!(c.connection.redis_settings().password(), Some("s3cret"));
        assert_eq!(c.connection.redis_settings().db(), 3);
        assert_eq!(c.connection.addr().to_string(), "cache.example:6380");
        assert_eq!(c.key_prefix, DEFAULT_KEY_PREFIX);
        assert!(!format!("{c:?}").contains("s3cret"));
    }

    #[test]
    fn url_wins_over_host_and_prefix_is_read() {
        let c = parse(&[
            ("REDIS_URL", "redis://127.0.0.1:7000"),
            ("REDIS_HOST", "elsewhere"),
            ("WEBCHAT_KEY_PREFIX", "t1:"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(c.connection.addr().to_string(), "127.0.0.1:7000");
        assert_eq!(c.key_prefix, "t1:");
    }

    #[test]
    fn host_variables_are_honoured() {
        let c = parse(&[
            ("REDIS_HOST", "redis"),
            ("REDIS_PORT", "6390"),
            ("REDIS_PASSWORD", "pw"),
            ("REDIS_DB", "2"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(c.connection.addr().to_string(), "redis:6390");
        assert_eq!(c.connection.redis_settings().password(), Some("pw"));
        assert_eq!(c.connection.redis_settings().db(), 2);
        let d = parse(&[("REDIS_HOST", "redis")]).unwrap().unwrap();
        assert_eq!(d.connection.addr().to_string(), "redis:6379");
        assert_eq!(d.connection.redis_settings().db(), 0);
        assert_eq!(d.connection.redis_settings().password(), None);
    }

    #[test]
    fn malformed_values_name_their_variable() {
        let e = parse(&[("REDIS_URL", "http//nope")]).unwrap_err();
        assert_eq!(e.variable, "REDIS_URL");
        let e = parse(&[("REDIS_HOST", "h"), ("REDIS_PORT", "99999")]).unwrap_err();
        assert_eq!(e.variable, "REDIS_PORT");
        let e = parse(&[("REDIS_HOST", "h"), ("REDIS_DB", "-1")]).unwrap_err();
        assert_eq!(e.variable, "REDIS_DB");
        let e = parse(&[("REDIS_HOST", "h"), ("WEBCHAT_KEY_PREFIX", "a b")]).unwrap_err();
        assert_eq!(e.variable, "WEBCHAT_KEY_PREFIX");
    }
}
