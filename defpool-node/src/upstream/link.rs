//! One line-delimited JSON-RPC connection to an upstream pool, as both stratum V1
//! dialects use it: requests with ids answered by responses, and notifications
//! (`job`, `mining.notify`, …) the pool sends on its own.
//!
//! The connection is a task; [`Link`] is its handle. A call waits for its response
//! with a timeout; when the connection drops, every call still waiting gets
//! [`CallError::ConnectionLost`] (a share in flight is then known to be lost, not
//! silently forgotten). Garbage from the pool is logged and counted; a pool that
//! sends nothing but garbage is disconnected.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

/// Longest line accepted from a pool (a Monero job with a large blob is ~1 KiB; a
/// Bitcoin notify with a long merkle branch a few KiB).
const MAX_LINE: usize = 256 * 1024;
/// Consecutive unparseable lines after which the pool is dropped.
const MAX_GARBAGE_IN_A_ROW: u32 = 10;
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where an upstream is, from `stratum+tcp://host:port`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamUrl {
    pub host: String,
    pub port: u16,
}

impl UpstreamUrl {
    pub fn parse(url: &str) -> Result<UpstreamUrl, String> {
        let rest = url
            .strip_prefix("stratum+tcp://")
            .ok_or_else(|| format!("{url:?}: only stratum+tcp:// upstreams are supported"))?;
        let rest = rest.trim_end_matches('/');
        let (host, port) = rest
            .rsplit_once(':')
            .ok_or_else(|| format!("{url:?}: no port"))?;
        let port = port
            .parse()
            .map_err(|_| format!("{url:?}: bad port {port:?}"))?;
        if host.is_empty() {
            return Err(format!("{url:?}: no host"));
        }
        Ok(UpstreamUrl {
            host: host.trim_start_matches('[').trim_end_matches(']').into(),
            port,
        })
    }
}

#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum CallError {
    #[error("upstream connection lost")]
    ConnectionLost,
    #[error("upstream did not answer within {0:?}")]
    Timeout(Duration),
    /// The pool answered with an error object.
    #[error("{message}")]
    Refused { code: i64, message: String },
}

/// What the pool sent without being asked.
#[derive(Debug)]
pub enum Incoming {
    /// A message with a method: a notification, or with `id` a request the pool
    /// expects an answer to (`client.get_version`).
    Notification {
        method: String,
        params: Value,
        id: Option<Value>,
    },
    /// The connection ended; no more messages follow.
    Closed(String),
}

enum Command {
    Call {
        method: &'static str,
        params: Value,
        reply: oneshot::Sender<Result<Value, CallError>>,
    },
    /// A response to a request the pool made (e.g. `client.get_version`).
    Answer { id: Value, result: Value },
}

/// Handle to a live connection. Dropping every clone closes the connection.
#[derive(Clone)]
pub struct Link {
    commands: mpsc::Sender<Command>,
    call_timeout: Duration,
}

impl Link {
    /// Connects to `url`; pool notifications arrive on the returned receiver.
    pub async fn connect(
        url: &UpstreamUrl,
        connect_timeout: Duration,
        call_timeout: Duration,
    ) -> Result<(Link, mpsc::Receiver<Incoming>), String> {
        let stream = tokio::time::timeout(
            connect_timeout,
            TcpStream::connect((url.host.as_str(), url.port)),
        )
        .await
        .map_err(|_| format!("connect timed out after {connect_timeout:?}"))?
        .map_err(|e| format!("connect failed: {e}"))?;
        let _ = stream.set_nodelay(true);
        let (commands, commands_rx) = mpsc::channel(1024);
        let (incoming_tx, incoming) = mpsc::channel(256);
        tokio::spawn(run(stream, commands_rx, incoming_tx));
        Ok((
            Link {
                commands,
                call_timeout,
            },
            incoming,
        ))
    }

    /// Sends a request and waits for its response's `result`.
    pub async fn call(&self, method: &'static str, params: Value) -> Result<Value, CallError> {
        let reply = self.start_call(method, params).await?;
        match tokio::time::timeout(self.call_timeout, reply).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(CallError::ConnectionLost),
            Err(_) => Err(CallError::Timeout(self.call_timeout)),
        }
    }

    /// Sends a request now and returns the wait for its response, so the caller can
    /// go on (a share forwarded upstream is answered to the miner at once).
    pub async fn start_call(
        &self,
        method: &'static str,
        params: Value,
    ) -> Result<oneshot::Receiver<Result<Value, CallError>>, CallError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Call {
                method,
                params,
                reply: tx,
            })
            .await
            .map_err(|_| CallError::ConnectionLost)?;
        Ok(rx)
    }

    pub async fn answer(&self, id: Value, result: Value) {
        let _ = self.commands.send(Command::Answer { id, result }).await;
    }

    pub fn call_timeout(&self) -> Duration {
        self.call_timeout
    }

    pub fn is_closed(&self) -> bool {
        self.commands.is_closed()
    }
}

async fn run(
    stream: TcpStream,
    mut commands: mpsc::Receiver<Command>,
    incoming: mpsc::Sender<Incoming>,
) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut pending: HashMap<u64, oneshot::Sender<Result<Value, CallError>>> = HashMap::new();
    let mut next_id: u64 = 1;
    let mut garbage = 0u32;
    let mut line = Vec::new();
    let reason = loop {
        tokio::select! {
            command = commands.recv() => {
                let Some(command) = command else { break "closed by the node".to_string() };
                let bytes = match command {
                    Command::Call { method, params, reply } => {
                        let id = next_id;
                        next_id += 1;
                        // A caller that gave up (timed out) left a closed sender; drop it.
                        pending.retain(|_, r| !r.is_closed());
                        pending.insert(id, reply);
                        json!({"id": id, "jsonrpc": "2.0", "method": method, "params": params})
                    }
                    Command::Answer { id, result } => json!({"id": id, "result": result, "error": null}),
                };
                let mut bytes = bytes.to_string().into_bytes();
                bytes.push(b'\n');
                match tokio::time::timeout(WRITE_TIMEOUT, write.write_all(&bytes)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => break format!("write failed: {e}"),
                    Err(_) => break "write timed out".to_string(),
                }
            }
            read = read_line(&mut reader, &mut line) => {
                match read {
                    Ok(true) => {}
                    Ok(false) => break "closed by the upstream".to_string(),
                    Err(e) => break e,
                }
                let text = line.strip_suffix(b"\r").unwrap_or(&line);
                if text.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                match serde_json::from_slice::<Value>(text) {
                    Ok(msg) if msg.is_object() => {
                        garbage = 0;
                        dispatch(msg, &mut pending, &incoming).await;
                    }
                    _ => {
                        garbage += 1;
                        tracing::warn!(line = %String::from_utf8_lossy(&text[..text.len().min(200)]), "upstream sent a line that is not a JSON object");
                        if garbage >= MAX_GARBAGE_IN_A_ROW {
                            break format!("{garbage} unparseable lines in a row");
                        }
                    }
                }
            }
        }
    };
    for (_, reply) in pending.drain() {
        let _ = reply.send(Err(CallError::ConnectionLost));
    }
    let _ = incoming.send(Incoming::Closed(reason)).await;
}

/// Reads one line into `line`; false at end of stream.
async fn read_line(
    reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    line: &mut Vec<u8>,
) -> Result<bool, String> {
    line.clear();
    loop {
        let buf = reader
            .fill_buf()
            .await
            .map_err(|e| format!("read failed: {e}"))?;
        if buf.is_empty() {
            return Ok(false);
        }
        match buf.iter().position(|b| *b == b'\n') {
            Some(i) => {
                line.extend_from_slice(&buf[..i]);
                reader.consume(i + 1);
                return Ok(true);
            }
            None => {
                let n = buf.len();
                line.extend_from_slice(buf);
                reader.consume(n);
                if line.len() > MAX_LINE {
                    return Err(format!("line longer than {MAX_LINE} bytes"));
                }
            }
        }
    }
}

async fn dispatch(
    msg: Value,
    pending: &mut HashMap<u64, oneshot::Sender<Result<Value, CallError>>>,
    incoming: &mpsc::Sender<Incoming>,
) {
    if let Some(method) = msg.get("method").and_then(Value::as_str) {
        let params = msg.get("params").cloned().unwrap_or(Value::Null);
        let id = msg.get("id").filter(|id| !id.is_null()).cloned();
        let _ = incoming
            .send(Incoming::Notification {
                method: method.to_string(),
                params,
                id,
            })
            .await;
        return;
    }
    let Some(id) = msg.get("id").and_then(Value::as_u64) else {
        tracing::warn!(%msg, "upstream response without a known id");
        return;
    };
    let Some(reply) = pending.remove(&id) else {
        tracing::warn!(id, "upstream answered a request it was never sent");
        return;
    };
    let error = msg.get("error").filter(|e| !e.is_null());
    let result = match error {
        Some(e) => Err(refusal(e)),
        None => Ok(msg.get("result").cloned().unwrap_or(Value::Null)),
    };
    let _ = reply.send(result);
}

/// An error object in either dialect: CryptoNote `{"code":-1,"message":"…"}`,
/// Bitcoin `[21, "Job not found", null]`.
fn refusal(e: &Value) -> CallError {
    match e {
        Value::Object(o) => CallError::Refused {
            code: o.get("code").and_then(Value::as_i64).unwrap_or(-1),
            message: o
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("refused")
                .to_string(),
        },
        Value::Array(a) => CallError::Refused {
            code: a.first().and_then(Value::as_i64).unwrap_or(-1),
            message: a
                .get(1)
                .and_then(Value::as_str)
                .unwrap_or("refused")
                .to_string(),
        },
        other => CallError::Refused {
            code: -1,
            message: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            UpstreamUrl::parse("stratum+tcp://127.0.0.1:3333").unwrap(),
            UpstreamUrl {
                host: "127.0.0.1".into(),
                port: 3333
            }
        );
        assert!(UpstreamUrl::parse("stratum+ssl://pool:443").is_err());
        assert!(UpstreamUrl::parse("stratum+tcp://pool").is_err());
        assert!(UpstreamUrl::parse("stratum+tcp://:1").is_err());
    }

    #[test]
    fn refusals_of_both_dialects() {
        assert_eq!(
            refusal(&json!({"code": -1, "message": "Low difficulty share"})),
            CallError::Refused {
                code: -1,
                message: "Low difficulty share".into()
            }
        );
        assert_eq!(
            refusal(&json!([21, "Job not found", null])),
            CallError::Refused {
                code: 21,
                message: "Job not found".into()
            }
        );
    }

    #[tokio::test]
    async fn calls_notifications_garbage_and_loss() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            let (r, mut w) = s.into_split();
            let mut lines = BufReader::new(r).lines();
            let first: Value =
                serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
            w.write_all(b"garbage\n{\"method\":\"job\",\"params\":{\"x\":1}}\n")
                .await
                .unwrap();
            let reply = json!({"id": first["id"], "result": {"ok": true}, "error": null});
            w.write_all(format!("{reply}\n").as_bytes()).await.unwrap();
            // Read the second call, then drop the connection without answering it.
            lines.next_line().await.unwrap();
        });
        let url = UpstreamUrl {
            host: "127.0.0.1".into(),
            port,
        };
        let (link, mut incoming) =
            Link::connect(&url, Duration::from_secs(5), Duration::from_secs(5))
                .await
                .unwrap();
        let r = link.call("login", json!({})).await.unwrap();
        assert_eq!(r, json!({"ok": true}));
        match incoming.recv().await.unwrap() {
            Incoming::Notification { method, params, .. } => {
                assert_eq!(method, "job");
                assert_eq!(params, json!({"x": 1}));
            }
            other => panic!("{other:?}"),
        }
        let lost = link.call("submit", json!({})).await;
        assert_eq!(lost, Err(CallError::ConnectionLost));
        assert!(matches!(incoming.recv().await, Some(Incoming::Closed(_))));
        server.await.unwrap();
    }
}
