//! Turns the workers' raw records into the summary (JSON) and its human rendering.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::worker::{GenKey, Gens, Shared, WorkerResult};

pub struct Input<'a> {
    pub target: SocketAddr,
    pub sessions: usize,
    pub sources: &'a [IpAddr],
    pub threads: usize,
    pub shared: &'a Shared,
    pub results: Vec<WorkerResult>,
    pub gens: Gens,
    pub ramp_seconds: Option<f64>,
    pub stopped_at: Instant,
    pub settle: Duration,
    pub jobs: Option<usize>,
    pub stop_reason: String,
    pub user_timestamps_forced: bool,
    /// Host-wide `ListenOverflows` increase during the run.
    pub listen_overflows: Option<u64>,
}

/// Nearest-rank percentile of sorted values.
pub(crate) fn pct(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub(crate) fn ms(ns: u64) -> f64 {
    (ns as f64 / 1e6 * 1000.0).round() / 1000.0
}

/// p50/p99/max in milliseconds (µs precision); `null` when there is no sample.
pub(crate) fn latency(mut v: Vec<u64>) -> Value {
    if v.is_empty() {
        return Value::Null;
    }
    v.sort_unstable();
    json!({
        "samples": v.len(),
        "p50": ms(pct(&v, 50.0)),
        "p99": ms(pct(&v, 99.0)),
        "max": ms(*v.last().unwrap_or(&0)),
    })
}

pub fn summarize(input: Input<'_>) -> Value {
    let Input {
        target,
        sessions,
        sources,
        threads,
        shared,
        results,
        gens,
        ramp_seconds,
        stopped_at,
        settle,
        jobs,
        stop_reason,
        user_timestamps_forced,
        listen_overflows,
    } = input;
    let mut connect = Vec::new();
    let mut login = Vec::new();
    let mut failures: HashMap<String, usize> = HashMap::new();
    let mut by_gen: HashMap<GenKey, Vec<i64>> = HashMap::new();
    let (mut kernel, mut user, mut refused, mut repeats, mut protocol_errors) =
        (0usize, 0usize, 0usize, 0usize, 0usize);
    for r in results {
        connect.extend(r.connect_lat_ns);
        login.extend(r.login_lat_ns);
        for (k, v) in r.failures {
            *failures.entry(k).or_insert(0) += v;
        }
        for n in r.notes {
            if n.kernel {
                kernel += 1;
            } else {
                user += 1;
            }
            by_gen.entry(n.key).or_default().push(n.ts_ns);
        }
        refused += r.timestamps_refused;
        repeats += r.repeats;
        protocol_errors += r.protocol_errors;
    }
    let logged_in = shared.logged_in.load(Ordering::Relaxed);
    let dropped = shared.dropped.load(Ordering::Relaxed);
    let alive = logged_in.saturating_sub(dropped);

    let mut generations = Vec::new();
    let mut pooled = Vec::new();
    let mut worst_p99 = 0u64;
    let mut counted = 0usize;
    for (index, key) in gens.order.iter().enumerate() {
        let live = &gens.map[key];
        let mut ts = by_gen.remove(key).unwrap_or_default();
        ts.sort_unstable();
        let first = ts.first().copied().unwrap_or(0);
        let lat: Vec<u64> = ts.iter().map(|t| (t - first).max(0) as u64).collect();
        let complete =
            lat.len() >= alive || stopped_at.saturating_duration_since(live.first_seen) >= settle;
        let in_summary = !live.during_ramp && complete && jobs.is_none_or(|k| counted < k);
        if in_summary {
            counted += 1;
            worst_p99 = worst_p99.max(pct(&lat, 99.0));
            pooled.extend_from_slice(&lat);
        }
        let spread = lat.last().copied().unwrap_or(0);
        generations.push(json!({
            "index": index + 1,
            "height": key.0,
            "during_ramp": live.during_ramp,
            "complete": complete,
            "counted": in_summary,
            "sessions": lat.len(),
            "spread_ms": ms(spread),
            "latency_ms": latency(lat),
        }));
    }

    let timestamp_source = match (kernel, user) {
        (0, 0) if user_timestamps_forced => "user-space (forced)",
        (0, 0) => "none received",
        (_, 0) => "kernel (SO_TIMESTAMPNS)",
        (0, _) if user_timestamps_forced => "user-space (forced)",
        (0, _) => "user-space (kernel gave none)",
        _ => "mixed",
    };
    let mut failure_list: Vec<(String, usize)> = failures.into_iter().collect();
    failure_list.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    json!({
        "target": target.to_string(),
        "sessions_requested": sessions,
        "source_addresses": sources.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        "threads": threads,
        "connected": shared.connected.load(Ordering::Relaxed),
        "logged_in": logged_in,
        "login_failed": shared.login_failed.load(Ordering::Relaxed),
        "login_failures": failure_list.iter().map(|(k, v)| json!({"reason": k, "count": v})).collect::<Vec<_>>(),
        "dropped_after_login": dropped,
        "alive_at_end": alive,
        "ramp_seconds": ramp_seconds,
        "logins_per_second": ramp_seconds.map(|s| (logged_in as f64 / s.max(1e-9)).round() as u64),
        "connect_latency_ms": latency(connect),
        "listen_overflows_during_run": listen_overflows,
        "login_latency_ms": latency(login),
        "timestamp_source": timestamp_source,
        "timestamps": {"kernel": kernel, "user_space": user, "sockets_refusing_so_timestampns": refused},
        "repeated_jobs": repeats,
        "protocol_errors": protocol_errors,
        "generations": generations,
        "fanout": {
            "generations": counted,
            "notifications": pooled.len(),
            "worst_generation_p99_ms": if counted > 0 { Value::from(ms(worst_p99)) } else { Value::Null },
            "latency_ms": latency(pooled),
        },
        "stop_reason": stop_reason,
    })
}

pub(crate) fn f(v: &Value) -> String {
    match v.as_f64() {
        Some(x) => format!("{x:.3}"),
        None => "-".to_string(),
    }
}

pub(crate) fn lat_line(v: &Value) -> String {
    if v.is_null() {
        return "no samples".to_string();
    }
    format!(
        "p50 {} ms  p99 {} ms  max {} ms  ({} samples)",
        f(&v["p50"]),
        f(&v["p99"]),
        f(&v["max"]),
        v["samples"]
    )
}

pub fn human(s: &Value) -> String {
    let mut o = String::new();
    let sources = s["source_addresses"].as_array().map_or(0, Vec::len);
    let _ = writeln!(
        o,
        "target {}  sessions {}  source addresses {}  threads {}",
        s["target"].as_str().unwrap_or(""),
        s["sessions_requested"],
        if sources == 0 {
            "kernel's choice".to_string()
        } else {
            sources.to_string()
        },
        s["threads"]
    );
    let _ = writeln!(
        o,
        "sessions: {} connected, {} logged in, {} failed, {} dropped after login, {} alive at the end",
        s["connected"], s["logged_in"], s["login_failed"], s["dropped_after_login"], s["alive_at_end"]
    );
    for fl in s["login_failures"].as_array().into_iter().flatten() {
        let _ = writeln!(
            o,
            "  failure x{}: {}",
            fl["count"],
            fl["reason"].as_str().unwrap_or("")
        );
    }
    if let Some(r) = s["ramp_seconds"].as_f64() {
        let _ = writeln!(o, "ramp: {r:.2} s ({} logins/s)", s["logins_per_second"]);
    }
    let _ = writeln!(o, "connect latency: {}", lat_line(&s["connect_latency_ms"]));
    let _ = writeln!(o, "login latency:   {}", lat_line(&s["login_latency_ms"]));
    if let Some(n) = s["listen_overflows_during_run"].as_u64().filter(|n| *n > 0) {
        let _ = writeln!(
            o,
            "warning: {n} SYNs dropped by full accept queues on this host during the run \
             (TcpExt ListenOverflows): connects retried after 1 s; lower --max-pending or --ramp-per-sec"
        );
    }
    let ts = &s["timestamps"];
    let _ = writeln!(
        o,
        "receive timestamps: {} ({} kernel, {} user-space)",
        s["timestamp_source"].as_str().unwrap_or(""),
        ts["kernel"],
        ts["user_space"]
    );
    let gens = s["generations"].as_array().cloned().unwrap_or_default();
    if !gens.is_empty() {
        let _ = writeln!(
            o,
            "job fan-out per generation (latency from the first receive of the generation):"
        );
        let _ = writeln!(
            o,
            "  {:>4} {:>8} {:>9} {:>10} {:>9} {:>9} {:>9}  note",
            "gen", "height", "sessions", "spread ms", "p50 ms", "p99 ms", "max ms"
        );
        for g in &gens {
            let l = &g["latency_ms"];
            let note = if g["during_ramp"].as_bool() == Some(true) {
                "during ramp, not counted"
            } else if g["complete"].as_bool() != Some(true) {
                "incomplete, not counted"
            } else if g["counted"].as_bool() != Some(true) {
                "beyond --jobs, not counted"
            } else {
                ""
            };
            let _ = writeln!(
                o,
                "  {:>4} {:>8} {:>9} {:>10} {:>9} {:>9} {:>9}  {note}",
                g["index"].to_string(),
                g["height"].to_string(),
                g["sessions"].to_string(),
                f(&g["spread_ms"]),
                f(&l["p50"]),
                f(&l["p99"]),
                f(&l["max"])
            );
        }
    }
    let fo = &s["fanout"];
    let _ = writeln!(
        o,
        "fan-out over {} generation(s): {}; worst generation p99 {} ms",
        fo["generations"],
        lat_line(&fo["latency_ms"]),
        f(&fo["worst_generation_p99_ms"])
    );
    if s["repeated_jobs"].as_u64().unwrap_or(0) > 0
        || s["protocol_errors"].as_u64().unwrap_or(0) > 0
    {
        let _ = writeln!(
            o,
            "repeated jobs {}  protocol errors {}",
            s["repeated_jobs"], s["protocol_errors"]
        );
    }
    let _ = writeln!(o, "stopped: {}", s["stop_reason"].as_str().unwrap_or(""));
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(pct(&v, 50.0), 50);
        assert_eq!(pct(&v, 99.0), 99);
        assert_eq!(pct(&v, 100.0), 100);
        assert_eq!(pct(&[7], 99.0), 7);
        assert_eq!(pct(&[], 50.0), 0);
    }
}
