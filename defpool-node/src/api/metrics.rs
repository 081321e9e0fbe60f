//! Prometheus text exposition at `/metrics`: session capacity and refusals, share
//! counts, share-sink throughput and back-pressure.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

use super::AppState;

pub async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    let mut out = String::with_capacity(2048);
    let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    };
    if let Some(st) = &s.stratum {
        metric(
            "defpool_stratum_sessions",
            "gauge",
            "Open miner sessions.",
            st.sessions.load(Ordering::Relaxed) as u64,
        );
        metric(
            "defpool_stratum_max_sessions",
            "gauge",
            "Sessions the file-descriptor limit allows.",
            st.max_sessions as u64,
        );
        metric(
            "defpool_stratum_refused_full_total",
            "counter",
            "Connections refused because the node was at its session limit.",
            st.refused_full.load(Ordering::Relaxed),
        );
        metric(
            "defpool_stratum_refused_banned_total",
            "counter",
            "Connections refused because their address is banned.",
            st.refused_banned.load(Ordering::Relaxed),
        );
        metric(
            "defpool_stratum_tls_handshake_failures_total",
            "counter",
            "Connections to a TLS port that failed or timed out in the TLS handshake.",
            st.tls_handshake_failures.load(Ordering::Relaxed),
        );
        metric(
            "defpool_shares_accepted_total",
            "counter",
            "Shares accepted.",
            st.shares_accepted.load(Ordering::Relaxed),
        );
        metric(
            "defpool_shares_rejected_total",
            "counter",
            "Shares rejected.",
            st.shares_rejected.load(Ordering::Relaxed),
        );
        metric(
            "defpool_blocks_found_total",
            "counter",
            "Blocks accepted by a daemon.",
            st.blocks_found.load(Ordering::Relaxed),
        );
    }
    let sink = s.sink.stats();
    metric(
        "defpool_share_sink_written_total",
        "counter",
        "Shares written to the database.",
        sink.written.load(Ordering::Relaxed),
    );
    metric(
        "defpool_share_sink_batches_total",
        "counter",
        "Share batches written.",
        sink.batches.load(Ordering::Relaxed),
    );
    metric(
        "defpool_share_sink_backpressure_waits_total",
        "counter",
        "Times a session waited because the share queue was full.",
        sink.backpressure_waits.load(Ordering::Relaxed),
    );
    metric(
        "defpool_share_sink_write_errors_total",
        "counter",
        "Failed share batch writes (retried).",
        sink.write_errors.load(Ordering::Relaxed),
    );
    ([(CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}
