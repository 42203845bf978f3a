//! The report both REST scenarios print: throughput, latency, status counts, CPU.

use serde_json::{json, Value};

use super::rest::RestStats;
use crate::cli::{Common, RestLoad};
use crate::procwatch::Usage;
use crate::report::Report;
use crate::stats::latency::Summary;
use crate::util::round3;

pub struct RestRun<'a> {
    pub mode: &'static str,
    pub common: &'a Common,
    pub load: &'a RestLoad,
    pub stats: &'a RestStats,
    pub usage: &'a Usage,
    pub has_servers: bool,
    /// scenario-specific fields (users, chats, prefill...) merged into the JSON
    pub extra: Value,
    /// the status that counts as success (201 for sends, 200 for reads)
    pub ok_status: u16,
}

pub fn build(run: RestRun) -> Report {
    let s = run.stats;
    let u = run.usage;
    let window = s.window.as_secs_f64();
    let latency = Summary::of(&s.latency);
    let per_1000 = |cpu: f64| (s.ok > 0).then(|| round3(cpu * 1000.0 / s.ok as f64));
    let mut json = json!({
        "mode": run.mode, "tool": "webchat-load", "target": "webchat",
        "date": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "urls": run.common.urls, "load": s.mode, "rate": run.load.rate,
        "concurrency": run.load.concurrency, "duration_s": run.load.duration,
        "warmup_s": run.load.warmup, "requests": s.requests, "ok": s.ok,
        "ok_status": run.ok_status, "statuses": s.statuses, "skipped_max_inflight": s.skipped,
        "response_bytes": s.bytes,
        "requests_per_s": round3(s.requests as f64 / window),
        "ok_per_s": round3(s.ok as f64 / window),
        "latency_ms": latency,
        "driver": {"cpu_s": u.driver_cpu_s, "cpu_s_per_1000_requests": per_1000(u.driver_cpu_s)},
        "usage": u,
    });
    if run.has_servers {
        json["server_cpu_s_per_1000_requests"] = per_1000(u.server_cpu_s).into();
    }
    if let (Value::Object(m), Value::Object(extra)) = (&mut json, run.extra) {
        m.extend(extra);
    }
    let mut r = Report::new(json);
    r.row("target", format!("webchat ({})", run.common.urls.join(" ")));
    r.row(
        "load",
        format!(
            "{}, {} s measured (+{} s warm-up)",
            s.mode, run.load.duration, run.load.warmup
        ),
    );
    r.row(
        "requests (ok) per second",
        format!(
            "{} ({})",
            round3(s.requests as f64 / window),
            round3(s.ok as f64 / window)
        ),
    );
    r.row(
        "requests / ok / skipped",
        format!("{} / {} / {}", s.requests, s.ok, s.skipped),
    );
    r.row(
        "statuses",
        serde_json::to_string(&s.statuses).unwrap_or_default(),
    );
    r.row("latency ms p50/p90/p99/max (ok only)", latency.line());
    r.row(
        "driver cpu s (per 1000 ok)",
        format!("{} ({})", u.driver_cpu_s, fmt_opt(per_1000(u.driver_cpu_s))),
    );
    if run.has_servers {
        r.row(
            "servers: cpu s (per 1000 ok)",
            format!("{} ({})", u.server_cpu_s, fmt_opt(per_1000(u.server_cpu_s))),
        );
        r.row(
            "servers: RSS MiB before -> after",
            format!("{} -> {}", u.server_rss_before_mib, u.server_rss_after_mib),
        );
    }
    u.rows(r.rows_mut());
    let bad = s.requests - s.ok;
    r.fail_if(
        bad > 0,
        format!("{bad} requests did not answer {}", run.ok_status),
    );
    r.check_servers(u);
    r
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or("-".to_owned(), |v| v.to_string())
}
