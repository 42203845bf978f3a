//! Headless Chromium through chromedriver: finds the binaries, starts chromedriver on
//! a free port in its own process group, opens browser sessions each with a fresh
//! profile, and on drop kills the whole group and removes the profiles.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

/// Debian's `chromium` and `chromium-driver` packages.
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Flags that work as root on a machine without network.
const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1200,760",
];

pub struct ChromeDriver {
    child: Child,
    url: String,
    chromium: PathBuf,
    profiles: Mutex<Vec<PathBuf>>,
}

impl ChromeDriver {
    /// Starts chromedriver, or says why it cannot (binaries missing, did not start).
    pub async fn start() -> Result<Self, String> {
        let chromium = binary("WEBCHAT_CHROMIUM", CHROMIUM)?;
        let driver_bin = binary("WEBCHAT_CHROMEDRIVER", CHROMEDRIVER)?;
        let port = free_port().map_err(|e| format!("no free port: {e}"))?;
        let mut command = Command::new(&driver_bin);
        command
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // Its own process group, so the browsers it starts can be killed with it.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command
            .spawn()
            .map_err(|e| format!("{} does not start: {e}", driver_bin.display()))?;
        let mut driver = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            chromium,
            profiles: Mutex::default(),
        };
        driver.wait_ready().await?;
        Ok(driver)
    }

    async fn wait_ready(&mut self) -> Result<(), String> {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("chromedriver exited at startup ({status})"));
            }
            let ready = http
                .get(format!("{}/status", self.url))
                .send()
                .await
                .ok()
                .map(|r| r.status().is_success())
                .unwrap_or(false);
            if ready {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err("chromedriver did not answer /status within 20 s".into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A new headless browser with a fresh profile.
    pub async fn browser(&self) -> Result<Client, String> {
        let profile = std::env::temp_dir().join(format!(
            "webchat-browser-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&profile).map_err(|e| format!("profile dir: {e}"))?;
        self.profiles.lock().unwrap().push(profile.clone());
        let mut args: Vec<String> = FLAGS.iter().map(|f| f.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let mut caps = Capabilities::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({ "binary": self.chromium, "args": args }),
        );
        ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .map_err(|e| format!("no browser session: {e}"))
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        // chromedriver and every Chromium process it started share its group.
        let group = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) with a negative pid signals that process group only; the
        // group is the one created for this child above.
        unsafe {
            libc::kill(-group, libc::SIGKILL);
        }
        let _ = self.child.wait();
        for profile in self.profiles.lock().unwrap().iter() {
            let _ = std::fs::remove_dir_all(profile);
        }
    }
}

fn binary(var: &str, default: &str) -> Result<PathBuf, String> {
    let path = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default));
    if is_executable(&path) {
        Ok(path)
    } else {
        Err(format!(
            "{} not found; apt-get install chromium chromium-driver",
            path.display()
        ))
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
