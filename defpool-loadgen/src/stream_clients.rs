//! `defpool-stream-clients`: opens N WebSocket clients on the node's live stream
//! (`GET /api/v1/stream`) and counts what each one receives for a fixed time: messages,
//! bytes, snapshots, events, resyncs, sequence gaps and closes, plus the delivery delay
//! of each event (receive time minus the event's `at`, both wall-clock milliseconds).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::header::{HeaderValue, AUTHORIZATION};
use tokio_tungstenite::tungstenite::Message;

#[derive(Parser, Debug)]
#[command(
    name = "defpool-stream-clients",
    about = "Opens N clients on a DefPool node's live stream and reports messages, bytes, \
             resyncs, closes and event delivery delay"
)]
struct Cli {
    /// Stream URL, e.g. ws://127.0.0.1:28190/api/v1/stream
    #[arg(long)]
    url: String,
    /// Admin token (sent as `Authorization: Bearer TOKEN`).
    #[arg(long)]
    token: Option<String>,
    /// Clients to open.
    #[arg(long, default_value_t = 100)]
    clients: usize,
    /// Seconds to stay connected (counted from the start of the run).
    #[arg(long, default_value_t = 30.0)]
    seconds: f64,
    /// Spread the connects evenly over this many seconds (0 = all at once). Each new
    /// client costs the node a snapshot, built from the database.
    #[arg(long, default_value_t = 0.0)]
    connect_spread: f64,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Default)]
struct ClientStats {
    connected: bool,
    connect_error: Option<String>,
    messages: u64,
    bytes: u64,
    snapshots: u64,
    events: u64,
    resyncs: u64,
    seq_gaps: u64,
    /// The node closed the connection (close frame, end of stream or error) before the end.
    closed_by_node: u64,
    close_reason: Option<String>,
    /// Seconds from the start of the run to the node's close.
    closed_at_s: Option<f64>,
    delays_ms: Vec<i64>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

async fn run_client(
    url: String,
    token: Option<String>,
    started_at: Instant,
    start_at: Instant,
    deadline: Instant,
) -> ClientStats {
    tokio::time::sleep_until(start_at.into()).await;
    let mut st = ClientStats::default();
    let mut request = match url.as_str().into_client_request() {
        Ok(r) => r,
        Err(e) => {
            st.connect_error = Some(e.to_string());
            return st;
        }
    };
    if let Some(t) = &token {
        match HeaderValue::from_str(&format!("Bearer {t}")) {
            Ok(v) => {
                request.headers_mut().insert(AUTHORIZATION, v);
            }
            Err(e) => {
                st.connect_error = Some(e.to_string());
                return st;
            }
        }
    }
    let ws = match tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::connect_async(request),
    )
    .await
    {
        Ok(Ok((ws, _))) => ws,
        Ok(Err(e)) => {
            st.connect_error = Some(e.to_string());
            return st;
        }
        Err(_) => {
            st.connect_error = Some("connect timed out (10 s)".into());
            return st;
        }
    };
    st.connected = true;
    let (mut sink, mut stream) = ws.split();
    let mut last_seq: Option<u64> = None;
    loop {
        let msg = tokio::select! {
            m = stream.next() => m,
            _ = tokio::time::sleep_until(deadline.into()) => {
                let _ = sink.send(Message::Close(None)).await;
                break;
            }
        };
        match msg {
            Some(Ok(Message::Text(t))) => {
                let recv = now_ms();
                st.messages += 1;
                st.bytes += t.len() as u64;
                let v: serde_json::Value = match serde_json::from_str(t.as_str()) {
                    Ok(v) => v,
                    Err(_) => continue,
                };
                let seq = v.get("seq").and_then(|s| s.as_u64());
                match v.get("type").and_then(|s| s.as_str()) {
                    Some("snapshot") => {
                        st.snapshots += 1;
                        last_seq = seq;
                    }
                    Some("event") => {
                        st.events += 1;
                        if let (Some(prev), Some(s)) = (last_seq, seq) {
                            if s != prev + 1 {
                                st.seq_gaps += 1;
                            }
                        }
                        last_seq = seq.or(last_seq);
                        if let Some(at) = v.get("at").and_then(|a| a.as_i64()) {
                            st.delays_ms.push(recv - at);
                        }
                    }
                    Some("resync") => st.resyncs += 1,
                    _ => {}
                }
            }
            Some(Ok(Message::Binary(b))) => {
                st.messages += 1;
                st.bytes += b.len() as u64;
            }
            Some(Ok(Message::Close(frame))) => {
                st.closed_by_node += 1;
                st.closed_at_s = Some(started_at.elapsed().as_secs_f64());
                st.close_reason = Some(match frame {
                    Some(f) => format!("{} {}", u16::from(f.code), f.reason),
                    None => "close without a code".into(),
                });
                break;
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                st.closed_by_node += 1;
                st.closed_at_s = Some(started_at.elapsed().as_secs_f64());
                st.close_reason = Some(e.to_string());
                break;
            }
            None => {
                st.closed_by_node += 1;
                st.closed_at_s = Some(started_at.elapsed().as_secs_f64());
                st.close_reason = Some("end of stream".into());
                break;
            }
        }
    }
    st
}

fn pct(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(cli.seconds);
    let results: Vec<ClientStats> = rt.block_on(async {
        let tasks: Vec<_> = (0..cli.clients)
            .map(|i| {
                let start_at = started
                    + Duration::from_secs_f64(cli.connect_spread * i as f64 / cli.clients as f64);
                tokio::spawn(run_client(
                    cli.url.clone(),
                    cli.token.clone(),
                    started,
                    start_at,
                    deadline,
                ))
            })
            .collect();
        let mut out = Vec::with_capacity(tasks.len());
        for t in tasks {
            out.push(t.await.unwrap_or_default());
        }
        out
    });
    let elapsed = started.elapsed().as_secs_f64();

    let connected = results.iter().filter(|r| r.connected).count();
    let sum = |f: fn(&ClientStats) -> u64| results.iter().map(f).sum::<u64>();
    let messages = sum(|r| r.messages);
    let bytes = sum(|r| r.bytes);
    let snapshots = sum(|r| r.snapshots);
    let events = sum(|r| r.events);
    let resyncs = sum(|r| r.resyncs);
    let seq_gaps = sum(|r| r.seq_gaps);
    let closes = sum(|r| r.closed_by_node);
    let mut delays: Vec<i64> = results
        .iter()
        .flat_map(|r| r.delays_ms.iter().copied())
        .collect();
    delays.sort_unstable();
    let (p50, p99, max) = (
        pct(&delays, 0.5),
        pct(&delays, 0.99),
        delays.last().copied().unwrap_or(0),
    );
    let per_client_events: Vec<u64> = results.iter().map(|r| r.events).collect();
    let min_events = per_client_events.iter().copied().min().unwrap_or(0);
    let max_events = per_client_events.iter().copied().max().unwrap_or(0);
    let mut errors: Vec<String> = results
        .iter()
        .filter_map(|r| r.connect_error.clone().or(r.close_reason.clone()))
        .collect();
    let mut close_times: Vec<f64> = results.iter().filter_map(|r| r.closed_at_s).collect();
    close_times.sort_by(|a, b| a.total_cmp(b));
    errors.sort();
    errors.dedup();

    if cli.json {
        let v = serde_json::json!({
            "clients": cli.clients,
            "connected": connected,
            "seconds": elapsed,
            "messages": messages,
            "bytes": bytes,
            "snapshots": snapshots,
            "events": events,
            "events_per_client": {"min": min_events, "max": max_events},
            "resyncs": resyncs,
            "seq_gaps": seq_gaps,
            "closes": closes,
            "errors": errors,
            "close_times_s": close_times,
            "delivery_delay_ms": {"samples": delays.len(), "p50": p50, "p99": p99, "max": max},
            "per_client": results.iter().map(|r| serde_json::json!({
                "connected": r.connected, "messages": r.messages, "bytes": r.bytes,
                "events": r.events, "resyncs": r.resyncs, "seq_gaps": r.seq_gaps,
                "closes": r.closed_by_node,
            })).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!(
            "stream clients: {connected}/{} connected, {elapsed:.1} s",
            cli.clients
        );
        println!(
            "messages: {messages} ({:.1}/s per client), bytes: {bytes} ({:.1} KB/s per client)",
            messages as f64 / elapsed / cli.clients.max(1) as f64,
            bytes as f64 / 1000.0 / elapsed / cli.clients.max(1) as f64
        );
        println!(
            "snapshots: {snapshots}, events: {events} (per client {min_events}..{max_events}), resyncs: {resyncs}, seq gaps: {seq_gaps}, closes by node: {closes}"
        );
        println!(
            "delivery delay (receive - at): {} samples, p50 {p50} ms, p99 {p99} ms, max {max} ms",
            delays.len()
        );
        if let (Some(first), Some(last)) = (close_times.first(), close_times.last()) {
            println!(
                "node closed {} client(s) between {first:.1} s and {last:.1} s (median {:.1} s)",
                close_times.len(),
                close_times[close_times.len() / 2]
            );
        }
        for e in &errors {
            println!("error/close: {e}");
        }
    }
    Ok(())
}
