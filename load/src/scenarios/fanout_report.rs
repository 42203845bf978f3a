//! Sums what every socket saw into the fanout report: load.js's fields (same names,
//! same meaning, so compare.sh-style scripts read both), plus gaps and the verdict.
//!
//! One deliberate difference: `deliveries_expected` is acked sends x members (a send
//! the server refused creates nothing to deliver); load.js uses sent x members, kept
//! here as `deliveries_expected_if_all_sent`.

use serde_json::json;

use super::fanout_totals::totals;
use super::pace::Paced;
use crate::cli::FanoutArgs;
use crate::client::socket::Finished;
use crate::client::state::Shared;
use crate::procwatch::Usage;
use crate::setup::Layout;
use crate::stats::latency::Summary;
use crate::util::round3;

pub struct Inputs<'a> {
    pub args: &'a FanoutArgs,
    pub layout: &'a Layout,
    pub shared: &'a Shared,
    pub finished: &'a [Finished],
    pub senders: usize,
    pub sent_per_chat: &'a [u64],
    pub paced: &'a Paced,
    pub connect_s: f64,
    pub usage: &'a Usage,
    pub has_servers: bool,
    pub loop_delay: Summary,
}

pub fn build(i: Inputs) -> crate::report::Report {
    let a = i.args;
    let t = totals(i.layout, i.finished);
    let members = |k: usize| i.layout.chats[k].len() as u64;
    let expected: u64 = (0..i.layout.chats.len())
        .map(|k| t.acks_per_chat[k] * members(k))
        .sum();
    let expected_all: u64 = (0..i.layout.chats.len())
        .map(|k| i.sent_per_chat[k] * members(k))
        .sum();
    let sent = i.paced.sent;
    debug_assert_eq!(sent, i.sent_per_chat.iter().sum::<u64>());
    let acks: u64 = t.acks_per_chat.iter().sum();
    let unique = t.unique_sending + t.unique_drain;
    let lost = expected as i64 - unique as i64;
    let never = lost - t.late as i64;
    let window = i.paced.window.as_secs_f64();
    let per_s = |v: u64| round3(v as f64 / window);
    let latency = Summary::of(&i.shared.latency.merged());
    let ack_latency = Summary::of(&i.shared.ack_latency.merged());
    let u = i.usage;
    let per_1000 = |cpu: f64| (unique > 0).then(|| round3(cpu * 1000.0 / unique as f64));
    let ov_per_chat: Vec<u64> = t
        .order_per_chat
        .iter()
        .map(|o| o.order_violations)
        .collect();
    let gaps_per_chat: Vec<u64> = t.order_per_chat.iter().map(|o| o.gaps).collect();
    let chats_hit = ov_per_chat.iter().filter(|&&v| v > 0).count();
    let sample = format!("r{} t123456789012 s999 n99999 w0", i.shared.run);
    let content_bytes = sample.len() + if a.size > 0 { a.size + 2 } else { 0 };

    let mut json = json!({
        "mode": "fanout", "tool": "webchat-load", "target": "webchat", "client": a.client.name(),
        "date": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "urls": a.common.urls, "conns": a.conns, "members": a.members,
        "chats": i.layout.chats.len(), "senders": i.senders, "rate": a.rate,
        "duration_s": a.duration, "drain_s": a.drain, "warmup_s": a.warmup,
        "content_bytes_approx": content_bytes, "connect_s": round3(i.connect_s),
        "sent": sent, "sent_written": t.sent_written, "send_failed": t.send_failed,
        "acks": acks, "ack_errors": t.ack_errors, "error_frames": t.error_frames,
        "deliveries_expected": expected, "deliveries_expected_if_all_sent": expected_all,
        "deliveries_received": t.received, "lost": lost, "duplicates": t.order.duplicates,
        "order_violations": t.order.order_violations,
        "order_violations_per_chat": ov_per_chat, "chats_with_order_violations": chats_hit,
        "gaps": t.order.gaps, "gap_missing_seqs": t.order.gap_missing, "gaps_per_chat": gaps_per_chat,
        "seqs_never_seen": t.holes,
        "warmup_integrity": {"duplicates": t.warm_order.duplicates,
            "order_violations": t.warm_order.order_violations, "gaps": t.warm_order.gaps},
        "foreign_deliveries": t.foreign, "late_deliveries_after_drain": t.late,
        "late_window_s": a.late, "never_delivered": never,
        "warmup_deliveries_ignored": t.warm, "other_frames": t.other_frames,
        "protocol_errors": t.protocol_errors, "first_protocol_error": t.first_protocol_error,
        "unacked_sends_at_end": t.unacked, "connection_drops": t.drops, "first_drop": t.first_drop,
        "send_window_s": round3(window), "achieved_send_rate": per_s(sent),
        "deliveries_per_s": per_s(unique), "deliveries_per_s_while_sending": per_s(t.unique_sending),
        "latency_ms": latency, "ack_latency_ms": ack_latency,
        "driver": {
            "cpu_s": u.driver_cpu_s, "cpu_user_s": u.driver_cpu_user_s,
            "cpu_system_s": u.driver_cpu_system_s,
            "event_loop_delay_p99_ms": i.loop_delay.p99, "event_loop_delay_max_ms": i.loop_delay.max,
            "max_send_lag_ms": round3(i.paced.max_lag.as_secs_f64() * 1000.0),
            "cpu_s_per_1000_deliveries": per_1000(u.driver_cpu_s),
        },
        "usage": u,
    });
    if i.has_servers {
        json["server_cpu_s_per_1000_deliveries"] = per_1000(u.server_cpu_s).into();
    }

    let mut r = crate::report::Report::new(json);
    let urls = a.common.urls.join(" ");
    r.row(
        "target (client)",
        format!("webchat ({urls}) (client {})", a.client.name()),
    );
    r.row(
        "connections / chats x members",
        format!("{} / {} x {}", a.conns, i.layout.chats.len(), a.members),
    );
    r.row(
        "senders, rate, duration",
        format!(
            "{} senders, {} msg/s total, {} s (+{} s drain)",
            i.senders, a.rate, a.duration, a.drain
        ),
    );
    r.row(
        "messages sent (achieved rate)",
        format!("{sent} ({}/s)", per_s(sent)),
    );
    r.row(
        "acks ok / ack errors",
        format!(
            "{acks} / {}",
            serde_json::to_string(&t.ack_errors).unwrap_or_default()
        ),
    );
    r.row("deliveries expected (acked x members)", expected);
    r.row("deliveries received", t.received);
    r.row("lost (by drain end)", lost);
    r.row("duplicates", t.order.duplicates);
    r.row(
        "order violations (chats hit)",
        format!(
            "{} ({chats_hit} of {})",
            t.order.order_violations,
            i.layout.chats.len()
        ),
    );
    r.row(
        "gaps (seqs skipped / never seen)",
        format!("{} ({} / {})", t.order.gaps, t.order.gap_missing, t.holes),
    );
    r.row(
        "deliveries per second (by drain end / while sending)",
        format!("{} / {}", per_s(unique), per_s(t.unique_sending)),
    );
    r.row("latency ms p50/p90/p99/max", latency.line());
    r.row("ack latency ms p50/p90/p99/max", ack_latency.line());
    r.row(
        "late (within --late s after drain)",
        format!("{} (never arrived: {never})", t.late),
    );
    r.row(
        "drops / foreign / unacked at end",
        format!("{} / {} / {}", t.drops, t.foreign, t.unacked),
    );
    if !t.error_frames.is_empty() {
        r.row(
            "error frames",
            serde_json::to_string(&t.error_frames).unwrap_or_default(),
        );
    }
    if t.protocol_errors > 0 {
        r.row(
            "protocol errors (first)",
            format!(
                "{} ({})",
                t.protocol_errors,
                t.first_protocol_error.clone().unwrap_or_default()
            ),
        );
    }
    r.row(
        "driver: cpu s, loop delay p99/max ms, send lag max ms",
        format!(
            "{} s, {} / {}, {}",
            u.driver_cpu_s,
            i.loop_delay.p99.unwrap_or(0.0),
            i.loop_delay.max.unwrap_or(0.0),
            round3(i.paced.max_lag.as_secs_f64() * 1000.0)
        ),
    );
    r.row(
        "driver cpu s / 1000 deliveries",
        fmt_opt(per_1000(u.driver_cpu_s)),
    );
    if i.has_servers {
        r.row("servers: cpu s (total)", u.server_cpu_s);
        r.row(
            "servers: cpu s / 1000 deliveries",
            fmt_opt(per_1000(u.server_cpu_s)),
        );
        r.row(
            "servers: RSS MiB before -> after",
            format!("{} -> {}", u.server_rss_before_mib, u.server_rss_after_mib),
        );
    }
    u.rows(r.rows_mut());

    r.fail_if(
        never > 0,
        format!("{never} deliveries never arrived (lost)"),
    );
    r.fail_if(
        t.order.duplicates > 0,
        format!("{} duplicate deliveries", t.order.duplicates),
    );
    r.fail_if(
        t.order.order_violations > 0,
        format!("{} order violations", t.order.order_violations),
    );
    r.fail_if(
        t.holes > 0,
        format!("{} seqs skipped and never delivered", t.holes),
    );
    r.fail_if(
        t.protocol_errors > 0,
        format!("{} protocol errors", t.protocol_errors),
    );
    // A dropped socket stops receiving, and sends on it fail instead of being
    // counted as lost: fail on the drop itself.
    let first_drop = t.first_drop.as_deref().unwrap_or("");
    r.fail_if(
        t.drops > 0,
        format!(
            "{} sockets closed by the server (first: {first_drop})",
            t.drops
        ),
    );
    r.check_servers(u);
    r
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or("-".to_owned(), |v| v.to_string())
}
