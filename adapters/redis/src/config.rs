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

/// Which kind of Redis deployment the backend talks to (named in the startup log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisMode {
    /// One server (`REDIS_URL` or `REDIS_HOST`).
    Single,
    /// A Redis Cluster (`REDIS_CLUSTER_NODES`).
    Cluster,
    /// A master found, and followed across failovers, through Sentinel
    /// (`REDIS_SENTINELS` + `REDIS_SENTINEL_MASTER`).
    Sentinel,
}

impl RedisMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Single => "single",
            Self::Cluster => "cluster",
            Self::Sentinel => "sentinel",
        }
    }
}

impl fmt::Display for RedisMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the servers are, beyond `RedisConfig::connection`.
#[derive(Clone)]
pub enum Topology {
    /// `connection` is the server.
    Single,
    /// Seed nodes of a cluster (any one that answers finds the rest); `connection`
    /// is the first, and its settings (password) go to every node.
    Cluster { nodes: Vec<ConnectionInfo> },
    /// Sentinels to ask for the master named `master`; `connection`'s settings
    /// (password, database) are the master's.
    Sentinel {
        sentinels: Vec<(String, u16)>,
        master: String,
        /// `REDIS_SENTINEL_PASSWORD`: the sentinels' own password, if any.
        sentinel_password: Option<String>,
    },
}

/// How to reach Redis and how to name keys.
#[derive(Clone)]
pub struct RedisConfig {
    pub connection: ConnectionInfo,
    pub topology: Topology,
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
        let nodes: Vec<String> = match &self.topology {
            Topology::Single => vec![self.connection.addr().to_string()],
            Topology::Cluster { nodes } => nodes.iter().map(|n| n.addr().to_string()).collect(),
            Topology::Sentinel { sentinels, .. } => {
                sentinels.iter().map(|(h, p)| format!("{h}:{p}")).collect()
            }
        };
        let mut out = f.debug_struct("RedisConfig");
        out.field("mode", &self.mode()).field("nodes", &nodes);
        if let Topology::Sentinel { master, .. } = &self.topology {
            out.field("master", master);
        }
        out.field("db", &settings.db())
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

    /// A Redis Cluster reached through `nodes` (`redis://[:password@]host:port`
    /// each, or `host:port`); `password` applies to nodes whose URL has none.
    pub fn cluster(nodes: &[&str], password: Option<&str>) -> Result<Self, ConfigError> {
        const VAR: &str = "REDIS_CLUSTER_NODES";
        let mut infos = Vec::new();
        for node in nodes.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
            let url = if node.contains("://") {
                node.to_owned()
            } else {
                format!("redis://{node}")
            };
            let mut info = url
                .as_str()
                .into_connection_info()
                .map_err(|e| ConfigError::new(VAR, format!("{node:?} is not a Redis URL ({e})")))?;
            let settings = info.redis_settings().clone();
            if settings.db() != 0 {
                return Err(ConfigError::new(VAR, "a cluster has database 0 only"));
            }
            if let (None, Some(password)) = (settings.password(), password) {
                info = info.set_redis_settings(settings.set_password(password));
            }
            infos.push(info);
        }
        let Some(first) = infos.first().cloned() else {
            return Err(ConfigError::new(VAR, "no node given"));
        };
        let mut config = Self::with_connection(first);
        config.topology = Topology::Cluster { nodes: infos };
        Ok(config)
    }

    /// The master `master` of the sentinels `sentinels` (`host:port` each, port
    /// 26379 when left out); `settings` are the master's (password, database).
    pub fn sentinel(
        sentinels: &[&str],
        master: &str,
        settings: RedisConnectionInfo,
        sentinel_password: Option<String>,
    ) -> Result<Self, ConfigError> {
        const VAR: &str = "REDIS_SENTINELS";
        let mut addrs = Vec::new();
        for entry in sentinels.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
            let entry = entry.strip_prefix("redis://").unwrap_or(entry);
            let (host, port) = match entry.rsplit_once(':') {
                Some((host, port)) => (
                    host,
                    port.parse::<u16>().map_err(|_| {
                        ConfigError::new(VAR, format!("not a port number in {entry:?}"))
                    })?,
                ),
                None => (entry, 26379),
            };
            if host.is_empty() {
                return Err(ConfigError::new(VAR, format!("no host in {entry:?}")));
            }
            addrs.push((host.to_owned(), port));
        }
        let Some((host, port)) = addrs.first().cloned() else {
            return Err(ConfigError::new(VAR, "no sentinel given"));
        };
        if master.trim().is_empty() {
            return Err(ConfigError::new(
                "REDIS_SENTINEL_MASTER",
                "required with REDIS_SENTINELS",
            ));
        }
        let connection = (host, port)
            .into_connection_info()
            .map_err(|e| ConfigError::new(VAR, e.to_string()))?
            .set_redis_settings(settings);
        let mut config = Self::with_connection(connection);
        config.topology = Topology::Sentinel {
            sentinels: addrs,
            master: master.trim().to_owned(),
            sentinel_password,
        };
        Ok(config)
    }

    pub fn mode(&self) -> RedisMode {
        match self.topology {
            Topology::Single => RedisMode::Single,
            Topology::Cluster { .. } => RedisMode::Cluster,
            Topology::Sentinel { .. } => RedisMode::Sentinel,
        }
    }

    fn with_connection(connection: ConnectionInfo) -> Self {
        Self {
            connection,
            topology: Topology::Single,
            key_prefix: DEFAULT_KEY_PREFIX.to_owned(),
            connection_timeout: Duration::from_millis(1500),
            response_timeout: Duration::from_secs(2),
        }
    }

    pub fn with_key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// Reads REDIS_CLUSTER_NODES (a cluster), or else REDIS_SENTINELS with
    /// REDIS_SENTINEL_MASTER (a master behind Sentinel), or else REDIS_URL, or else
    /// REDIS_HOST / REDIS_PORT / REDIS_PASSWORD / REDIS_DB, and WEBCHAT_KEY_PREFIX,
    /// through `var` (so the app and tests can pass any source). `Ok(None)` when
    /// none of them is set: the app then runs on in-memory adapters.
    pub fn from_env_map(
        var: &impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, ConfigError> {
        let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let password = var("REDIS_PASSWORD").filter(|p| !p.is_empty());
        let db = |default: i64| -> Result<i64, ConfigError> {
            match set("REDIS_DB") {
                Some(d) => d
                    .trim()
                    .parse::<i64>()
                    .ok()
                    .filter(|d| *d >= 0)
                    .ok_or_else(|| {
                        ConfigError::new("REDIS_DB", format!("not a database number: {d:?}"))
                    }),
                None => Ok(default),
            }
        };
        let config = if let Some(nodes) = set("REDIS_CLUSTER_NODES") {
            if set("REDIS_SENTINELS").is_some() {
                return Err(ConfigError::new(
                    "REDIS_SENTINELS",
                    "set either REDIS_CLUSTER_NODES or REDIS_SENTINELS, not both",
                ));
            }
            let nodes: Vec<&str> = nodes.split(',').collect();
            Self::cluster(&nodes, password.as_deref())?
        } else if let Some(sentinels) = set("REDIS_SENTINELS") {
            let master = set("REDIS_SENTINEL_MASTER").ok_or_else(|| {
                ConfigError::new("REDIS_SENTINEL_MASTER", "required with REDIS_SENTINELS")
            })?;
            let mut settings = RedisConnectionInfo::default().set_db(db(0)?);
            if let Some(password) = &password {
                settings = settings.set_password(password.clone());
            }
            let sentinels: Vec<&str> = sentinels.split(',').collect();
            Self::sentinel(
                &sentinels,
                &master,
                settings,
                var("REDIS_SENTINEL_PASSWORD").filter(|p| !p.is_empty()),
            )?
        } else if let Some(url) = set("REDIS_URL") {
            Self::from_url(url.trim())?
        } else if let Some(host) = set("REDIS_HOST") {
            let port = match set("REDIS_PORT") {
                Some(p) => p.trim().parse::<u16>().map_err(|_| {
                    ConfigError::new("REDIS_PORT", format!("not a port number: {p:?}"))
                })?,
                None => 6379,
            };
            let mut settings = RedisConnectionInfo::default().set_db(db(0)?);
            if let Some(password) = password {
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
        // A brace in the prefix would become every key's hash tag (or break the
        // ids' own), putting all keys on one Cluster slot and scripts across slots.
        if prefix.contains(['{', '}']) {
            return Err(ConfigError::new(
                "WEBCHAT_KEY_PREFIX",
                "must not contain `{` or `}` (they would decide every key's hash slot)",
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
    fn a_prefix_with_braces_is_refused() {
        for prefix in ["{app}:", "app}:", "a b:"] {
            let err = parse(&[("REDIS_HOST", "cache"), ("WEBCHAT_KEY_PREFIX", prefix)])
                .unwrap_err()
                .to_string();
            assert!(err.contains("WEBCHAT_KEY_PREFIX"), "{prefix}: {err}");
        }
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
    fn cluster_nodes_win_over_the_url_and_carry_the_password() {
        let c = parse(&[
            (
                "REDIS_CLUSTER_NODES",
                "redis://10.0.0.1:7000, 10.0.0.2:7001,redis://:own@10.0.0.3:7002",
            ),
            ("REDIS_URL", "redis://elsewhere:6379"),
            ("REDIS_PASSWORD", "pw"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(c.mode(), RedisMode::Cluster);
        let Topology::Cluster { nodes } = &c.topology else {
            panic!("cluster topology")
        };
        let addrs: Vec<String> = nodes.iter().map(|n| n.addr().to_string()).collect();
        assert_eq!(addrs, ["10.0.0.1:7000", "10.0.0.2:7001", "10.0.0.3:7002"]);
        assert_eq!(nodes[0].redis_settings().password(), Some("pw"));
        assert_eq!(nodes[2].redis_settings().password(), Some("own"));
        let shown = format!("{c:?}");
        assert!(shown.contains("Cluster") && !shown.contains("pw") && !shown.contains("own"));
    }

    #[test]
    fn sentinels_name_their_master_and_passwords() {
        let c = parse(&[
            ("REDIS_SENTINELS", "s1:26379,s2:26380,s3"),
            ("REDIS_SENTINEL_MASTER", "mymaster"),
            ("REDIS_SENTINEL_PASSWORD", "spw"),
            ("REDIS_PASSWORD", "mpw"),
            ("REDIS_DB", "2"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(c.mode(), RedisMode::Sentinel);
        let Topology::Sentinel {
            sentinels,
            master,
            sentinel_password,
        } = &c.topology
        else {
            panic!("sentinel topology")
        };
        assert_eq!(master, "mymaster");
        assert_eq!(sentinel_password.as_deref(), Some("spw"));
        assert_eq!(sentinels[2], ("s3".to_owned(), 26379));
        assert_eq!(c.connection.redis_settings().password(), Some("mpw"));
        assert_eq!(c.connection.redis_settings().db(), 2);
        let shown = format!("{c:?}");
        assert!(shown.contains("mymaster") && !shown.contains("spw") && !shown.contains("mpw"));
        let single = parse(&[("REDIS_URL", "redis://h:1")]).unwrap().unwrap();
        assert_eq!(single.mode(), RedisMode::Single);
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
        let e = parse(&[("REDIS_CLUSTER_NODES", " , ")]).unwrap_err();
        assert_eq!(e.variable, "REDIS_CLUSTER_NODES");
        let e = parse(&[("REDIS_CLUSTER_NODES", "redis://h:1/2")]).unwrap_err();
        assert_eq!(e.variable, "REDIS_CLUSTER_NODES");
        let e = parse(&[("REDIS_SENTINELS", "s1:26379")]).unwrap_err();
        assert_eq!(e.variable, "REDIS_SENTINEL_MASTER");
        let e = parse(&[
            ("REDIS_SENTINELS", "s1:port"),
            ("REDIS_SENTINEL_MASTER", "m"),
        ])
        .unwrap_err();
        assert_eq!(e.variable, "REDIS_SENTINELS");
        let e = parse(&[("REDIS_SENTINELS", "s1"), ("REDIS_CLUSTER_NODES", "h:1")]).unwrap_err();
        assert_eq!(e.variable, "REDIS_SENTINELS");
    }
}
