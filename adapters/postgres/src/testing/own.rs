//! A PostgreSQL server of a test's own, on a free port in a temp dir: for tests that
//! stop and restart the database. Never the shared server.
//!
//! Needs `initdb` and `pg_ctl` (on `PATH`, or under `/usr/lib/postgresql/*/bin`,
//! or in `WEBCHAT_PG_BINDIR`). PostgreSQL refuses to run as root: as root, the
//! server runs as the `postgres` user (through `runuser`).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use webchat_ports::contract::skip_or_fail;

/// A throwaway PostgreSQL cluster, stopped (and its dir removed) on drop.
pub struct OwnPostgres {
    port: u16,
    dir: PathBuf,
    bin: PathBuf,
    as_postgres: bool,
    running: bool,
}

impl OwnPostgres {
    /// An initialised, running server; `None` (after printing why, or a panic when
    /// services are required) when PostgreSQL cannot be run here.
    pub fn new() -> Option<Self> {
        match Self::try_new() {
            Ok(server) => Some(server),
            Err(e) => {
                skip_or_fail("an own PostgreSQL server (initdb, pg_ctl)", e);
                None
            }
        }
    }

    fn try_new() -> std::io::Result<Self> {
        let bin = bin_dir().ok_or_else(|| std::io::Error::other("initdb not found"))?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let dir =
            std::env::temp_dir().join(format!("webchat-pg-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir)?;
        // PostgreSQL refuses to run as root.
        let as_postgres = is_root();
        let mut server = Self {
            port,
            dir,
            bin,
            as_postgres,
            running: false,
        };
        if as_postgres {
            let status = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&server.dir)
                .status()?;
            if !status.success() {
                return Err(std::io::Error::other(
                    "cannot chown the data dir to postgres",
                ));
            }
        }
        let data = server.dir.join("data");
        server.run(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-A".as_ref(),
                "trust".as_ref(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
                "--no-sync".as_ref(),
            ],
        )?;
        server.start()?;
        Ok(server)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of its `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts (or restarts) the server; returns once it accepts connections.
    pub fn start(&mut self) -> std::io::Result<()> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off",
            self.port,
            self.dir.display()
        );
        let data = self.dir.join("data");
        let log = self.dir.join("server.log");
        self.pg_ctl(&[
            "-D".as_ref(),
            data.as_os_str(),
            "-o".as_ref(),
            options.as_ref(),
            "-l".as_ref(),
            log.as_os_str(),
            "-w".as_ref(),
            "start".as_ref(),
        ])?;
        self.running = true;
        Ok(())
    }

    /// Stops the server at once (`immediate`: every connection is cut, as a crash
    /// or a network partition would); waits until it has exited.
    pub fn stop(&mut self) {
        if !self.running {
            return;
        }
        let data = self.dir.join("data");
        let _ = self.pg_ctl(&[
            "-D".as_ref(),
            data.as_os_str(),
            "-m".as_ref(),
            "immediate".as_ref(),
            "-w".as_ref(),
            "stop".as_ref(),
        ]);
        self.running = false;
    }

    fn pg_ctl(&self, args: &[&std::ffi::OsStr]) -> std::io::Result<()> {
        self.run("pg_ctl", args)
    }

    fn run(&self, program: &str, args: &[&std::ffi::OsStr]) -> std::io::Result<()> {
        let program = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        let output = command
            .args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .output()?;
        if output.status.success() {
            Ok(())
        } else {
            Err(std::io::Error::other(format!(
                "{} failed: {}{}",
                program.display(),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )))
        }
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Where `initdb` and `pg_ctl` live.
fn bin_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("WEBCHAT_PG_BINDIR") {
        return Some(PathBuf::from(dir));
    }
    let on_path = std::env::var_os("PATH")
        .and_then(|path| std::env::split_paths(&path).find(|dir| dir.join("initdb").is_file()));
    if on_path.is_some() {
        return on_path;
    }
    // Debian and Ubuntu keep the server binaries off PATH, per major version.
    let mut versions: Vec<PathBuf> = std::fs::read_dir(Path::new("/usr/lib/postgresql"))
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path().join("bin"))
        .filter(|bin| bin.join("initdb").is_file())
        .collect();
    versions.sort_by_key(|p| {
        p.parent()
            .and_then(Path::file_name)
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
    });
    versions.pop()
}
