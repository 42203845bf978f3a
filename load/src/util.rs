//! Small shared helpers: the tool's monotonic clock, run ids, progress output,
//! the file-descriptor limit.

use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

static START: OnceLock<Instant> = OnceLock::new();

/// Nanoseconds since the tool started, on the monotonic clock. Send timestamps
/// travel inside message content and are compared with this same clock on
/// receipt, so latency never depends on wall-clock adjustments.
pub fn now_ns() -> u64 {
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// Pins the clock's origin; called first thing in main.
pub fn start_clock() {
    START.get_or_init(Instant::now);
}

/// A short id unique per run (base36 of the wall-clock milliseconds and the pid),
/// used in usernames, chat names, client_msg_ids and message content, so a run
/// never mistakes another run's traffic for its own.
pub fn run_id() -> String {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;
    let salt = u64::from(std::process::id()) % 1296;
    format!("{}{}", base36(ms), base36(salt))
}

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).expect("ascii")
}

/// Progress goes to stderr so stdout stays the table plus one JSON line.
macro_rules! progress {
    ($($arg:tt)*) => { eprintln!($($arg)*) };
}
pub(crate) use progress;

pub async fn sleep_s(seconds: f64) {
    if seconds > 0.0 {
        tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    }
}

/// Raises RLIMIT_NOFILE so 20,000+ sockets fit: each socket is a file descriptor
/// and the usual soft limit (1024) stops a run at ~1000 sockets. The soft limit
/// goes to the hard limit; with privilege (root) both go to at least 65536, capped
/// by fs.nr_open. Returns the soft limit in force afterwards.
pub fn raise_nofile_limit() -> u64 {
    const WANT: u64 = 65536;
    let nr_open: u64 = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(WANT);
    // SAFETY: getrlimit/setrlimit only read/write the structs we pass.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        let high = lim.rlim_max.max(WANT.min(nr_open));
        for target in [high, lim.rlim_max] {
            let want = libc::rlimit {
                rlim_cur: target,
                rlim_max: target.max(lim.rlim_max),
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                return target;
            }
        }
        lim.rlim_cur
    }
}

pub fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

pub fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base36_encodes() {
        assert_eq!(base36(0), "0");
        assert_eq!(base36(35), "z");
        assert_eq!(base36(36), "10");
    }
}
