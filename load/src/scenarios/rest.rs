//! The request engine of the REST scenarios: open loop at a rate (requests never
//! wait for earlier answers, up to --max-inflight) or closed loop (--concurrency
//! workers). A request counts when it *starts* inside the measured window, so the
//! warm-up's stragglers never leak into the numbers; its latency is start -> body
//! read.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use hdrhistogram::Histogram;

use super::pace::pace;
use crate::api::THROTTLE_HINT;
use crate::cli::RestLoad;
use crate::procwatch::{Usage, Watch};
use crate::stats::latency::{new_histogram, record_ns};

/// A request's status and body size, or why it failed before a status.
pub type Answer = Result<(u16, u64), String>;

pub struct RestStats {
    /// by status code, or "error: ..." for transport failures
    pub statuses: BTreeMap<String, u64>,
    pub ok: u64,
    pub requests: u64,
    /// open loop: due requests not issued because --max-inflight were pending
    pub skipped: u64,
    pub bytes: u64,
    pub latency: Histogram<u64>,
    pub window: Duration,
    pub mode: String,
}

struct Acc {
    from: Instant,
    to: Instant,
    ok_status: u16,
    throttled: AtomicBool,
    stats: Mutex<RestStats>,
}

impl Acc {
    fn record(&self, started: Instant, answer: Answer) {
        if matches!(answer, Ok((429, _))) {
            self.throttled.store(true, Ordering::Relaxed);
        }
        if started < self.from || started >= self.to {
            return;
        }
        let ns = started.elapsed().as_nanos() as u64;
        let mut s = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        s.requests += 1;
        let key = match answer {
            Ok((status, bytes)) => {
                s.bytes += bytes;
                if status == self.ok_status {
                    s.ok += 1;
                    record_ns(&mut s.latency, ns);
                }
                status.to_string()
            }
            Err(e) => format!("error: {e}"),
        };
        *s.statuses.entry(key).or_default() += 1;
    }
}

/// Runs the load; returns the stats and the processes' usage over the measured
/// window (snapshots taken when it opens and closes, so warm-up CPU is left out).
pub async fn drive<F, Fut>(
    load: &RestLoad,
    ok_status: u16,
    watch: &Watch,
    make: F,
) -> Result<(RestStats, Usage)>
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Answer> + Send + 'static,
{
    let from = Instant::now() + Duration::from_secs_f64(load.warmup.max(0.0));
    let to = from + Duration::from_secs_f64(load.duration);
    let mode = match load.rate {
        Some(r) => format!("open loop, {r} req/s"),
        None => format!("closed loop, {} workers", load.concurrency),
    };
    let acc = Arc::new(Acc {
        from,
        to,
        ok_status,
        throttled: AtomicBool::new(false),
        stats: Mutex::new(RestStats {
            statuses: BTreeMap::new(),
            ok: 0,
            requests: 0,
            skipped: 0,
            bytes: 0,
            latency: new_histogram(),
            window: to - from,
            mode,
        }),
    });
    let make = Arc::new(make);
    let snaps = {
        let watch = watch.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(from.into()).await;
            let a = watch.snap();
            tokio::time::sleep_until(to.into()).await;
            (a, watch.snap())
        })
    };
    match load.rate {
        Some(rate) if rate > 0.0 => {
            let inflight = Arc::new(AtomicUsize::new(0));
            let seconds = load.warmup.max(0.0) + load.duration;
            pace(rate, seconds, |k| {
                if acc.throttled.load(Ordering::Relaxed) {
                    return;
                }
                if inflight.load(Ordering::Relaxed) >= load.max_inflight {
                    let now = Instant::now();
                    if now >= from && now < to {
                        acc.stats.lock().unwrap_or_else(|e| e.into_inner()).skipped += 1;
                    }
                    return;
                }
                inflight.fetch_add(1, Ordering::Relaxed);
                let (acc, make, inflight) = (acc.clone(), make.clone(), inflight.clone());
                tokio::spawn(async move {
                    let started = Instant::now();
                    let answer = make(k).await;
                    acc.record(started, answer);
                    inflight.fetch_sub(1, Ordering::Relaxed);
                });
            })
            .await;
            // Let the last requests finish (bounded: a dead server must not hang us).
            let deadline = Instant::now() + Duration::from_secs(30);
            while inflight.load(Ordering::Relaxed) > 0 && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        Some(_) => bail!("--rate must be positive"),
        None => {
            let next = Arc::new(AtomicU64::new(0));
            let workers: Vec<_> = (0..load.concurrency.max(1))
                .map(|_| {
                    let (acc, make, next) = (acc.clone(), make.clone(), next.clone());
                    tokio::spawn(async move {
                        while Instant::now() < acc.to && !acc.throttled.load(Ordering::Relaxed) {
                            let k = next.fetch_add(1, Ordering::Relaxed);
                            let started = Instant::now();
                            let answer = make(k).await;
                            acc.record(started, answer);
                        }
                    })
                })
                .collect();
            for w in workers {
                let _ = w.await;
            }
        }
    }
    if acc.throttled.load(Ordering::Relaxed) {
        bail!("{THROTTLE_HINT}");
    }
    let stats = std::mem::replace(
        &mut *acc.stats.lock().unwrap_or_else(|e| e.into_inner()),
        RestStats {
            statuses: BTreeMap::new(),
            ok: 0,
            requests: 0,
            skipped: 0,
            bytes: 0,
            latency: new_histogram(),
            window: Duration::ZERO,
            mode: String::new(),
        },
    );
    let (a, b) = snaps.await?;
    Ok((stats, Usage::between(&a, &b)))
}

/// Sends one request and reads the whole body; `Err` only when no status came back.
pub async fn answer(req: reqwest::RequestBuilder) -> Answer {
    let res = req.send().await.map_err(|e| short(&e))?;
    let status = res.status().as_u16();
    let body = res.bytes().await.map_err(|e| short(&e))?;
    Ok((status, body.len() as u64))
}

/// reqwest's errors nest their cause; the status tally wants one short line.
fn short(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        "connect".into()
    } else {
        "request".into()
    }
}
