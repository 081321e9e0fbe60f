//! The live stream client: connects to `GET /api/v1/stream`, forwards every message,
//! and reconnects with exponential backoff, reporting each state change so the header
//! can show it.
//!
//! A connection that goes quiet is not trusted forever: the client pings every
//! [`PING_EVERY`] and gives up on a connection silent for [`SILENCE_LIMIT`] (a node
//! that vanished without closing, a NAT that dropped the flow).

use std::time::Duration;

use defpool_core::api::ErrorBody;
use defpool_core::stream::StreamMessage;
use futures_util::{SinkExt, StreamExt};
use reqwest::Url;
use tokio::sync::mpsc;
use tokio::time::{timeout, Instant};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::http::header::{HeaderValue, AUTHORIZATION, USER_AGENT};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::app::ConnState;
use crate::rest;

/// Interval of our pings.
const PING_EVERY: Duration = Duration::from_secs(15);
/// Longest silence (not even a pong) before the connection is dropped.
const SILENCE_LIMIT: Duration = Duration::from_secs(45);
/// Longest wait between two attempts.
const MAX_BACKOFF_SECS: u64 = 30;
/// A connection that lasted this long resets the backoff.
const STABLE: Duration = Duration::from_secs(10);

/// What the client tells the dashboard.
#[derive(Debug)]
pub enum Incoming {
    Conn(ConnState),
    Message(Box<StreamMessage>),
    /// A frame that is not a stream message this build understands.
    Unreadable(String),
}

/// The WebSocket URL of the stream under the node's base URL.
pub fn stream_url(base: &str) -> Result<Url, String> {
    let mut url = rest::endpoint(&rest::base_url(base)?, &["stream"], &[]);
    url.set_scheme("ws")
        .map_err(|()| "cannot make a ws:// URL".to_string())?;
    Ok(url)
}

/// Seconds to wait before attempt `attempt + 1` (1, 2, 4 … 30).
pub fn backoff_secs(attempt: u32) -> u64 {
    1u64.checked_shl(attempt.saturating_sub(1))
        .unwrap_or(MAX_BACKOFF_SECS)
        .min(MAX_BACKOFF_SECS)
}

/// Runs until the dashboard drops its receiver. With `record`, every text frame is
/// also appended to it as one line (a JSONL recording, the format of the test fixtures).
pub async fn run(
    url: Url,
    token: Option<String>,
    tx: mpsc::Sender<Incoming>,
    mut record: Option<std::fs::File>,
) {
    let mut attempt = 0u32;
    loop {
        let started = Instant::now();
        let error = match session(&url, token.as_deref(), &tx, &mut record).await {
            Ok(()) => "the node closed the stream".to_string(),
            Err(e) => e,
        };
        if tx.is_closed() {
            return;
        }
        if started.elapsed() >= STABLE {
            attempt = 0;
        }
        attempt += 1;
        let wait = backoff_secs(attempt);
        for remaining in (1..=wait).rev() {
            let state = ConnState::Reconnecting {
                attempt,
                retry_in_secs: remaining,
                error: error.clone(),
            };
            if tx.send(Incoming::Conn(state)).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

/// One connection, until it ends; `Err` says why in one line.
async fn session(
    url: &Url,
    token: Option<&str>,
    tx: &mpsc::Sender<Incoming>,
    record: &mut Option<std::fs::File>,
) -> Result<(), String> {
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| e.to_string())?;
    let headers = request.headers_mut();
    headers.insert(
        USER_AGENT,
        HeaderValue::from_static(concat!("defpool-tui/", env!("CARGO_PKG_VERSION"))),
    );
    if let Some(t) = token {
        let mut v = HeaderValue::from_str(&format!("Bearer {t}"))
            .map_err(|_| "the token contains characters not allowed in a header")?;
        v.set_sensitive(true);
        headers.insert(AUTHORIZATION, v);
    }
    let (ws, _) = timeout(
        Duration::from_secs(10),
        tokio_tungstenite::connect_async(request),
    )
    .await
    .map_err(|_| "the node did not answer within 10s".to_string())?
    .map_err(describe)?;
    tx.send(Incoming::Conn(ConnState::Connected))
        .await
        .map_err(|_| "dashboard closed")?;
    let (mut sink, mut stream) = ws.split();
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.reset();
    let mut last_heard = Instant::now();
    loop {
        tokio::select! {
            frame = stream.next() => {
                let Some(frame) = frame else { return Ok(()) };
                last_heard = Instant::now();
                match frame.map_err(describe)? {
                    Message::Text(text) => {
                        if let Some(file) = record.as_mut() {
                            use std::io::Write;
                            if writeln!(file, "{}", text.as_str()).is_err() {
                                *record = None; // a full disk must not stop the dashboard
                            }
                        }
                        let incoming = match serde_json::from_str::<StreamMessage>(&text) {
                            Ok(m) => Incoming::Message(Box::new(m)),
                            Err(e) => Incoming::Unreadable(e.to_string()),
                        };
                        tx.send(incoming).await.map_err(|_| "dashboard closed")?;
                    }
                    Message::Close(frame) => {
                        return Err(match frame {
                            Some(f) if !f.reason.is_empty() => {
                                format!("closed by the node ({}): {}", u16::from(f.code), f.reason)
                            }
                            _ => "closed by the node".to_string(),
                        });
                    }
                    _ => {}
                }
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > SILENCE_LIMIT {
                    return Err(format!("nothing heard for {}s", SILENCE_LIMIT.as_secs()));
                }
                sink.send(Message::Ping(Vec::new().into())).await.map_err(describe)?;
            }
        }
    }
}

/// One line for the status bar; an HTTP refusal of the upgrade carries the node's
/// error message (`unauthorized: wrong token`).
fn describe(e: WsError) -> String {
    match e {
        WsError::Http(response) => {
            let status = response.status();
            let detail = response
                .body()
                .as_deref()
                .and_then(|b| serde_json::from_slice::<ErrorBody>(b).ok())
                .map(|b| format!(": {}: {}", b.error.code, b.error.message))
                .unwrap_or_default();
            format!("HTTP {status}{detail}")
        }
        WsError::Io(io) => io.to_string(),
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
            "the node dropped the connection".to_string()
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_lives_under_the_api_prefix_as_ws() {
        assert_eq!(
            stream_url("http://127.0.0.1:8080").unwrap().as_str(),
            "ws://127.0.0.1:8080/api/v1/stream"
        );
        assert_eq!(
            stream_url("http://h:1/pool/").unwrap().as_str(),
            "ws://h:1/pool/api/v1/stream"
        );
    }

    #[test]
    fn backoff_doubles_up_to_thirty_seconds() {
        let waits: Vec<u64> = (1..=7).map(backoff_secs).collect();
        assert_eq!(waits, vec![1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(backoff_secs(100), 30);
    }
}
