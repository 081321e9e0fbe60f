//! The event hub behind `GET /api/v1/stream`: every part of the node publishes what
//! happened here, and each WebSocket client reads from one shared ring.
//!
//! Memory is bounded by the ring, never by the clients: a tokio broadcast channel of
//! [`RING`] events. A client that falls more than the ring behind is told how many
//! events it missed and gets a fresh snapshot (a coalesced update); one that keeps
//! falling behind is disconnected. Publishing never waits for a client.
//!
//! Shares are not published one by one: the share writer tallies them per coin and
//! miner, and a ticker publishes one `shares` event per coin per second.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use defpool_core::stream::{Event, MinerShares, StreamEvent, StreamMessage};
use tokio::sync::{broadcast, watch};

use crate::store::{now_ms, NewShare};

/// Events a client may fall behind by before it must resync.
pub const RING: usize = 4096;
/// Miners listed per coin in one `shares` event (the busiest first).
const MAX_MINERS_PER_WINDOW: usize = 500;

#[derive(Default)]
struct Tally {
    accepted: u64,
    rejected: u64,
    accepted_difficulty: f64,
    miners: HashMap<String, MinerShares>,
}

/// An event as published: the value, and its admin-stream JSON text serialized once
/// for every client (a burst of events would otherwise be serialized per client).
#[derive(Debug)]
pub struct Published {
    pub event: StreamEvent,
    pub text: String,
}

struct Inner {
    tx: broadcast::Sender<Arc<Published>>,
    seq: AtomicU64,
    tallies: Mutex<HashMap<String, Tally>>,
}

/// Cheap to clone; every clone publishes into the same stream.
#[derive(Clone)]
pub struct EventHub {
    inner: Arc<Inner>,
}

impl Default for EventHub {
    fn default() -> Self {
        Self::new()
    }
}

impl EventHub {
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(RING);
        EventHub {
            inner: Arc::new(Inner {
                tx,
                seq: AtomicU64::new(0),
                tallies: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Publishes an event to every connected client; never waits.
    pub fn publish(&self, event: Event) {
        let seq = self.inner.seq.fetch_add(1, Ordering::AcqRel) + 1;
        let event = StreamEvent {
            seq,
            at: now_ms(),
            event,
        };
        let text = serde_json::to_string(&StreamMessage::Event(event.clone())).unwrap_or_default();
        let _ = self.inner.tx.send(Arc::new(Published { event, text }));
    }

    /// Sequence number of the last published event.
    pub fn last_seq(&self) -> u64 {
        self.inner.seq.load(Ordering::Acquire)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Published>> {
        self.inner.tx.subscribe()
    }

    /// Connected stream clients.
    pub fn clients(&self) -> usize {
        self.inner.tx.receiver_count()
    }

    /// Counts a share for the next `shares` event (called by the share writer).
    pub fn count_share(&self, share: &NewShare) {
        let Ok(mut tallies) = self.inner.tallies.lock() else {
            return;
        };
        let tally = tallies.entry(share.coin.clone()).or_default();
        let miner = tally
            .miners
            .entry(share.miner.clone())
            .or_insert_with(|| MinerShares {
                miner: share.miner.clone(),
                accepted: 0,
                rejected: 0,
                accepted_difficulty: 0.0,
            });
        if share.accepted {
            tally.accepted += 1;
            tally.accepted_difficulty += share.difficulty;
            miner.accepted += 1;
            miner.accepted_difficulty += share.difficulty;
        } else {
            tally.rejected += 1;
            miner.rejected += 1;
        }
    }

    /// Publishes the share tallies of the last window, one event per coin.
    fn flush_tallies(&self, window: Duration) {
        let tallies = match self.inner.tallies.lock() {
            Ok(mut t) => std::mem::take(&mut *t),
            Err(_) => return,
        };
        for (coin, tally) in tallies {
            let mut miners: Vec<MinerShares> = tally.miners.into_values().collect();
            miners.sort_by(|a, b| {
                b.accepted_difficulty
                    .total_cmp(&a.accepted_difficulty)
                    .then_with(|| a.miner.cmp(&b.miner))
            });
            miners.truncate(MAX_MINERS_PER_WINDOW);
            self.publish(Event::Shares {
                coin,
                accepted: tally.accepted,
                rejected: tally.rejected,
                accepted_difficulty: tally.accepted_difficulty,
                window_ms: window.as_millis() as u64,
                miners,
            });
        }
    }

    /// Publishes the share tallies every second until `stop` flips.
    pub async fn run_ticker(self, mut stop: watch::Receiver<bool>) {
        let mut last = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    let window = last.elapsed();
                    last = Instant::now();
                    self.flush_tallies(window);
                }
                r = stop.changed() => if r.is_err() || *stop.borrow() { return },
            }
        }
    }
}

/// A tracing layer that publishes warnings and errors as `log` events.
pub struct LogLayer {
    hub: EventHub,
}

impl LogLayer {
    pub fn new(hub: EventHub) -> Self {
        LogLayer { hub }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for LogLayer {
    fn on_event(
        &self,
        event: &tracing::Event<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let level = *event.metadata().level();
        if level > tracing::Level::WARN {
            return;
        }
        let mut visitor = MessageVisitor::default();
        event.record(&mut visitor);
        self.hub.publish(Event::Log {
            level: level.to_string(),
            target: event.metadata().target().to_string(),
            message: visitor.text,
        });
    }
}

/// Renders an event as "message key=value …", like the log line.
#[derive(Default)]
struct MessageVisitor {
    text: String,
}

impl tracing::field::Visit for MessageVisitor {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write;
        if field.name() == "message" {
            let rest = std::mem::take(&mut self.text);
            let _ = write!(self.text, "{value:?}");
            if !rest.is_empty() {
                self.text.push(' ');
                self.text.push_str(&rest);
            }
        } else {
            if !self.text.is_empty() {
                self.text.push(' ');
            }
            let _ = write!(self.text, "{}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.record_debug(field, &format_args!("{value}"));
        } else {
            self.record_debug(field, &value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn share(miner: &str, accepted: bool, difficulty: f64) -> NewShare {
        NewShare {
            coin: "XMR".into(),
            miner: miner.into(),
            worker: "w".into(),
            difficulty,
            network_difficulty: 1.0,
            height: 1,
            accepted,
            solo: false,
            created_at: 0,
        }
    }

    #[tokio::test]
    async fn shares_are_published_once_per_window_per_coin() {
        let hub = EventHub::new();
        let mut rx = hub.subscribe();
        hub.count_share(&share("a", true, 10.0));
        hub.count_share(&share("a", true, 10.0));
        hub.count_share(&share("b", false, 10.0));
        hub.flush_tallies(Duration::from_secs(1));
        let e = rx.recv().await.unwrap();
        assert_eq!(e.event.seq, 1);
        assert!(
            e.text.starts_with(r#"{"type":"event","seq":1,"#),
            "{}",
            e.text
        );
        match &e.event.event {
            Event::Shares {
                accepted,
                rejected,
                accepted_difficulty,
                miners,
                ..
            } => {
                assert_eq!((*accepted, *rejected, *accepted_difficulty), (2, 1, 20.0));
                assert_eq!(miners[0].miner, "a");
                assert_eq!(miners.len(), 2);
            }
            other => panic!("{other:?}"),
        }
        // An empty window publishes nothing.
        hub.flush_tallies(Duration::from_secs(1));
        assert!(rx.try_recv().is_err());
    }

    #[tokio::test]
    async fn a_client_that_falls_behind_the_ring_learns_how_much_it_missed() {
        let hub = EventHub::new();
        let mut rx = hub.subscribe();
        for i in 0..(RING as u64 + 10) {
            hub.publish(Event::NewTemplate {
                coin: "XMR".into(),
                height: i,
                network_difficulty: 1.0,
            });
        }
        match rx.recv().await {
            Err(broadcast::error::RecvError::Lagged(n)) => assert_eq!(n, 10),
            other => panic!("{other:?}"),
        }
    }
}
