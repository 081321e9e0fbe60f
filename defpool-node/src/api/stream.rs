//! `GET /api/v1/stream`: the live state over a WebSocket.
//!
//! On connect the client gets a snapshot, then every event the node publishes (see
//! [`crate::events`]). The admin stream needs the admin token (`Authorization: Bearer`
//! or `?token=`, since browsers cannot set headers on a WebSocket); `?miner=ADDRESS`
//! opens the public stream of one miner, which carries only that miner's events and
//! the pool's blocks.
//!
//! A slow client never slows the node: events come from a shared ring; a client that
//! falls behind it gets a `resync` and a fresh snapshot (a coalesced update), and one
//! that does so [`MAX_RESYNCS`] times in a minute, or does not take a message within
//! `api.stream_send_timeout`, is closed with code 1008 "client too slow".

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::header::AUTHORIZATION;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use defpool_core::api::{ComponentHealth, PayoutStatus, PoolStats};
use defpool_core::stream::{
    CoinState, MinersSummary, PortState, Snapshot, StreamEvent, StreamMessage, STREAM_VERSION,
};
use serde::Deserialize;
use tokio::sync::{broadcast, watch};

use super::{ApiError, AppState};
use crate::events::Published;
use crate::mining::JobSource;
use crate::store::{now_ms, BlockQuery, PayoutQuery};

/// Resyncs within a minute before a client is dropped as too slow.
const MAX_RESYNCS: u32 = 3;
/// Close code for a policy violation (RFC 6455), used for slow clients.
const CLOSE_POLICY: u16 = 1008;
/// Close code for a server going down (RFC 6455).
const CLOSE_GOING_AWAY: u16 = 1001;

/// How long snapshots reuse the pool statistics and health they computed.
const SNAPSHOT_SHARED_FOR: Duration = Duration::from_secs(2);

/// The expensive parts of an admin snapshot (statistics over the hashrate window of
/// shares, daemon and wallet probes), computed once per [`SNAPSHOT_SHARED_FOR`] however
/// many clients connect or resync: concurrent builders wait for the one computing.
#[derive(Clone, Default)]
pub struct SnapshotCache {
    inner: Arc<tokio::sync::Mutex<Option<CachedParts>>>,
}

/// When they were computed, the pool statistics, and the health of every component.
type CachedParts = (Instant, PoolStats, Vec<ComponentHealth>);

impl SnapshotCache {
    async fn get(&self, s: &AppState) -> Result<(PoolStats, Vec<ComponentHealth>), ApiError> {
        let mut cached = self.inner.lock().await;
        if let Some((at, stats, health)) = cached.as_ref() {
            if at.elapsed() < SNAPSHOT_SHARED_FOR {
                return Ok((stats.clone(), health.clone()));
            }
        }
        let stats = super::pool::stats_of(s).await?;
        let health = super::pool::health_of(s).await.components;
        *cached = Some((Instant::now(), stats.clone(), health.clone()));
        Ok((stats, health))
    }
}

#[derive(Debug, Deserialize)]
pub struct StreamParams {
    pub token: Option<String>,
    pub miner: Option<String>,
}

/// Who a stream is for.
#[derive(Clone, Debug)]
enum Scope {
    Admin,
    Miner(String),
}

/// Opens the live stream (WebSocket upgrade).
pub async fn stream(
    State(s): State<AppState>,
    Query(params): Query<StreamParams>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let scope = match params.miner {
        Some(miner) => {
            if !s
                .config
                .coins
                .iter()
                .any(|c| defpool_core::address::validate(c.spec(), c.network, &miner).is_ok())
            {
                return Err(ApiError::bad_request(format!(
                    "{miner} is not an address of a coin this pool mines"
                )));
            }
            Scope::Miner(miner)
        }
        None => {
            let Some(expected) = s.config.api.admin_token.as_deref() else {
                return Err(ApiError::unauthorized(
                    "the admin stream is disabled: set api.admin_token (or open ?miner=ADDRESS)",
                ));
            };
            let given = headers
                .get(AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .or(params.token.as_deref())
                .ok_or_else(|| ApiError::unauthorized("missing bearer token"))?;
            if !super::auth::constant_time_eq(given.as_bytes(), expected.as_bytes()) {
                return Err(ApiError::unauthorized("wrong token"));
            }
            Scope::Admin
        }
    };
    Ok(ws
        .on_upgrade(move |socket| serve(socket, s, scope))
        .into_response())
}

async fn serve(mut socket: WebSocket, s: AppState, scope: Scope) {
    let timeout = s.config.api.stream_send_timeout;
    // Subscribe before the snapshot so no event between the two is lost; events the
    // snapshot already contains may arrive once more, with their sequence numbers.
    let mut rx = s.events.subscribe();
    let mut resyncs: Vec<Instant> = Vec::new();
    let mut shutdown = s.shutdown.clone();
    if send_snapshot(&mut socket, &s, &scope).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            received = rx.recv() => match received {
                Ok(event) => {
                    let Some(text) = event_text(&event, &scope) else { continue };
                    if send(&mut socket, text, timeout).await.is_err() {
                        tracing::info!("stream client too slow; disconnected");
                        return close_slow(socket).await;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    resyncs.retain(|t| t.elapsed() < Duration::from_secs(60));
                    resyncs.push(Instant::now());
                    if resyncs.len() as u32 > MAX_RESYNCS {
                        tracing::info!("stream client too slow; disconnected");
                        return close_slow(socket).await;
                    }
                    let resync = StreamMessage::Resync { missed };
                    let Ok(text) = serde_json::to_string(&resync) else { return };
                    if send(&mut socket, text.into(), timeout).await.is_err()
                        || send_snapshot(&mut socket, &s, &scope).await.is_err()
                    {
                        return close_slow(socket).await;
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = shutdown.changed() => {
                let _ = tokio::time::timeout(
                    Duration::from_secs(1),
                    socket.send(Message::Close(Some(CloseFrame {
                        code: CLOSE_GOING_AWAY,
                        reason: "node shutting down".into(),
                    }))),
                )
                .await;
                return;
            }
            incoming = socket.recv() => match incoming {
                // Clients only listen; pings are answered by axum.
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

fn event_text(published: &Arc<Published>, scope: &Scope) -> Option<Utf8Bytes> {
    match scope {
        Scope::Admin => Some(published.text.clone().into()),
        Scope::Miner(miner) => {
            let event = &published.event;
            let message = StreamMessage::Event(StreamEvent {
                seq: event.seq,
                at: event.at,
                event: event.event.for_miner(miner)?,
            });
            serde_json::to_string(&message).ok().map(Into::into)
        }
    }
}

async fn send(socket: &mut WebSocket, text: Utf8Bytes, timeout: Duration) -> Result<(), ()> {
    match tokio::time::timeout(timeout, socket.send(Message::Text(text))).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

async fn close_slow(mut socket: WebSocket) {
    let _ = tokio::time::timeout(
        Duration::from_secs(1),
        socket.send(Message::Close(Some(CloseFrame {
            code: CLOSE_POLICY,
            reason: "client too slow".into(),
        }))),
    )
    .await;
}

async fn send_snapshot(socket: &mut WebSocket, s: &AppState, scope: &Scope) -> Result<(), ()> {
    let snapshot = match snapshot(s, scope).await {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = ?e, "cannot build a stream snapshot");
            return Err(());
        }
    };
    let text =
        serde_json::to_string(&StreamMessage::Snapshot(Box::new(snapshot))).map_err(|_| ())?;
    send(socket, text.into(), s.config.api.stream_send_timeout).await
}

/// The state of the pool as a stream snapshot.
async fn snapshot(s: &AppState, scope: &Scope) -> Result<Snapshot, ApiError> {
    let seq = s.events.last_seq();
    let (pool, cached_health) = s.snapshot_cache.get(s).await?;
    let coins = pool
        .coins
        .iter()
        .map(|c| {
            let (job_height, network_difficulty, job_since) = match s.sources.get(&c.coin) {
                Some(JobSource::Monero(src)) => match src.current() {
                    Some(j) => (
                        Some(j.height),
                        Some(j.network_difficulty as f64),
                        Some(now_ms() - j.created.elapsed().as_millis() as i64),
                    ),
                    None => (None, None, None),
                },
                Some(JobSource::Bitcoin(src)) => match src.current() {
                    Some(w) => (
                        Some(w.height),
                        Some(src.network_difficulty(&w)),
                        Some(now_ms() - w.created.elapsed().as_millis() as i64),
                    ),
                    None => (None, None, None),
                },
                Some(proxy @ (JobSource::MoneroProxy(_) | JobSource::BitcoinProxy(_))) => {
                    match proxy.upstream_job() {
                        Some((height, at)) => (
                            Some(height),
                            None,
                            Some(now_ms() - at.elapsed().as_millis() as i64),
                        ),
                        None => (None, None, None),
                    }
                }
                None => (None, None, None),
            };
            CoinState {
                coin: c.coin.clone(),
                job_height,
                network_difficulty,
                job_since,
                hashrate: c.hashrate,
                miners: c.miners,
                workers: c.workers,
            }
        })
        .collect();
    let ports = s
        .config
        .ports
        .iter()
        .map(|p| PortState {
            listen: p.listen.to_string(),
            coin: p.coin.clone(),
            protocol: format!("{:?}", p.protocol).to_lowercase(),
            tls: p.tls.is_some(),
            solo: p.solo,
            difficulty: p.difficulty,
        })
        .collect();
    let counter = |f: fn(&crate::stratum::StratumShared) -> u64| s.stratum.as_deref().map_or(0, f);
    let miners = MinersSummary {
        sessions: counter(|x| x.sessions.load(std::sync::atomic::Ordering::Relaxed) as u64),
        capacity: counter(|x| x.max_sessions as u64),
        shares_accepted: counter(|x| x.shares_accepted.load(std::sync::atomic::Ordering::Relaxed)),
        shares_rejected: counter(|x| x.shares_rejected.load(std::sync::atomic::Ordering::Relaxed)),
        blocks_found: counter(|x| x.blocks_found.load(std::sync::atomic::Ordering::Relaxed)),
    };
    let recent_blocks = s
        .store
        .blocks(&BlockQuery {
            coin: None,
            status: None,
            finder: None,
            before_id: None,
            limit: 20,
        })
        .await?
        .into_iter()
        .map(super::block_view)
        .collect();
    let (payouts, health, balances) = match scope {
        Scope::Admin => {
            let mut open = Vec::new();
            for status in [PayoutStatus::Pending, PayoutStatus::Processing] {
                open.extend(
                    s.store
                        .payouts(&PayoutQuery {
                            status: Some(status),
                            limit: 200,
                            ..Default::default()
                        })
                        .await?
                        .into_iter()
                        .map(super::payout_view),
                );
            }
            (open, cached_health, Vec::new())
        }
        Scope::Miner(miner) => {
            let payouts = s
                .store
                .payouts(&PayoutQuery {
                    account: Some(miner.clone()),
                    limit: 20,
                    ..Default::default()
                })
                .await?
                .into_iter()
                .map(super::payout_view)
                .collect();
            let balances = s
                .store
                .balances_of(miner)
                .await?
                .into_iter()
                .map(super::balance_view)
                .collect();
            (payouts, Vec::new(), balances)
        }
    };
    Ok(Snapshot {
        version: STREAM_VERSION,
        at: now_ms(),
        seq,
        scope: match scope {
            Scope::Admin => "admin".into(),
            Scope::Miner(_) => "miner".into(),
        },
        pool,
        coins,
        ports,
        miners,
        recent_blocks,
        payouts,
        health,
        balances,
        profitability: s.profit.views(),
    })
}

/// Publishes `health_changed` whenever a component's state changes (checked every
/// five seconds).
pub async fn watch_health(s: AppState, mut stop: watch::Receiver<bool>) {
    let mut last: HashMap<String, (String, Option<String>)> = HashMap::new();
    loop {
        for c in super::pool::health_of(&s).await.components {
            let state = (c.status.clone(), c.detail.clone());
            let changed = last.get(&c.name).is_none_or(|prev| prev.0 != state.0);
            if changed {
                last.insert(c.name.clone(), state);
                s.events
                    .publish(defpool_core::stream::Event::HealthChanged { component: c });
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            r = stop.changed() => if r.is_err() || *stop.borrow() { return },
        }
    }
}
