//! CPU and memory of the processes a run accounts for, from /proc, plus the tool's
//! own CPU (getrusage) and the machine's busy share. `snap` before and after a phase,
//! `Usage::between` for the difference; the JSON has load.js's `usage` fields.

use std::collections::BTreeMap;
use std::fs;
use std::time::Instant;

use anyhow::{bail, Result};
use serde::Serialize;

use crate::cli::Common;
use crate::util::round2;

#[derive(Clone, Copy, Debug)]
struct ProcSample {
    cpu_s: f64,
    rss_kib: u64,
}

fn clk_tck() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

fn comm(pid: u32) -> Option<String> {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim().to_owned())
}

fn sample(pid: u32) -> Option<ProcSample> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after "(comm) ": state is field 3, utime 14, stime 15 (1-based).
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    Some(ProcSample {
        cpu_s: ticks / clk_tck(),
        rss_kib,
    })
}

fn pids_by_comm(names: &[String]) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    let Ok(dir) = fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if let Some(c) = comm(pid) {
            if names.contains(&c) {
                out.push((pid, c));
            }
        }
    }
    out
}

/// (idle, total) jiffies of the whole machine; guest time is already in user.
fn machine() -> (u64, u64) {
    let stat = fs::read_to_string("/proc/stat").unwrap_or_default();
    let f: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|v| v.parse().ok())
        .collect();
    let idle = f.get(3).copied().unwrap_or(0) + f.get(4).copied().unwrap_or(0);
    (idle, f.iter().sum())
}

/// The tool's own (user, system) CPU seconds.
pub fn self_cpu() -> (f64, f64) {
    // SAFETY: getrusage writes only into the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let s = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (s(ru.ru_utime), s(ru.ru_stime))
}

pub struct Snap {
    servers: BTreeMap<u32, Option<ProcSample>>,
    other: BTreeMap<u32, Option<(ProcSample, String)>>,
    by_comm: BTreeMap<u32, (ProcSample, String)>,
    machine: (u64, u64),
    driver: (f64, f64),
    at: Instant,
}

#[derive(Clone)]
pub struct Watch {
    pids: Vec<u32>,
    other_pids: Vec<u32>,
    other_comm: Vec<String>,
}

impl Watch {
    pub fn new(c: &Common) -> Result<Self> {
        for &pid in c.pids.iter().chain(&c.other_pids) {
            if sample(pid).is_none() {
                bail!("pid {pid} (from --pids/--other-pids) is not running");
            }
        }
        Ok(Self {
            pids: c.pids.clone(),
            other_pids: c.other_pids.clone(),
            other_comm: c.other_comm.clone(),
        })
    }

    pub fn has_servers(&self) -> bool {
        !self.pids.is_empty()
    }

    pub fn snap(&self) -> Snap {
        Snap {
            servers: self.pids.iter().map(|&p| (p, sample(p))).collect(),
            other: self
                .other_pids
                .iter()
                .map(|&p| (p, sample(p).zip(comm(p))))
                .collect(),
            by_comm: pids_by_comm(&self.other_comm)
                .into_iter()
                .filter_map(|(p, c)| sample(p).map(|s| (p, (s, c))))
                .collect(),
            machine: machine(),
            driver: self_cpu(),
            at: Instant::now(),
        }
    }
}

#[derive(Serialize, Debug, Clone)]
pub struct ServerUsage {
    pub cpu_s: f64,
    pub rss_before_mib: f64,
    pub rss_after_mib: f64,
}

/// load.js's `usage` object.
#[derive(Serialize, Debug, Clone)]
pub struct Usage {
    pub wall_s: f64,
    pub servers: BTreeMap<String, ServerUsage>,
    pub server_cpu_s: f64,
    pub server_rss_before_mib: f64,
    pub server_rss_after_mib: f64,
    pub server_rss_growth_kib: i64,
    pub other_cpu_s: BTreeMap<String, f64>,
    pub driver_cpu_s: f64,
    pub driver_cpu_user_s: f64,
    pub driver_cpu_system_s: f64,
    pub machine_busy_pct: f64,
    pub machine_cores: usize,
    /// server pids that were gone at the end (crashed or stopped mid-run)
    pub servers_gone: Vec<u32>,
}

impl Usage {
    /// A server that vanished is listed in `servers_gone` (and fails the run)
    /// rather than aborting: the report is what shows it.
    pub fn between(a: &Snap, b: &Snap) -> Self {
        let mut servers = BTreeMap::new();
        let mut servers_gone = Vec::new();
        let (mut cpu, mut before, mut after) = (0.0, 0u64, 0u64);
        for (pid, s) in &b.servers {
            let (Some(Some(x)), Some(y)) = (a.servers.get(pid), s) else {
                eprintln!("WARNING: server pid {pid} disappeared during the run");
                servers_gone.push(*pid);
                continue;
            };
            cpu += y.cpu_s - x.cpu_s;
            before += x.rss_kib;
            after += y.rss_kib;
            servers.insert(
                pid.to_string(),
                ServerUsage {
                    cpu_s: round2(y.cpu_s - x.cpu_s),
                    rss_before_mib: round2(x.rss_kib as f64 / 1024.0),
                    rss_after_mib: round2(y.rss_kib as f64 / 1024.0),
                },
            );
        }
        let mut other = BTreeMap::new();
        for (pid, s) in &b.other {
            if let (Some(Some((x, _))), Some((y, name))) = (a.other.get(pid), s) {
                other.insert(format!("{name} {pid}"), round2(y.cpu_s - x.cpu_s));
            }
        }
        for (pid, (y, name)) in &b.by_comm {
            // a process born during the run counts from 0
            let x = a.by_comm.get(pid).map_or(0.0, |(x, _)| x.cpu_s);
            *other.entry(name.clone()).or_insert(0.0) += y.cpu_s - x;
        }
        for v in other.values_mut() {
            *v = round2(*v);
        }
        let dm = b.machine.1.saturating_sub(a.machine.1);
        let busy = if dm > 0 {
            1.0 - b.machine.0.saturating_sub(a.machine.0) as f64 / dm as f64
        } else {
            0.0
        };
        let (du, ds) = (b.driver.0 - a.driver.0, b.driver.1 - a.driver.1);
        Self {
            wall_s: round2(b.at.duration_since(a.at).as_secs_f64()),
            servers,
            server_cpu_s: round2(cpu),
            server_rss_before_mib: round2(before as f64 / 1024.0),
            server_rss_after_mib: round2(after as f64 / 1024.0),
            server_rss_growth_kib: after as i64 - before as i64,
            other_cpu_s: other,
            driver_cpu_s: round2(du + ds),
            driver_cpu_user_s: round2(du),
            driver_cpu_system_s: round2(ds),
            machine_busy_pct: (busy * 1000.0).round() / 10.0,
            machine_cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            servers_gone,
        }
    }

    /// Table rows common to every scenario: per-process CPU and the machine.
    pub fn rows(&self, rows: &mut Vec<(String, String)>) {
        for pid in &self.servers_gone {
            rows.push((format!("  server pid {pid}"), "GONE during the run".into()));
        }
        for (pid, s) in &self.servers {
            rows.push((
                format!("  server pid {pid}"),
                format!(
                    "cpu {} s, RSS {} -> {} MiB",
                    s.cpu_s, s.rss_before_mib, s.rss_after_mib
                ),
            ));
        }
        for (k, v) in &self.other_cpu_s {
            rows.push((format!("  other {k} cpu s"), v.to_string()));
        }
        rows.push((
            "machine busy (all cores)".into(),
            format!(
                "{}% of {} cores over {} s",
                self.machine_busy_pct, self.machine_cores, self.wall_s
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let s = sample(std::process::id()).expect("own /proc entry");
        assert!(s.rss_kib > 0);
        assert!(s.cpu_s >= 0.0);
        let (idle, total) = machine();
        assert!(total >= idle && total > 0);
    }
}
