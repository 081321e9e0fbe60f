//! Messages of the live stream (`GET /api/v1/stream`, a WebSocket): a versioned
//! snapshot on connect, then events. Shared by the node (which sends them), the TUI and
//! `defpool-ctl watch` (which read them), like the REST types in [`crate::api`].
//!
//! Every message is one JSON text frame: `{"type":"snapshot",…}`, `{"type":"event",…}`
//! or `{"type":"resync",…}`. Events carry a sequence number that increases by one per
//! event the node publishes; a client that sees a gap (or a `resync`) missed events and
//! should treat the next snapshot as the truth. Timestamps are unix milliseconds.

use serde::{Deserialize, Serialize};

use crate::api::{BalanceView, BlockView, ComponentHealth, PayoutView, PoolStats};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// Version of the stream's message format. A client that reads a snapshot of another
/// major version should stop rather than misread it.
pub const STREAM_VERSION: u32 = 1;

/// One message on the stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
// Events are the common message and stay inline; the rare, large snapshot is boxed.
#[allow(clippy::large_enum_variant)]
pub enum StreamMessage {
    /// The whole state: first message of a connection, and again after a `resync`.
    Snapshot(Box<Snapshot>),
    Event(StreamEvent),
    /// The client fell behind and `missed` events were dropped for it; a snapshot
    /// follows. A client that keeps falling behind is disconnected (close code 1008
    /// with the reason "client too slow").
    Resync {
        missed: u64,
    },
}

/// The state of the pool at `at`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Snapshot {
    pub version: u32,
    pub at: i64,
    /// Sequence number of the last event included in this state.
    pub seq: u64,
    /// `admin` or `miner` (a public per-miner stream).
    pub scope: String,
    pub pool: PoolStats,
    pub coins: Vec<CoinState>,
    pub ports: Vec<PortState>,
    pub miners: MinersSummary,
    /// Newest blocks first.
    pub recent_blocks: Vec<BlockView>,
    /// Payouts not yet completed or failed (admin), or this miner's recent payouts.
    pub payouts: Vec<PayoutView>,
    /// Daemons, wallets, upstreams, database (admin only; empty for a miner).
    pub health: Vec<ComponentHealth>,
    /// This miner's balances (miner scope only).
    pub balances: Vec<BalanceView>,
    /// Profitability per coin and the current choice (proxy mode; empty otherwise).
    pub profitability: Vec<ProfitabilityView>,
}

/// What the node mines of one coin right now.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CoinState {
    pub coin: String,
    /// Height of the block the current job builds; `None` before the first template.
    pub job_height: Option<u64>,
    /// Network difficulty of the current job, in the coin's share-difficulty units.
    pub network_difficulty: Option<f64>,
    /// When the current template was fetched.
    pub job_since: Option<i64>,
    /// Estimated pool hashrate (hashes per second) over the hashrate window.
    pub hashrate: f64,
    pub miners: u64,
    pub workers: u64,
}

/// One stratum listener.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PortState {
    pub listen: String,
    pub coin: String,
    pub protocol: String,
    pub tls: bool,
    pub solo: bool,
    pub difficulty: f64,
}

/// Connected miners over all ports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct MinersSummary {
    /// Open stratum sessions.
    pub sessions: u64,
    /// Sessions the node can hold (file-descriptor limit).
    pub capacity: u64,
    pub shares_accepted: u64,
    pub shares_rejected: u64,
    pub blocks_found: u64,
}

/// A coin's profitability as the profit switcher sees it (proxy mode).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ProfitabilityView {
    pub coin: String,
    /// Expected revenue per unit of hashrate per day, in BTC atomic units.
    pub revenue_per_hash_day: f64,
    pub chosen: bool,
    pub reason: Option<String>,
}

/// An event with its place in the stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct StreamEvent {
    pub seq: u64,
    pub at: i64,
    #[serde(flatten)]
    pub event: Event,
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// Shares of one coin over the last `window_ms` (about a second), summed.
    Shares {
        coin: String,
        accepted: u64,
        rejected: u64,
        /// Sum of the accepted shares' difficulties.
        accepted_difficulty: f64,
        window_ms: u64,
        /// Per miner, for per-miner streams and the TUI's miner table.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        miners: Vec<MinerShares>,
    },
    MinerConnected {
        coin: String,
        miner: String,
        worker: String,
        peer: String,
    },
    MinerDisconnected {
        coin: String,
        miner: String,
        worker: String,
        reason: String,
    },
    NewTemplate {
        coin: String,
        height: u64,
        network_difficulty: f64,
    },
    BlockFound {
        block: BlockView,
    },
    BlockConfirmed {
        block: BlockView,
    },
    BlockOrphaned {
        block: BlockView,
    },
    PayoutChanged {
        payout: PayoutView,
    },
    BalanceChanged {
        miner: String,
        balance: BalanceView,
    },
    HealthChanged {
        component: ComponentHealth,
    },
    ProfitSwitch {
        /// Whose switch: a port and miner (`127.0.0.1:3333 ADDRESS.WORKER`); empty
        /// from nodes before 0.1 that did not say.
        #[serde(default)]
        scope: String,
        from: Option<String>,
        to: String,
        reason: String,
    },
    /// The profitability table changed (new prices or network figures, or data went
    /// stale): every coin's current view, replacing the previous table.
    Profitability {
        coins: Vec<ProfitabilityView>,
    },
    /// A warning or error the node logged.
    Log {
        level: String,
        target: String,
        message: String,
    },
}

/// One miner's shares within a [`Event::Shares`] window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct MinerShares {
    pub miner: String,
    pub accepted: u64,
    pub rejected: u64,
    pub accepted_difficulty: f64,
}

impl Event {
    /// The miner an event is about, for the public per-miner stream; `None` for
    /// pool-wide events. A per-miner stream gets events about its miner, blocks
    /// (public on every pool) and its share window.
    pub fn miner(&self) -> Option<&str> {
        match self {
            Event::MinerConnected { miner, .. }
            | Event::MinerDisconnected { miner, .. }
            | Event::BalanceChanged { miner, .. } => Some(miner),
            Event::PayoutChanged { payout } => Some(&payout.miner),
            _ => None,
        }
    }

    /// The event as a miner may see it: `None` when it is not theirs to see.
    pub fn for_miner(&self, who: &str) -> Option<Event> {
        match self {
            Event::BlockFound { .. }
            | Event::BlockConfirmed { .. }
            | Event::BlockOrphaned { .. }
            | Event::NewTemplate { .. } => Some(self.clone()),
            Event::Shares {
                coin,
                window_ms,
                miners,
                ..
            } => miners
                .iter()
                .find(|m| m.miner == who)
                .map(|m| Event::Shares {
                    coin: coin.clone(),
                    accepted: m.accepted,
                    rejected: m.rejected,
                    accepted_difficulty: m.accepted_difficulty,
                    window_ms: *window_ms,
                    miners: Vec::new(),
                }),
            other if other.miner() == Some(who) => Some(other.clone()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_tagged_json() {
        let m = StreamMessage::Event(StreamEvent {
            seq: 7,
            at: 1,
            event: Event::NewTemplate {
                coin: "XMR".into(),
                height: 100,
                network_difficulty: 60.0,
            },
        });
        let text = serde_json::to_string(&m).unwrap();
        assert_eq!(
            text,
            r#"{"type":"event","seq":7,"at":1,"kind":"new_template","coin":"XMR","height":100,"network_difficulty":60.0}"#
        );
        assert_eq!(serde_json::from_str::<StreamMessage>(&text).unwrap(), m);
        let r: StreamMessage = serde_json::from_str(r#"{"type":"resync","missed":3}"#).unwrap();
        assert_eq!(r, StreamMessage::Resync { missed: 3 });
    }

    #[test]
    fn a_miner_sees_only_its_own_share_window() {
        let shares = Event::Shares {
            coin: "XMR".into(),
            accepted: 5,
            rejected: 1,
            accepted_difficulty: 50.0,
            window_ms: 1000,
            miners: vec![
                MinerShares {
                    miner: "a".into(),
                    accepted: 3,
                    rejected: 0,
                    accepted_difficulty: 30.0,
                },
                MinerShares {
                    miner: "b".into(),
                    accepted: 2,
                    rejected: 1,
                    accepted_difficulty: 20.0,
                },
            ],
        };
        match shares.for_miner("b") {
            Some(Event::Shares {
                accepted,
                rejected,
                miners,
                ..
            }) => {
                assert_eq!((accepted, rejected), (2, 1));
                assert!(miners.is_empty(), "no other miner leaks");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(shares.for_miner("c"), None);
        let connected = Event::MinerConnected {
            coin: "XMR".into(),
            miner: "a".into(),
            worker: "w".into(),
            peer: "127.0.0.1:1".into(),
        };
        assert!(connected.for_miner("a").is_some());
        assert!(connected.for_miner("b").is_none());
    }
}
