//! A redis-server of a test's own, on a free port in a temp dir: for tests that
//! stop or kill Redis, or need settings the shared one lacks. Never the shared server.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use webchat_ports::contract::skip_or_fail;

/// A throwaway redis-server on a free port, killed (and its dir removed) on drop.
pub struct OwnRedis {
    port: u16,
    dir: PathBuf,
    args: Vec<String>,
    child: Option<Child>,
}

impl OwnRedis {
    /// A running server; `None` (after printing why, or a panic when services are
    /// required) when redis-server cannot be run here.
    pub fn new() -> Option<Self> {
        Self::with_args(&[])
    }

    /// Like [`new`](Self::new), with extra redis-server arguments (e.g.
    /// `["--appendonly", "yes"]` for a server whose restart keeps its data).
    pub fn with_args(args: &[&str]) -> Option<Self> {
        let mut server = Self {
            port: free_port()?,
            dir: fresh_dir("webchat-redis-test")?,
            args: args.iter().map(|a| a.to_string()).collect(),
            child: None,
        };
        if let Err(e) = server.start() {
            skip_or_fail("redis-server binary", e);
            return None;
        }
        Some(server)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts (or restarts) the server on the same port and dir; returns once it
    /// accepts connections.
    pub fn start(&mut self) -> std::io::Result<()> {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.child = Some(child);
        wait_listening(self.port)
    }

    /// Stops the server the way an operator's restart does (SIGTERM, which lets it
    /// flush an append-only file) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port nobody listens on right now.
pub(crate) fn free_port() -> Option<u16> {
    Some(
        TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port(),
    )
}

/// A new empty directory under the system temp dir.
pub(crate) fn fresh_dir(stem: &str) -> Option<PathBuf> {
    let dir = std::env::temp_dir().join(format!("{stem}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).ok()?;
    Some(dir)
}

/// Waits until something accepts connections on `port` (at most 5 s).
pub(crate) fn wait_listening(port: u16) -> std::io::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(std::io::Error::other(format!(
        "redis-server did not listen on {port} within 5 s"
    )))
}
