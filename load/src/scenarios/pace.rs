//! Open-loop pacing and the driver's own scheduling delay.
//!
//! Message i is due at start + i / rate, whatever happened to earlier ones: a slow
//! server cannot slow the offered load (no coordinated omission). One timer wakes
//! for the next due message and dispatches every message that is due by then, so
//! the cost is one wake-up per timer tick, not one task or timer per message.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::task::JoinHandle;

use crate::stats::latency::{new_histogram, record_ns, Summary};

pub struct Paced {
    pub sent: u64,
    /// worst lateness of a dispatch versus its due time
    pub max_lag: Duration,
    /// from the start to the end of the period (or the last dispatch, if later)
    pub window: Duration,
}

/// Calls `dispatch(i)` for i = 0, 1, ... at `rate` per second for `seconds`.
pub async fn pace(rate: f64, seconds: f64, mut dispatch: impl FnMut(u64)) -> Paced {
    // Message i is due at i / rate seconds; those due strictly before `seconds` are
    // sent (10 s at 300/s is 3000 messages). Computing each due time from i, not by
    // adding a rounded interval, keeps float error from adding a message.
    let total = (seconds * rate - 1e-6).ceil().max(0.0) as u64;
    let due = |i: u64| Duration::from_secs_f64(i as f64 / rate);
    let start = Instant::now();
    let mut i: u64 = 0;
    let mut max_lag = Duration::ZERO;
    while i < total {
        let elapsed = start.elapsed();
        while i < total && due(i) <= elapsed {
            max_lag = max_lag.max(elapsed - due(i));
            dispatch(i);
            i += 1;
        }
        if i < total {
            tokio::time::sleep_until((start + due(i)).into()).await;
        }
    }
    // The window is the whole sending period, even when the last message was due
    // before its end.
    let end = start + Duration::from_secs_f64(seconds);
    tokio::time::sleep_until(end.into()).await;
    Paced {
        sent: i,
        max_lag,
        window: start.elapsed(),
    }
}

/// How late the runtime wakes a 5 ms timer: the analogue of Node's event-loop delay.
/// When the tool is CPU-starved its timestamps are late too, and this shows it.
pub struct DelayProbe {
    stop: Arc<AtomicBool>,
    task: JoinHandle<Histogram<u64>>,
}

impl DelayProbe {
    pub fn start() -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let mut h = new_histogram();
            while !flag.load(Ordering::Relaxed) {
                let deadline = Instant::now() + Duration::from_millis(5);
                tokio::time::sleep_until(deadline.into()).await;
                record_ns(
                    &mut h,
                    Instant::now()
                        .saturating_duration_since(deadline)
                        .as_nanos() as u64,
                );
            }
            h
        });
        Self { stop, task }
    }

    pub async fn finish(self) -> Summary {
        self.stop.store(true, Ordering::Relaxed);
        let h = self.task.await.unwrap_or_else(|_| new_histogram());
        Summary::of(&h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn paces_the_expected_count() {
        let mut seen = Vec::new();
        let p = pace(200.0, 0.1, |i| seen.push(i)).await;
        assert_eq!(p.sent, 20);
        let p = pace(300.0, 0.1, |_| {}).await;
        assert_eq!(p.sent, 30, "no extra message from float rounding");
        assert_eq!(seen, (0..20).collect::<Vec<_>>());
        assert!(p.window >= Duration::from_millis(95), "{:?}", p.window);
    }
}
