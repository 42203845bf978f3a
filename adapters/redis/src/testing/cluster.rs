//! A Redis Cluster of a test's own: N masters (optionally with replicas) on free
//! ports, each in a temp dir, created with `redis-cli --cluster create`. Never the
//! shared server. Nodes can be stopped, restarted and have slots moved between
//! them while a test runs.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use webchat_ports::contract::skip_or_fail;

use super::own::{free_port, fresh_dir, wait_listening};

/// One node's process and where it lives.
struct Node {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

/// A throwaway Redis Cluster; every node is killed (and its dir removed) on drop.
pub struct OwnCluster {
    nodes: Vec<Node>,
}

impl OwnCluster {
    /// `masters` masters, no replicas, ready (`cluster_state:ok` everywhere).
    /// `None` (after printing why, or a panic when services are required) when
    /// redis-server cannot run a cluster here.
    pub fn new(masters: usize) -> Option<Self> {
        Self::with_replicas(masters, 0)
    }

    /// `masters` masters with `replicas` replicas each.
    pub fn with_replicas(masters: usize, replicas: usize) -> Option<Self> {
        match Self::create(masters, replicas) {
            Ok(cluster) => Some(cluster),
            Err(e) => {
                skip_or_fail("a Redis Cluster of redis-server processes", e);
                None
            }
        }
    }

    fn create(masters: usize, replicas: usize) -> std::io::Result<Self> {
        let count = masters * (1 + replicas);
        let mut cluster = Self { nodes: Vec::new() };
        for _ in 0..count {
            let port = free_port().ok_or_else(|| std::io::Error::other("no free port"))?;
            let dir = fresh_dir("webchat-redis-cluster")
                .ok_or_else(|| std::io::Error::other("no temp dir"))?;
            cluster.nodes.push(Node {
                port,
                dir,
                child: None,
            });
        }
        for i in 0..count {
            cluster.start(i)?;
        }
        let status = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(cluster.addrs())
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        if !status.success() {
            return Err(std::io::Error::other(format!(
                "redis-cli --cluster create failed: {status}"
            )));
        }
        cluster.wait_ok(Duration::from_secs(20))?;
        Ok(cluster)
    }

    /// `host:port` of every node.
    pub fn addrs(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect()
    }

    /// `redis://` URLs of every node (the value of `REDIS_CLUSTER_NODES`, joined).
    pub fn urls(&self) -> Vec<String> {
        self.addrs()
            .into_iter()
            .map(|a| format!("redis://{a}"))
            .collect()
    }

    /// `REDIS_CLUSTER_NODES` for this cluster.
    pub fn nodes_var(&self) -> String {
        self.urls().join(",")
    }

    pub fn port(&self, node: usize) -> u16 {
        self.nodes[node].port
    }

    /// Starts (or restarts) node `i` with its saved cluster config and data.
    pub fn start(&mut self, i: usize) -> std::io::Result<()> {
        let node = &mut self.nodes[i];
        let child = Command::new("redis-server")
            .args(["--port", &node.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--cluster-enabled", "yes"])
            .args(["--cluster-config-file", "nodes.conf"])
            .args(["--cluster-node-timeout", "2000"])
            // A stopped master leaves its slots unserved, not the whole cluster.
            .args(["--cluster-require-full-coverage", "no"])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .arg("--dir")
            .arg(&node.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        node.child = Some(child);
        wait_listening(node.port)
    }

    /// Stops node `i` as an operator would (SIGTERM: its append-only file is
    /// flushed) and waits for it to exit.
    pub fn stop(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }

    /// Kills node `i` at once (SIGKILL).
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Runs `redis-cli -p <node i> args...` and returns its output (trimmed).
    pub fn cli(&self, i: usize, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-p", &self.nodes[i].port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli runs");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Waits until every running node reports `cluster_state:ok` and agrees on
    /// who serves every slot.
    pub fn wait_ok(&self, within: Duration) -> std::io::Result<()> {
        let deadline = Instant::now() + within;
        loop {
            let ok = (0..self.nodes.len())
                .filter(|i| self.nodes[*i].child.is_some())
                .all(|i| {
                    let info = self.cli(i, &["cluster", "info"]);
                    info.contains("cluster_state:ok") && info.contains("cluster_slots_ok:16384")
                });
            if ok {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(std::io::Error::other("cluster did not become ok"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The index of the node serving `slot` as master.
    pub fn owner(&self, slot: u16) -> usize {
        let nodes = self.cli(0, &["cluster", "nodes"]);
        for line in nodes.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 9 || !fields[2].contains("master") {
                continue;
            }
            let port: u16 = fields[1]
                .split(['@', ':'])
                .nth(1)
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            for range in &fields[8..] {
                let (start, end) = match range.split_once('-') {
                    Some((s, e)) => (s.parse().unwrap_or(u16::MAX), e.parse().unwrap_or(0)),
                    None => {
                        let s: u16 = range.parse().unwrap_or(u16::MAX);
                        (s, s)
                    }
                };
                if (start..=end).contains(&slot) {
                    if let Some(i) = self.nodes.iter().position(|n| n.port == port) {
                        return i;
                    }
                }
            }
        }
        panic!("no master serves slot {slot}");
    }

    fn id(&self, i: usize) -> String {
        self.cli(i, &["cluster", "myid"])
    }

    /// Moves `slot`, keys and all, from its master to master `to`, the way
    /// `redis-cli --cluster reshard` does (IMPORTING/MIGRATING, MIGRATE, then
    /// SETSLOT NODE everywhere). Blocking: call it from `spawn_blocking`.
    pub fn migrate_slot(&self, slot: u16, to: usize) {
        let from = self.owner(slot);
        if from == to {
            return;
        }
        let (from_id, to_id) = (self.id(from), self.id(to));
        let slot_s = slot.to_string();
        self.cli(to, &["cluster", "setslot", &slot_s, "importing", &from_id]);
        self.cli(from, &["cluster", "setslot", &slot_s, "migrating", &to_id]);
        loop {
            let keys = self.cli(from, &["cluster", "getkeysinslot", &slot_s, "100"]);
            let keys: Vec<&str> = keys.lines().filter(|k| !k.is_empty()).collect();
            if keys.is_empty() {
                break;
            }
            let port = self.nodes[to].port.to_string();
            let mut args = vec!["migrate", "127.0.0.1", &port, "", "0", "5000", "KEYS"];
            args.extend(keys.iter().copied());
            self.cli(from, &args);
        }
        for i in 0..self.nodes.len() {
            if self.nodes[i].child.is_some() {
                self.cli(i, &["cluster", "setslot", &slot_s, "node", &to_id]);
            }
        }
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
            let _ = std::fs::remove_dir_all(&self.nodes[i].dir);
        }
    }
}
