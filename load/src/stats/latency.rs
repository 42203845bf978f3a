//! Latency distributions. Samples are nanoseconds, recorded in microseconds into
//! HDR histograms (3 significant digits, so p99 is exact to 0.1%), reported in
//! milliseconds with 3 decimals like load.js.
//!
//! One histogram per socket would cost ~40 KiB x 20,000 sockets, so sockets buffer
//! a few samples locally and flush them into one of a few shared, mutex-guarded
//! shards: one lock per 128 deliveries, and two worker threads rarely meet.

use std::sync::Mutex;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Highest recordable latency: one hour, in microseconds; larger values saturate.
const MAX_US: u64 = 3_600_000_000;
const SHARDS: usize = 8;
const BUF: usize = 128;

pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_US, 3).expect("valid histogram bounds")
}

pub fn record_ns(h: &mut Histogram<u64>, ns: u64) {
    h.saturating_record((ns / 1000).clamp(1, MAX_US));
}

/// The shape load.js prints: count and p50/p90/p99/max in ms (null when empty).
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Summary {
    pub count: u64,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
}

impl Summary {
    pub fn of(h: &Histogram<u64>) -> Self {
        let ms = |us: u64| Some(crate::util::round3(us as f64 / 1000.0));
        if h.is_empty() {
            return Self {
                count: 0,
                p50: None,
                p90: None,
                p99: None,
                max: None,
            };
        }
        Self {
            count: h.len(),
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            max: ms(h.max()),
        }
    }

    /// "p50 / p90 / p99 / max" for the table.
    pub fn line(&self) -> String {
        let f = |v: Option<f64>| v.map_or("-".to_owned(), |v| v.to_string());
        format!(
            "{} / {} / {} / {}",
            f(self.p50),
            f(self.p90),
            f(self.p99),
            f(self.max)
        )
    }
}

/// Shared sharded histograms that per-socket buffers flush into.
pub struct Sink {
    shards: Vec<Mutex<Histogram<u64>>>,
}

impl Default for Sink {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(new_histogram())).collect(),
        }
    }
}

impl Sink {
    fn flush(&self, shard: usize, samples: &mut Vec<u64>) {
        if samples.is_empty() {
            return;
        }
        let mut h = self.shards[shard % SHARDS]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for &ns in samples.iter() {
            record_ns(&mut h, ns);
        }
        samples.clear();
    }

    /// All shards merged.
    pub fn merged(&self) -> Histogram<u64> {
        let mut all = new_histogram();
        for s in &self.shards {
            let h = s.lock().unwrap_or_else(|e| e.into_inner());
            all.add(&*h).expect("same bounds");
        }
        all
    }
}

/// A socket's few unflushed samples; `shard` spreads sockets over the sink's locks.
pub struct Buf {
    shard: usize,
    samples: Vec<u64>,
}

impl Buf {
    pub fn new(shard: usize) -> Self {
        // Allocated on first use: most sockets of a connect run never record.
        Self {
            shard,
            samples: Vec::new(),
        }
    }

    pub fn record(&mut self, sink: &Sink, ns: u64) {
        if self.samples.capacity() == 0 {
            self.samples.reserve_exact(BUF);
        }
        self.samples.push(ns);
        if self.samples.len() >= BUF {
            sink.flush(self.shard, &mut self.samples);
        }
    }

    pub fn flush(&mut self, sink: &Sink) {
        sink.flush(self.shard, &mut self.samples);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffered_samples_all_reach_the_sink() {
        let sink = Sink::default();
        let mut a = Buf::new(0);
        let mut b = Buf::new(3);
        for i in 1..=1000u64 {
            a.record(&sink, i * 1_000_000); // 1..1000 ms
            b.record(&sink, 5_000_000);
        }
        a.flush(&sink);
        b.flush(&sink);
        let s = Summary::of(&sink.merged());
        assert_eq!(s.count, 2000);
        assert!((s.max.unwrap() - 1000.0).abs() < 1.0, "{s:?}");
        assert!((s.p50.unwrap() - 5.0).abs() < 0.01, "{s:?}");
    }

    #[test]
    fn empty_summary_is_null() {
        let s = Summary::of(&new_histogram());
        assert_eq!((s.count, s.p50, s.max), (0, None, None));
    }
}
