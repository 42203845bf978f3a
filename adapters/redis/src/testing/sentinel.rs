//! A Sentinel deployment of a test's own: a primary, a replica and three
//! sentinels watching them as `mymaster`, on free ports in temp dirs. Never the
//! shared server. `failover()` asks the sentinels to promote the replica.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use webchat_ports::contract::skip_or_fail;

use super::own::{free_port, fresh_dir, wait_listening};

/// The name the sentinels know the master by.
pub const SENTINEL_MASTER: &str = "mymaster";

struct Process {
    port: u16,
    child: Child,
}

/// Primary + replica + three sentinels; all killed (and the dir removed) on drop.
pub struct OwnSentinel {
    dir: PathBuf,
    servers: Vec<Process>,
    sentinels: Vec<Process>,
}

impl OwnSentinel {
    /// A ready deployment (the replica in sync, every sentinel aware of the
    /// replica and of the other sentinels), or `None` after printing why (a panic
    /// when services are required).
    pub fn new() -> Option<Self> {
        match Self::create() {
            Ok(s) => Some(s),
            Err(e) => {
                skip_or_fail("a Sentinel deployment of redis-server processes", e);
                None
            }
        }
    }

    fn create() -> std::io::Result<Self> {
        let dir = fresh_dir("webchat-redis-sentinel")
            .ok_or_else(|| std::io::Error::other("no temp dir"))?;
        let port = || free_port().ok_or_else(|| std::io::Error::other("no free port"));
        let mut deployment = Self {
            dir,
            servers: Vec::new(),
            sentinels: Vec::new(),
        };
        let primary = port()?;
        let replica = port()?;
        for (p, extra) in [
            (primary, vec![]),
            (
                replica,
                vec!["--replicaof".to_owned(), format!("127.0.0.1 {primary}")],
            ),
        ] {
            let data = deployment.dir.join(format!("redis-{p}"));
            std::fs::create_dir_all(&data)?;
            let child = Command::new("redis-server")
                .args(["--port", &p.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(&data)
                .args(&extra)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()?;
            deployment.servers.push(Process { port: p, child });
            wait_listening(p)?;
        }
        for _ in 0..3 {
            let p = port()?;
            let conf = deployment.dir.join(format!("sentinel-{p}.conf"));
            std::fs::write(
                &conf,
                format!(
                    "port {p}\nbind 127.0.0.1\ndir {}\n\
                     sentinel monitor {SENTINEL_MASTER} 127.0.0.1 {primary} 2\n\
                     sentinel down-after-milliseconds {SENTINEL_MASTER} 1000\n\
                     sentinel failover-timeout {SENTINEL_MASTER} 5000\n\
                     sentinel parallel-syncs {SENTINEL_MASTER} 1\n",
                    deployment.dir.display()
                ),
            )?;
            let child = Command::new("redis-server")
                .arg(&conf)
                .arg("--sentinel")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()?;
            deployment.sentinels.push(Process { port: p, child });
            wait_listening(p)?;
        }
        deployment.wait_ready(Duration::from_secs(30))?;
        Ok(deployment)
    }

    fn cli(port: u16, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-p", &port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli runs");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    fn wait_ready(&self, within: Duration) -> std::io::Result<()> {
        let deadline = Instant::now() + within;
        loop {
            let synced = Self::cli(self.servers[1].port, &["info", "replication"])
                .contains("master_link_status:up");
            let aware = self.sentinels.iter().all(|s| {
                let replicas = Self::cli(s.port, &["sentinel", "replicas", SENTINEL_MASTER]);
                let others = Self::cli(s.port, &["sentinel", "sentinels", SENTINEL_MASTER]);
                replicas.contains(&self.servers[1].port.to_string())
                    && others.matches("127.0.0.1").count() >= 2
            });
            if synced && aware {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(std::io::Error::other("the sentinels did not get ready"));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `REDIS_SENTINELS` for this deployment.
    pub fn sentinels_var(&self) -> String {
        self.sentinels
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The port the sentinels name as master now.
    pub fn master_port(&self) -> u16 {
        let addr = Self::cli(
            self.sentinels[0].port,
            &["sentinel", "get-master-addr-by-name", SENTINEL_MASTER],
        );
        addr.lines()
            .nth(1)
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or(0)
    }

    /// The ports of the two data servers (primary first, as started).
    pub fn server_ports(&self) -> Vec<u16> {
        self.servers.iter().map(|s| s.port).collect()
    }

    /// `ROLE` of the data server on `port` (`master` or `slave`).
    pub fn role(&self, port: u16) -> String {
        Self::cli(port, &["role"])
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned()
    }

    /// `SENTINEL FAILOVER`, then waits (at most `within`) until the sentinels name
    /// the other server and it answers as master; returns its port. Blocking.
    pub fn failover(&self, within: Duration) -> u16 {
        let before = self.master_port();
        let reply = Self::cli(
            self.sentinels[0].port,
            &["sentinel", "failover", SENTINEL_MASTER],
        );
        assert_eq!(reply, "OK", "SENTINEL FAILOVER answered {reply:?}");
        let deadline = Instant::now() + within;
        loop {
            let now = self.master_port();
            if now != before && now != 0 && self.role(now) == "master" {
                return now;
            }
            assert!(Instant::now() < deadline, "no failover within {within:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for OwnSentinel {
    fn drop(&mut self) {
        for p in self.sentinels.iter_mut().chain(self.servers.iter_mut()) {
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
