//! `defpool-ctl watch`: follows the node's live stream (`GET /api/v1/stream`, a
//! WebSocket) and prints one line per message: a human summary, or the message's JSON
//! as sent (NDJSON) with `--json`.
//!
//! A first connection that fails is an error (node down, wrong token). After that, a
//! dropped stream is reconnected with a growing pause, unless `--once` or `--count`
//! asked for a bounded run; each reconnect starts with a fresh snapshot.

use std::io::{self, Write};
use std::time::Duration;

use defpool_core::stream::{Event, StreamMessage};
use futures_util::StreamExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::header::AUTHORIZATION;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::client::{error_from_response, one_line, Auth, Client, ClientError};
use crate::output;

/// Longest pause between reconnects.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What the operator asked `watch` for.
#[derive(Debug, Clone, Default)]
pub struct WatchOptions {
    pub miner: Option<String>,
    pub json: bool,
    pub once: bool,
    pub count: Option<u64>,
}

/// How one connection ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// `--count` messages were printed.
    CountReached,
    /// Whoever reads our stdout went away (`watch | head -3`).
    OutputClosed,
    /// The node closed the stream normally (it is shutting down).
    Closed(String),
    /// The connection failed or the node closed it for a reason (too slow).
    Lost(String),
}

/// Follows the stream until the bounded run is done; `Ok` is exit code 0.
pub async fn watch(client: &Client, opts: &WatchOptions) -> Result<(), ClientError> {
    let url = client.stream_url(opts.miner.as_deref())?;
    let auth = client.authorization(if opts.miner.is_some() {
        Auth::Optional
    } else {
        Auth::Required
    })?;
    let bounded = opts.once || opts.count.is_some();
    let mut printed = 0u64;
    let mut backoff = Duration::from_secs(1);
    let mut connected_once = false;
    loop {
        let reason = match connect(client, &url, auth.as_ref()).await {
            Ok(stream) => {
                connected_once = true;
                backoff = Duration::from_secs(1);
                match follow(stream, opts, &mut printed).await {
                    End::CountReached | End::OutputClosed => return Ok(()),
                    End::Closed(_) if opts.once && opts.count.is_none() => return Ok(()),
                    End::Closed(reason) | End::Lost(reason) => reason,
                }
            }
            // Unreachable nodes are retried only once we know the URL and token work.
            Err(e @ ClientError::Unreachable { .. }) if connected_once && !bounded => e.to_string(),
            Err(e) => return Err(e),
        };
        if bounded {
            let reason = match opts.count {
                Some(n) => format!("the stream ended after {printed} of {n} messages: {reason}"),
                None => format!("the stream ended: {reason}"),
            };
            return Err(ClientError::Unreachable {
                url: client.shown_url().to_string(),
                reason,
            });
        }
        eprintln!(
            "defpool-ctl: {}; reconnecting in {} s",
            one_line(&reason),
            backoff.as_secs()
        );
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens the WebSocket; the node's JSON error (401, 400) becomes the usual API error.
async fn connect(
    client: &Client,
    url: &reqwest::Url,
    authorization: Option<&reqwest::header::HeaderValue>,
) -> Result<Socket, ClientError> {
    let unreachable = |reason: String| ClientError::Unreachable {
        url: client.shown_url().to_string(),
        reason: one_line(&reason),
    };
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| unreachable(e.to_string()))?;
    if let Some(value) = authorization {
        let mut value =
            HeaderValue::from_bytes(value.as_bytes()).map_err(|_| ClientError::InvalidToken)?;
        value.set_sensitive(true);
        request.headers_mut().insert(AUTHORIZATION, value);
    }
    let connecting = tokio_tungstenite::connect_async(request);
    match tokio::time::timeout(client.timeout(), connecting).await {
        Err(_) => Err(unreachable(format!(
            "no answer within {} s",
            client.timeout().as_secs()
        ))),
        Ok(Ok((stream, _))) => Ok(stream),
        Ok(Err(tungstenite::Error::Http(response))) => {
            let status = reqwest::StatusCode::from_u16(response.status().as_u16())
                .unwrap_or(reqwest::StatusCode::BAD_GATEWAY);
            Err(error_from_response(
                status,
                response.body().as_deref().unwrap_or_default(),
            ))
        }
        Ok(Err(e)) => Err(unreachable(innermost(&e))),
    }
}

fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    let mut inner = error;
    while let Some(source) = inner.source() {
        inner = source;
    }
    inner.to_string()
}

/// Prints messages until the connection ends or `--count` is reached.
async fn follow(mut stream: Socket, opts: &WatchOptions, printed: &mut u64) -> End {
    let mut stdout = io::stdout();
    while let Some(message) = stream.next().await {
        let text = match message {
            Ok(Message::Text(text)) => text,
            Ok(Message::Close(frame)) => {
                return match frame {
                    Some(f) if !matches!(f.code, CloseCode::Normal | CloseCode::Away) => {
                        End::Lost(format!(
                            "the node closed the stream ({}: {})",
                            u16::from(f.code),
                            f.reason
                        ))
                    }
                    _ => End::Closed("the node closed the stream".into()),
                };
            }
            Ok(_) => continue,
            Err(e) => return End::Lost(format!("connection lost: {}", innermost(&e))),
        };
        let line = if opts.json {
            compact(text.as_str())
        } else {
            human_line(text.as_str())
        };
        let written = stdout
            .write_all(line.as_bytes())
            .and_then(|()| stdout.write_all(b"\n"))
            .and_then(|()| stdout.flush());
        if written.is_err() {
            return End::OutputClosed;
        }
        *printed += 1;
        if opts.count.is_some_and(|n| *printed >= n) {
            let _ = stream.close(None).await;
            return End::CountReached;
        }
    }
    End::Lost("connection lost".into())
}

/// The message as one NDJSON line (the node sends compact JSON; this makes sure).
fn compact(text: &str) -> String {
    serde_json::from_str::<Value>(text)
        .map(|v| v.to_string())
        .unwrap_or_else(|_| one_line(text))
}

/// One human line per message; a message this build does not know is shown as its
/// JSON rather than dropped.
pub fn human_line(text: &str) -> String {
    let Ok(message) = serde_json::from_str::<StreamMessage>(text) else {
        return compact(text);
    };
    let line = match message {
        StreamMessage::Snapshot(s) => format!(
            "{}  snapshot  v{} seq {} ({}): {} coin(s), {} session(s), {} payout(s), {} recent block(s)",
            output::time(s.at),
            s.version,
            s.seq,
            s.scope,
            s.coins.len(),
            s.miners.sessions,
            s.payouts.len(),
            s.recent_blocks.len()
        ),
        StreamMessage::Resync { missed } => {
            format!("resync: {missed} event(s) missed; a fresh snapshot follows")
        }
        StreamMessage::Event(e) => format!(
            "{}  #{}  {}",
            output::time(e.at),
            e.seq,
            event_text(&e.event)
        ),
    };
    one_line(&line)
}

fn event_text(event: &Event) -> String {
    match event {
        Event::Shares {
            coin,
            accepted,
            rejected,
            window_ms,
            ..
        } => format!("shares {coin}: {accepted} accepted, {rejected} rejected in {window_ms} ms"),
        Event::MinerConnected {
            coin,
            miner,
            worker,
            peer,
        } => format!("miner connected {coin} {miner}.{worker} from {peer}"),
        Event::MinerDisconnected {
            coin,
            miner,
            worker,
            reason,
        } => format!("miner disconnected {coin} {miner}.{worker}: {reason}"),
        Event::NewTemplate {
            coin,
            height,
            network_difficulty,
        } => format!("new template {coin} height {height} difficulty {network_difficulty}"),
        Event::BlockFound { block } => block_text("found", block),
        Event::BlockConfirmed { block } => block_text("confirmed", block),
        Event::BlockOrphaned { block } => block_text("orphaned", block),
        Event::PayoutChanged { payout: p } => format!(
            "payout {} {} {} to {} {}{}",
            p.id,
            p.status.as_str(),
            output::amount(&p.amount),
            p.miner,
            p.origin,
            p.reason
                .as_deref()
                .or(p.tx_hash.as_deref())
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        ),
        Event::BalanceChanged { miner, balance } => format!(
            "balance {} {miner}: {} payable, {} immature",
            balance.coin,
            output::amount(&balance.balance),
            output::amount(&balance.immature)
        ),
        Event::HealthChanged { component } => format!(
            "health {} {}{}",
            component.name,
            component.status,
            component
                .detail
                .as_deref()
                .map(|d| format!(": {d}"))
                .unwrap_or_default()
        ),
        Event::ProfitSwitch {
            scope,
            from,
            to,
            reason,
        } => format!(
            "profit switch {scope} {} -> {to}: {reason}",
            from.as_deref().unwrap_or("-")
        ),
        Event::Profitability { coins } => format!(
            "profitability {}",
            coins
                .iter()
                .map(|c| format!("{} {:.6e} sat/H/day", c.coin, c.revenue_per_hash_day))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Event::Log {
            level,
            target,
            message,
        } => format!("log {level} {target}: {message}"),
    }
}

fn block_text(what: &str, b: &defpool_core::api::BlockView) -> String {
    format!(
        "block {what} {} height {} reward {} by {}.{} ({}/{} confirmations)",
        b.coin,
        b.height,
        output::amount(&b.reward),
        b.finder,
        b.worker,
        b.confirmations,
        b.maturity
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_print_as_one_line_each() {
        let text = r#"{"type":"event","seq":7,"at":0,"kind":"new_template","coin":"XMR","height":100,"network_difficulty":60.0}"#;
        assert_eq!(
            human_line(text),
            "1970-01-01 00:00:00 #7 new template XMR height 100 difficulty 60"
        );
        let text = r#"{"type":"event","seq":8,"at":0,"kind":"log","level":"WARN","target":"x","message":"a\nb"}"#;
        assert_eq!(human_line(text), "1970-01-01 00:00:00 #8 log WARN x: a b");
        assert_eq!(
            human_line(r#"{"type":"resync","missed":4}"#),
            "resync: 4 event(s) missed; a fresh snapshot follows"
        );
    }

    #[test]
    fn unknown_messages_are_shown_as_json_not_dropped() {
        assert_eq!(
            human_line(r#"{"type":"event","seq":1,"at":0,"kind":"future_thing", "x": 1}"#),
            r#"{"at":0,"kind":"future_thing","seq":1,"type":"event","x":1}"#
        );
        assert_eq!(compact("not json\n"), "not json");
    }
}
