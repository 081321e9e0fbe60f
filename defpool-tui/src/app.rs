//! The dashboard's state and every way it changes, without any I/O.
//!
//! [`App::apply`] folds the node's stream into it, [`App::on_key`] the operator's keys,
//! [`App::on_outcome`] the answers of REST calls, and [`App::tick`] the passing of time.
//! Each returns at most an [`Action`] for the I/O layer to carry out. Rendering
//! (`crate::ui`) only reads this state, so a recorded stream and a key sequence give the
//! same screen every time.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use defpool_core::api::{
    BlockStatus, BlockView, ComponentHealth, MinerView, PayoutRequest, PayoutSettingsUpdate,
    PayoutSettingsView, PayoutStatus, PayoutView, PoolStats,
};
use defpool_core::stream::{
    CoinState, Event, MinersSummary, PortState, ProfitabilityView, Snapshot, StreamMessage,
    STREAM_VERSION,
};
use defpool_core::{Amount, CoinSpec};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::format;
use crate::history::{Ring, ShareRate, WorkWindow, HISTORY_LEN};

/// Blocks kept for the Blocks screen (the snapshot sends the newest; events add more).
const MAX_BLOCKS: usize = 200;
/// Completed and failed payouts kept after they leave the queue.
const MAX_DONE_PAYOUTS: usize = 100;
/// Lines of the Events screen.
const MAX_LOG: usize = 1000;
/// Share windows kept per miner for the drill-in's "recent shares".
const MAX_MINER_WINDOWS: usize = 20;
/// A miner without a known session counts as online this long after its last share.
const ONLINE_MS: i64 = 120_000;
/// Silence on an open stream after which the header says how long it has been quiet.
pub const QUIET_MS: i64 = 30_000;
/// Profit switches remembered for the Profitability screen.
const MAX_SWITCHES: usize = 20;

/// The screens, in tab order; the number key of each is its position plus one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Screen {
    Overview,
    Miners,
    Blocks,
    Payouts,
    Profitability,
    Events,
}

impl Screen {
    pub const ALL: [Screen; 6] = [
        Screen::Overview,
        Screen::Miners,
        Screen::Blocks,
        Screen::Payouts,
        Screen::Profitability,
        Screen::Events,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Screen::Overview => "Overview",
            Screen::Miners => "Miners",
            Screen::Blocks => "Blocks",
            Screen::Payouts => "Payouts",
            Screen::Profitability => "Profit",
            Screen::Events => "Events",
        }
    }

    pub fn index(self) -> usize {
        Screen::ALL.iter().position(|s| *s == self).unwrap_or(0)
    }
}

/// The link to the node's stream, as the I/O layer reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnState {
    /// First attempt under way.
    Connecting,
    Connected,
    /// The last attempt failed or the stream closed; the next try is `retry_in_secs` away.
    Reconnecting {
        attempt: u32,
        retry_in_secs: u64,
        error: String,
    },
}

/// Severity of a line on the Events screen; the level filter shows this and above.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    pub fn parse(s: &str) -> Level {
        match s.to_ascii_lowercase().as_str() {
            "error" => Level::Error,
            "warn" | "warning" => Level::Warn,
            _ => Level::Info,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// One line of the Events screen.
#[derive(Clone, Debug, PartialEq)]
pub struct LogLine {
    /// When it last happened.
    pub at: i64,
    pub level: Level,
    pub text: String,
    /// How many times in a row it happened: a node retrying a daemon every 200 ms
    /// must not push everything else off the screen.
    pub repeats: u32,
}

/// A status-line message: the result of the last action, or a hint.
#[derive(Clone, Debug, PartialEq)]
pub struct Status {
    pub level: Level,
    pub text: String,
    /// When it was set; it gives way to the key hints after [`STATUS_MS`].
    pub at: i64,
}

/// How long an action's result stays in the status line (it stays in Events).
pub const STATUS_MS: i64 = 20_000;

/// One share window of a miner, for the drill-in's recent shares.
#[derive(Clone, Debug, PartialEq)]
pub struct ShareWindow {
    pub at: i64,
    pub coin: String,
    pub accepted: u64,
    pub rejected: u64,
    pub accepted_difficulty: f64,
}

/// A row of the Miners screen, derived from `shares` windows and connect/disconnect
/// events (the stream has no per-miner snapshot).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MinerRow {
    pub miner: String,
    pub coins: BTreeSet<String>,
    /// Workers with an open session.
    pub workers: BTreeSet<String>,
    pub accepted: u64,
    pub rejected: u64,
    pub last_share_at: Option<i64>,
    /// When its last known session closed.
    pub disconnected_at: Option<i64>,
    pub work: WorkWindow,
    pub recent: VecDeque<ShareWindow>,
}

impl MinerRow {
    pub fn hashrate(&self, now: i64) -> f64 {
        self.work.rate(now)
    }

    /// Has an open session we saw open, or sent a share lately (sessions opened before
    /// the dashboard connected are only known by their shares).
    pub fn online(&self, now: i64) -> bool {
        if !self.workers.is_empty() {
            return true;
        }
        match self.last_share_at {
            Some(at) => now - at <= ONLINE_MS && self.disconnected_at.is_none_or(|d| at > d),
            None => false,
        }
    }
}

/// Column the Miners table is sorted by (`s` cycles, `r` reverses).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MinerSort {
    Hashrate,
    Miner,
    Accepted,
    Rejected,
    LastShare,
}

impl MinerSort {
    fn next(self) -> MinerSort {
        match self {
            MinerSort::Hashrate => MinerSort::Miner,
            MinerSort::Miner => MinerSort::Accepted,
            MinerSort::Accepted => MinerSort::Rejected,
            MinerSort::Rejected => MinerSort::LastShare,
            MinerSort::LastShare => MinerSort::Hashrate,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MinerSort::Hashrate => "hashrate",
            MinerSort::Miner => "miner",
            MinerSort::Accepted => "accepted",
            MinerSort::Rejected => "rejected",
            MinerSort::LastShare => "last share",
        }
    }
}

/// The drill-in of one miner: its REST view (workers, balances) once it arrives.
#[derive(Clone, Debug, PartialEq)]
pub struct MinerDetail {
    pub wallet: String,
    pub view: Option<MinerView>,
    pub error: Option<String>,
}

/// What a dialog does once confirmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DialogKind {
    /// `POST /miners/{wallet}/payout`.
    Payout,
    /// `PUT /miners/{wallet}/payout-settings`.
    Settings,
}

/// Where a dialog is: being filled in, asking "are you sure", or waiting for the node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DialogStage {
    Editing,
    Confirm,
    Sending,
}

/// One text field of a dialog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub label: &'static str,
    pub value: String,
    /// What an empty value means, shown greyed.
    pub hint: &'static str,
}

/// A form for a payout request or a settings change, then its confirmation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dialog {
    pub kind: DialogKind,
    pub fields: Vec<Field>,
    pub focus: usize,
    pub stage: DialogStage,
    /// Why the form cannot be sent yet.
    pub error: Option<String>,
}

impl Dialog {
    const WALLET: usize = 0;
    const COIN: usize = 1;
    const AMOUNT: usize = 2;

    fn payout(wallet: &str, coin: &str) -> Dialog {
        Dialog {
            kind: DialogKind::Payout,
            fields: vec![
                field("Wallet", wallet, "miner's payout address"),
                field("Coin", coin, "XMR, LTC or BTC"),
                field("Amount", "", "empty = whole balance"),
            ],
            focus: if wallet.is_empty() { 0 } else { 2 },
            stage: DialogStage::Editing,
            error: None,
        }
    }

    fn settings(wallet: &str, coin: &str) -> Dialog {
        Dialog {
            kind: DialogKind::Settings,
            fields: vec![
                field("Wallet", wallet, "miner's payout address"),
                field("Coin", coin, "XMR, LTC or BTC"),
                field("Threshold", "", "automatic payout at, in coins"),
            ],
            focus: if wallet.is_empty() { 0 } else { 2 },
            stage: DialogStage::Editing,
            error: None,
        }
    }

    pub fn title(&self) -> &'static str {
        match self.kind {
            DialogKind::Payout => "Request a payout",
            DialogKind::Settings => "Edit payout settings",
        }
    }

    pub fn wallet(&self) -> &str {
        self.fields[Self::WALLET].value.trim()
    }

    pub fn coin(&self) -> String {
        self.fields[Self::COIN].value.trim().to_ascii_uppercase()
    }

    /// The question asked before sending.
    pub fn confirmation(&self) -> String {
        let wallet = format::short_address(self.wallet(), 25);
        let coin = self.coin();
        let amount = self.fields[Self::AMOUNT].value.trim();
        match self.kind {
            DialogKind::Payout if amount.is_empty() => {
                format!("Pay the whole {coin} balance of {wallet} now?")
            }
            DialogKind::Payout => format!("Pay {amount} {coin} to {wallet} now?"),
            DialogKind::Settings => {
                format!("Set the {coin} payout threshold of {wallet} to {amount} {coin}?")
            }
        }
    }

    /// The request this form describes, or why it does not describe one.
    fn action(&self) -> Result<Action, String> {
        let wallet = self.wallet().to_string();
        if wallet.is_empty() {
            return Err("the wallet is empty".into());
        }
        let coin = self.coin();
        let spec = CoinSpec::lookup(&coin).ok_or_else(|| format!("unknown coin {coin:?}"))?;
        let amount = self.fields[Self::AMOUNT].value.trim();
        let atomic = if amount.is_empty() {
            None
        } else {
            let a = Amount::from_decimal(amount, spec.decimals)
                .map_err(|e| format!("amount {amount:?}: {e}"))?;
            Some(a.atomic().to_string())
        };
        match self.kind {
            DialogKind::Payout => Ok(Action::RequestPayout {
                wallet,
                request: PayoutRequest { coin, atomic },
            }),
            DialogKind::Settings => {
                let threshold = atomic.ok_or("the threshold is empty")?;
                Ok(Action::SaveSettings {
                    wallet,
                    update: PayoutSettingsUpdate {
                        coin,
                        threshold: Some(threshold),
                        ..Default::default()
                    },
                })
            }
        }
    }
}

fn field(label: &'static str, value: &str, hint: &'static str) -> Field {
    Field {
        label,
        value: value.to_string(),
        hint,
    }
}

/// Work for the I/O layer.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Quit,
    /// `GET /miners/{wallet}` for the drill-in.
    FetchMiner {
        wallet: String,
    },
    /// `GET /miners/{wallet}/payout-settings?coin=` to prefill the settings form.
    LoadSettings {
        wallet: String,
        coin: String,
    },
    RequestPayout {
        wallet: String,
        request: PayoutRequest,
    },
    SaveSettings {
        wallet: String,
        update: PayoutSettingsUpdate,
    },
}

/// The answer to an [`Action`]; errors are the node's message, one line.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Miner {
        wallet: String,
        result: Result<MinerView, String>,
    },
    SettingsLoaded {
        wallet: String,
        result: Result<PayoutSettingsView, String>,
    },
    PayoutRequested(Result<PayoutView, String>),
    SettingsSaved(Result<PayoutSettingsView, String>),
}

/// Everything the dashboard shows and where the operator is in it.
#[derive(Clone, Debug)]
pub struct App {
    /// Time as of the last message or tick (unix ms); ages are computed against it.
    pub now: i64,
    pub conn: ConnState,
    /// Set when the node speaks a stream version this build cannot read.
    pub incompatible: Option<String>,
    pub last_seq: Option<u64>,
    /// When the last stream message came: a connection that stays open while the node
    /// says nothing (an idle pool, or a node stuck shutting down) shows as quiet.
    pub last_message_at: Option<i64>,
    /// Events the stream said (or a sequence gap showed) were lost.
    pub missed: u64,
    pub snapshot_at: Option<i64>,

    pub stats: Option<PoolStats>,
    pub coins: BTreeMap<String, CoinState>,
    pub ports: Vec<PortState>,
    pub summary: MinersSummary,
    /// Newest first.
    pub blocks: Vec<BlockView>,
    pub payouts: BTreeMap<i64, PayoutView>,
    pub health: Vec<ComponentHealth>,
    pub profitability: Vec<ProfitabilityView>,
    /// `(at, from, to, reason)`, newest first.
    pub switches: VecDeque<(i64, Option<String>, String, String)>,
    pub miners: BTreeMap<String, MinerRow>,

    /// Hashrate per coin (H/s) for the chart.
    pub hashrate: BTreeMap<String, Ring<f64>>,
    coin_work: BTreeMap<String, WorkWindow>,
    /// Pool-wide shares per second, one sample per second of the node's clock.
    pub share_rate: Ring<ShareRate>,
    /// Newest last.
    pub log: VecDeque<LogLine>,

    pub screen: Screen,
    /// Selected row per screen.
    pub selected: [usize; 6],
    /// Filter text per screen.
    pub filters: [String; 6],
    /// The filter line has the keyboard.
    pub editing_filter: bool,
    pub help: bool,
    pub miner_sort: MinerSort,
    pub sort_reversed: bool,
    /// Lowest level the Events screen shows.
    pub min_level: Level,
    pub detail: Option<MinerDetail>,
    pub dialog: Option<Dialog>,
    pub status: Option<Status>,
    pub quit: bool,
}

impl Default for App {
    fn default() -> Self {
        App::new()
    }
}

impl App {
    pub fn new() -> App {
        App {
            now: 0,
            conn: ConnState::Connecting,
            incompatible: None,
            last_seq: None,
            last_message_at: None,
            missed: 0,
            snapshot_at: None,
            stats: None,
            coins: BTreeMap::new(),
            ports: Vec::new(),
            summary: MinersSummary {
                sessions: 0,
                capacity: 0,
                shares_accepted: 0,
                shares_rejected: 0,
                blocks_found: 0,
            },
            blocks: Vec::new(),
            payouts: BTreeMap::new(),
            health: Vec::new(),
            profitability: Vec::new(),
            switches: VecDeque::new(),
            miners: BTreeMap::new(),
            hashrate: BTreeMap::new(),
            coin_work: BTreeMap::new(),
            share_rate: Ring::new(HISTORY_LEN),
            log: VecDeque::new(),
            screen: Screen::Overview,
            selected: [0; 6],
            filters: Default::default(),
            editing_filter: false,
            help: false,
            miner_sort: MinerSort::Hashrate,
            sort_reversed: false,
            min_level: Level::Info,
            detail: None,
            dialog: None,
            status: None,
            quit: false,
        }
    }

    /// Time passes without a message (the I/O layer ticks once a second).
    pub fn tick(&mut self, now: i64) {
        self.now = self.now.max(now);
    }

    /// The I/O layer's news about the connection.
    pub fn set_conn(&mut self, conn: ConnState) {
        if conn != self.conn {
            match &conn {
                ConnState::Connected => self.push_log(self.now, Level::Info, "stream connected"),
                ConnState::Reconnecting { error, .. } if self.conn == ConnState::Connected => {
                    self.push_log(self.now, Level::Warn, format!("stream lost: {error}"))
                }
                _ => {}
            }
        }
        self.conn = conn;
    }

    /// Folds one stream message into the state.
    pub fn apply(&mut self, message: StreamMessage) {
        self.apply_message(message);
        self.last_message_at = Some(self.now);
    }

    fn apply_message(&mut self, message: StreamMessage) {
        match message {
            StreamMessage::Snapshot(snapshot) => self.apply_snapshot(*snapshot),
            StreamMessage::Resync { missed } => {
                self.missed += missed;
                self.push_log(
                    self.now,
                    Level::Warn,
                    format!("fell behind the node: {missed} events missed, resyncing"),
                );
            }
            StreamMessage::Event(e) => {
                if self.incompatible.is_some() {
                    return;
                }
                if let Some(last) = self.last_seq {
                    if e.seq <= last {
                        return; // already part of the snapshot we hold
                    }
                    if e.seq > last + 1 {
                        let gap = e.seq - last - 1;
                        self.missed += gap;
                        self.push_log(e.at, Level::Warn, format!("{gap} events missed"));
                    }
                }
                self.last_seq = Some(e.seq);
                self.now = self.now.max(e.at);
                self.apply_event(e.at, e.event);
            }
        }
    }

    fn apply_snapshot(&mut self, s: Snapshot) {
        if s.version != STREAM_VERSION {
            self.incompatible = Some(format!(
                "the node speaks stream version {}, this defpool-tui reads {STREAM_VERSION}",
                s.version
            ));
            return;
        }
        self.incompatible = None;
        self.now = self.now.max(s.at);
        self.snapshot_at = Some(s.at);
        self.last_seq = Some(s.seq);
        self.stats = Some(s.pool);
        self.coins = s.coins.into_iter().map(|c| (c.coin.clone(), c)).collect();
        for (coin, state) in &self.coins {
            self.hashrate
                .entry(coin.clone())
                .or_insert_with(|| Ring::new(HISTORY_LEN))
                .push(s.at, state.hashrate);
        }
        self.ports = s.ports;
        self.summary = s.miners;
        self.blocks = s.recent_blocks;
        self.blocks.truncate(MAX_BLOCKS);
        // The snapshot lists the open payouts; closed ones we saw stay as history.
        self.payouts.retain(|_, p| is_closed(p.status));
        for p in s.payouts {
            self.payouts.insert(p.id, p);
        }
        self.health = s.health;
        self.profitability = s.profitability;
        self.push_log(
            s.at,
            Level::Info,
            format!("snapshot: {} coins, seq {}", self.coins.len(), s.seq),
        );
    }

    fn apply_event(&mut self, at: i64, event: Event) {
        match event {
            Event::Shares {
                coin,
                accepted,
                rejected,
                accepted_difficulty,
                window_ms,
                miners,
            } => {
                let hpd = format::hashes_per_difficulty(&coin);
                let work = self.coin_work.entry(coin.clone()).or_default();
                work.add(at, window_ms, accepted_difficulty * hpd);
                let rate = work.rate(at);
                self.hashrate
                    .entry(coin.clone())
                    .or_insert_with(|| Ring::new(HISTORY_LEN))
                    .push(at, rate);
                if let Some(c) = self.coins.get_mut(&coin) {
                    c.hashrate = rate;
                }
                self.summary.shares_accepted += accepted;
                self.summary.shares_rejected += rejected;
                let secs = (window_ms.max(1) as f64) / 1000.0;
                let second = at / 1000;
                match self.share_rate.last_mut() {
                    Some((t, r)) if *t / 1000 == second => {
                        r.accepted += accepted as f64 / secs;
                        r.rejected += rejected as f64 / secs;
                    }
                    _ => self.share_rate.push(
                        at,
                        ShareRate {
                            accepted: accepted as f64 / secs,
                            rejected: rejected as f64 / secs,
                        },
                    ),
                }
                for m in miners {
                    let row = self.miner_row(&m.miner);
                    row.coins.insert(coin.clone());
                    row.accepted += m.accepted;
                    row.rejected += m.rejected;
                    if m.accepted + m.rejected > 0 {
                        row.last_share_at = Some(at);
                    }
                    row.work.add(at, window_ms, m.accepted_difficulty * hpd);
                    if row.recent.len() == MAX_MINER_WINDOWS {
                        row.recent.pop_front();
                    }
                    row.recent.push_back(ShareWindow {
                        at,
                        coin: coin.clone(),
                        accepted: m.accepted,
                        rejected: m.rejected,
                        accepted_difficulty: m.accepted_difficulty,
                    });
                }
            }
            Event::MinerConnected {
                coin,
                miner,
                worker,
                peer,
            } => {
                let row = self.miner_row(&miner);
                row.coins.insert(coin.clone());
                row.workers.insert(worker.clone());
                self.summary.sessions += 1;
                let who = format::short_address(&miner, 25);
                self.push_log(
                    at,
                    Level::Info,
                    format!("{coin} miner {who}.{worker} connected from {peer}"),
                );
            }
            Event::MinerDisconnected {
                coin,
                miner,
                worker,
                reason,
            } => {
                let row = self.miner_row(&miner);
                row.workers.remove(&worker);
                row.disconnected_at = Some(at);
                self.summary.sessions = self.summary.sessions.saturating_sub(1);
                let who = format::short_address(&miner, 25);
                self.push_log(
                    at,
                    Level::Info,
                    format!("{coin} miner {who}.{worker} disconnected: {reason}"),
                );
            }
            Event::NewTemplate {
                coin,
                height,
                network_difficulty,
            } => {
                let c = self.coins.entry(coin.clone()).or_insert_with(|| CoinState {
                    coin: coin.clone(),
                    job_height: None,
                    network_difficulty: None,
                    job_since: None,
                    hashrate: 0.0,
                    miners: 0,
                    workers: 0,
                });
                c.job_height = Some(height);
                c.network_difficulty = Some(network_difficulty);
                c.job_since = Some(at);
                self.push_log(
                    at,
                    Level::Info,
                    format!(
                        "{coin} new template at height {height}, difficulty {}",
                        format::compact(network_difficulty)
                    ),
                );
            }
            Event::BlockFound { block } => {
                self.summary.blocks_found += 1;
                self.push_log(
                    at,
                    Level::Info,
                    format!(
                        "{} block {} found by {} ({})",
                        block.coin,
                        block.height,
                        format::short_address(&block.finder, 25),
                        format::amount(&block.reward)
                    ),
                );
                self.upsert_block(block);
            }
            Event::BlockConfirmed { block } => {
                self.push_log(
                    at,
                    Level::Info,
                    format!("{} block {} confirmed", block.coin, block.height),
                );
                self.upsert_block(block);
            }
            Event::BlockOrphaned { block } => {
                self.push_log(
                    at,
                    Level::Warn,
                    format!("{} block {} orphaned", block.coin, block.height),
                );
                self.upsert_block(block);
            }
            Event::PayoutChanged { payout } => {
                // The node re-sends a sent payout at each new confirmation; the log
                // keeps state changes only.
                let changed = self
                    .payouts
                    .get(&payout.id)
                    .is_none_or(|old| old.status != payout.status);
                if !changed {
                    self.payouts.insert(payout.id, payout);
                    return;
                }
                let level = match payout.status {
                    PayoutStatus::Failed => Level::Error,
                    _ => Level::Info,
                };
                let mut text = format!(
                    "payout #{} of {} to {} {}",
                    payout.id,
                    format::amount(&payout.amount),
                    format::short_address(&payout.miner, 25),
                    payout.status.as_str()
                );
                if let Some(reason) = &payout.reason {
                    text.push_str(": ");
                    text.push_str(reason);
                }
                self.push_log(at, level, text);
                self.payouts.insert(payout.id, payout);
                self.trim_payouts();
            }
            Event::BalanceChanged { miner, balance } => {
                self.push_log(
                    at,
                    Level::Info,
                    format!(
                        "balance of {}: {} ({} immature)",
                        format::short_address(&miner, 25),
                        format::amount(&balance.balance),
                        balance.immature.to_decimal()
                    ),
                );
                if let Some(d) = self.detail.as_mut().filter(|d| d.wallet == miner) {
                    if let Some(view) = d.view.as_mut() {
                        match view.balances.iter_mut().find(|b| b.coin == balance.coin) {
                            Some(b) => *b = balance,
                            None => view.balances.push(balance),
                        }
                    }
                }
            }
            Event::HealthChanged { component } => {
                let level = if component.status == "ok" {
                    Level::Info
                } else {
                    Level::Warn
                };
                let mut text = format!("{} is {}", component.name, component.status);
                if let Some(d) = &component.detail {
                    text.push_str(": ");
                    text.push_str(d);
                }
                self.push_log(at, level, text);
                match self.health.iter_mut().find(|c| c.name == component.name) {
                    Some(c) => *c = component,
                    None => self.health.push(component),
                }
            }
            Event::ProfitSwitch { from, to, reason } => {
                self.push_log(
                    at,
                    Level::Info,
                    format!(
                        "profit switch {} -> {to}: {reason}",
                        from.as_deref().unwrap_or("none")
                    ),
                );
                for p in &mut self.profitability {
                    p.chosen = p.coin == to;
                    if p.chosen {
                        p.reason = Some(reason.clone());
                    }
                }
                if self.switches.len() == MAX_SWITCHES {
                    self.switches.pop_back();
                }
                self.switches.push_front((at, from, to, reason));
            }
            Event::Log {
                level,
                target,
                message,
            } => {
                self.push_log(at, Level::parse(&level), format!("{target}: {message}"));
            }
        }
    }

    fn miner_row(&mut self, miner: &str) -> &mut MinerRow {
        self.miners
            .entry(miner.to_string())
            .or_insert_with(|| MinerRow {
                miner: miner.to_string(),
                ..Default::default()
            })
    }

    fn upsert_block(&mut self, block: BlockView) {
        match self.blocks.iter_mut().find(|b| b.id == block.id) {
            Some(b) => *b = block,
            None => {
                self.blocks.insert(0, block);
                self.blocks.truncate(MAX_BLOCKS);
            }
        }
    }

    fn trim_payouts(&mut self) {
        let closed: Vec<i64> = self
            .payouts
            .values()
            .filter(|p| is_closed(p.status))
            .map(|p| p.id)
            .collect();
        if closed.len() > MAX_DONE_PAYOUTS {
            for id in &closed[..closed.len() - MAX_DONE_PAYOUTS] {
                self.payouts.remove(id);
            }
        }
    }

    fn push_log(&mut self, at: i64, level: Level, text: impl Into<String>) {
        let text = text.into();
        if let Some(last) = self.log.back_mut() {
            if last.level == level && last.text == text {
                last.repeats += 1;
                last.at = at;
                return;
            }
        }
        if self.log.len() == MAX_LOG {
            self.log.pop_front();
        }
        self.log.push_back(LogLine {
            at,
            level,
            text,
            repeats: 1,
        });
    }

    /// A line for the Events screen from the dashboard itself.
    pub fn note(&mut self, level: Level, text: impl Into<String>) {
        self.push_log(self.now, level, text);
    }

    fn set_status(&mut self, level: Level, text: impl Into<String>) {
        let text = text.into();
        self.push_log(self.now, level, text.clone());
        self.status = Some(Status {
            level,
            text,
            at: self.now,
        });
    }

    // ---- views the screens render (filtered and sorted) ----

    fn filter(&self, screen: Screen) -> String {
        self.filters[screen.index()].to_lowercase()
    }

    /// Miners matching the filter, in the chosen order.
    pub fn miner_rows(&self) -> Vec<&MinerRow> {
        let filter = self.filter(Screen::Miners);
        let mut rows: Vec<&MinerRow> = self
            .miners
            .values()
            .filter(|m| {
                filter.is_empty()
                    || m.miner.to_lowercase().contains(&filter)
                    || m.workers.iter().any(|w| w.to_lowercase().contains(&filter))
                    || m.coins.iter().any(|c| c.to_lowercase() == filter)
            })
            .collect();
        let now = self.now;
        rows.sort_by(|a, b| {
            let order = match self.miner_sort {
                MinerSort::Hashrate => b.hashrate(now).total_cmp(&a.hashrate(now)),
                MinerSort::Miner => a.miner.cmp(&b.miner),
                MinerSort::Accepted => b.accepted.cmp(&a.accepted),
                MinerSort::Rejected => b.rejected.cmp(&a.rejected),
                MinerSort::LastShare => b.last_share_at.cmp(&a.last_share_at),
            }
            .then_with(|| a.miner.cmp(&b.miner));
            if self.sort_reversed {
                order.reverse()
            } else {
                order
            }
        });
        rows
    }

    /// Blocks matching the filter: pending, then confirmed, then orphaned, newest first.
    pub fn block_rows(&self) -> Vec<&BlockView> {
        let filter = self.filter(Screen::Blocks);
        let mut rows: Vec<&BlockView> = self
            .blocks
            .iter()
            .filter(|b| {
                filter.is_empty()
                    || b.height.to_string().contains(&filter)
                    || b.coin.to_lowercase() == filter
                    || b.finder.to_lowercase().contains(&filter)
                    || b.hash.to_lowercase().starts_with(&filter)
                    || b.status.as_str() == filter
            })
            .collect();
        rows.sort_by_key(|b| (block_rank(b.status), std::cmp::Reverse((b.found_at, b.id))));
        rows
    }

    /// Payouts matching the filter, by state (the queue first), newest first.
    pub fn payout_rows(&self) -> Vec<&PayoutView> {
        let filter = self.filter(Screen::Payouts);
        let mut rows: Vec<&PayoutView> = self
            .payouts
            .values()
            .filter(|p| {
                filter.is_empty()
                    || p.miner.to_lowercase().contains(&filter)
                    || p.coin.to_lowercase() == filter
                    || p.status.as_str() == filter
                    || p.id.to_string() == filter
            })
            .collect();
        rows.sort_by_key(|p| (payout_rank(p.status), std::cmp::Reverse(p.id)));
        rows
    }

    /// Log lines at or above the level filter matching the text filter, newest first.
    pub fn log_rows(&self) -> Vec<&LogLine> {
        let filter = self.filter(Screen::Events);
        self.log
            .iter()
            .rev()
            .filter(|l| l.level >= self.min_level)
            .filter(|l| filter.is_empty() || l.text.to_lowercase().contains(&filter))
            .collect()
    }

    fn row_count(&self, screen: Screen) -> usize {
        match screen {
            Screen::Overview => 0,
            Screen::Miners => self.miner_rows().len(),
            Screen::Blocks => self.block_rows().len(),
            Screen::Payouts => self.payout_rows().len(),
            Screen::Profitability => self.profitability.len(),
            Screen::Events => self.log_rows().len(),
        }
    }

    /// The selected row of `screen`, kept inside the current list.
    pub fn selection(&self, screen: Screen) -> usize {
        let n = self.row_count(screen);
        self.selected[screen.index()].min(n.saturating_sub(1))
    }

    /// The miner the operator points at: the drill-in, or the selected row of Miners or
    /// Payouts (what a payout or settings dialog is prefilled with).
    fn pointed_miner(&self) -> (String, String) {
        if let Some(d) = &self.detail {
            let coin = d.view.as_ref().map(|v| v.coin.clone());
            let coin = coin.or_else(|| {
                self.miners
                    .get(&d.wallet)
                    .and_then(|m| m.coins.iter().next().cloned())
            });
            return (
                d.wallet.clone(),
                coin.unwrap_or_else(|| self.default_coin()),
            );
        }
        match self.screen {
            Screen::Miners => {
                let rows = self.miner_rows();
                if let Some(m) = rows.get(self.selection(Screen::Miners)) {
                    let coin = m.coins.iter().next().cloned();
                    return (m.miner.clone(), coin.unwrap_or_else(|| self.default_coin()));
                }
            }
            Screen::Payouts => {
                let rows = self.payout_rows();
                if let Some(p) = rows.get(self.selection(Screen::Payouts)) {
                    return (p.miner.clone(), p.coin.clone());
                }
            }
            _ => {}
        }
        (String::new(), self.default_coin())
    }

    fn default_coin(&self) -> String {
        self.coins
            .keys()
            .next()
            .cloned()
            .unwrap_or_else(|| "XMR".to_string())
    }

    // ---- keys ----

    /// Handles one key; returns the work it asks of the I/O layer.
    pub fn on_key(&mut self, key: KeyEvent) -> Option<Action> {
        if key.kind == KeyEventKind::Release {
            return None;
        }
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            self.quit = true;
            return Some(Action::Quit);
        }
        if self.dialog.is_some() {
            return self.dialog_key(key);
        }
        if self.help {
            // Any key closes the help; q still quits.
            self.help = false;
            if key.code == KeyCode::Char('q') {
                self.quit = true;
                return Some(Action::Quit);
            }
            return None;
        }
        if self.editing_filter {
            self.filter_key(key);
            return None;
        }
        if self.detail.is_some() {
            match key.code {
                KeyCode::Esc | KeyCode::Backspace | KeyCode::Left | KeyCode::Char('h') => {
                    self.detail = None;
                    return None;
                }
                KeyCode::Enter => {
                    let wallet = self.detail.as_ref().map(|d| d.wallet.clone())?;
                    return Some(Action::FetchMiner { wallet });
                }
                _ => {}
            }
        }
        match key.code {
            KeyCode::Char('q') => {
                self.quit = true;
                return Some(Action::Quit);
            }
            KeyCode::Char('?') => self.help = true,
            KeyCode::Tab => self.switch(Screen::ALL[(self.screen.index() + 1) % 6]),
            KeyCode::BackTab => self.switch(Screen::ALL[(self.screen.index() + 5) % 6]),
            KeyCode::Char(c @ '1'..='6') => {
                self.switch(Screen::ALL[(c as u8 - b'1') as usize]);
            }
            KeyCode::Char('j') | KeyCode::Down => self.move_selection(1),
            KeyCode::Char('k') | KeyCode::Up => self.move_selection(-1),
            KeyCode::PageDown => self.move_selection(10),
            KeyCode::PageUp => self.move_selection(-10),
            KeyCode::Home | KeyCode::Char('g') => self.selected[self.screen.index()] = 0,
            KeyCode::End | KeyCode::Char('G') => {
                let n = self.row_count(self.screen);
                self.selected[self.screen.index()] = n.saturating_sub(1);
            }
            KeyCode::Char('/') if self.screen != Screen::Overview => {
                self.editing_filter = true;
            }
            KeyCode::Esc => {
                self.filters[self.screen.index()].clear();
                self.status = None;
            }
            KeyCode::Char('s') if self.screen == Screen::Miners => {
                self.miner_sort = self.miner_sort.next();
            }
            KeyCode::Char('r') if self.screen == Screen::Miners => {
                self.sort_reversed = !self.sort_reversed;
            }
            KeyCode::Char('l') if self.screen == Screen::Events => {
                self.min_level = match self.min_level {
                    Level::Info => Level::Warn,
                    Level::Warn => Level::Error,
                    Level::Error => Level::Info,
                };
                self.selected[Screen::Events.index()] = 0;
            }
            KeyCode::Enter | KeyCode::Right | KeyCode::Char('l')
                if self.screen == Screen::Miners && self.detail.is_none() =>
            {
                let rows = self.miner_rows();
                let wallet = rows.get(self.selection(Screen::Miners))?.miner.clone();
                self.detail = Some(MinerDetail {
                    wallet: wallet.clone(),
                    view: None,
                    error: None,
                });
                return Some(Action::FetchMiner { wallet });
            }
            KeyCode::Char('p') if matches!(self.screen, Screen::Miners | Screen::Payouts) => {
                let (wallet, coin) = self.pointed_miner();
                self.dialog = Some(Dialog::payout(&wallet, &coin));
            }
            KeyCode::Char('e') if matches!(self.screen, Screen::Miners | Screen::Payouts) => {
                let (wallet, coin) = self.pointed_miner();
                self.dialog = Some(Dialog::settings(&wallet, &coin));
                if !wallet.is_empty() {
                    return Some(Action::LoadSettings { wallet, coin });
                }
            }
            _ => {}
        }
        None
    }

    fn switch(&mut self, screen: Screen) {
        if screen != self.screen {
            self.detail = None;
        }
        self.screen = screen;
    }

    fn move_selection(&mut self, delta: i64) {
        let n = self.row_count(self.screen);
        let i = self.screen.index();
        let current = self.selected[i].min(n.saturating_sub(1)) as i64;
        self.selected[i] = (current + delta).clamp(0, n.saturating_sub(1) as i64) as usize;
    }

    fn filter_key(&mut self, key: KeyEvent) {
        let i = self.screen.index();
        match key.code {
            KeyCode::Enter => self.editing_filter = false,
            KeyCode::Esc => {
                self.filters[i].clear();
                self.editing_filter = false;
            }
            KeyCode::Backspace => {
                self.filters[i].pop();
            }
            KeyCode::Char(c) => {
                self.filters[i].push(c);
                self.selected[i] = 0;
            }
            _ => {}
        }
    }

    fn dialog_key(&mut self, key: KeyEvent) -> Option<Action> {
        let dialog = self.dialog.as_mut()?;
        match dialog.stage {
            DialogStage::Sending => {
                if key.code == KeyCode::Esc {
                    // The request is out; closing only hides the wait.
                    self.dialog = None;
                }
                None
            }
            DialogStage::Confirm => match key.code {
                KeyCode::Char('y') | KeyCode::Char('Y') => {
                    let action = dialog.action();
                    match action {
                        Ok(action) => {
                            dialog.stage = DialogStage::Sending;
                            Some(action)
                        }
                        Err(e) => {
                            dialog.error = Some(e);
                            dialog.stage = DialogStage::Editing;
                            None
                        }
                    }
                }
                KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => {
                    dialog.stage = DialogStage::Editing;
                    None
                }
                _ => None,
            },
            DialogStage::Editing => {
                match key.code {
                    KeyCode::Esc => {
                        self.dialog = None;
                    }
                    KeyCode::Tab | KeyCode::Down => {
                        dialog.focus = (dialog.focus + 1) % dialog.fields.len();
                    }
                    KeyCode::BackTab | KeyCode::Up => {
                        dialog.focus =
                            (dialog.focus + dialog.fields.len() - 1) % dialog.fields.len();
                    }
                    KeyCode::Enter => match dialog.action() {
                        Ok(_) => {
                            dialog.error = None;
                            dialog.stage = DialogStage::Confirm;
                        }
                        Err(e) => dialog.error = Some(e),
                    },
                    KeyCode::Backspace => {
                        dialog.fields[dialog.focus].value.pop();
                    }
                    KeyCode::Char(c) => {
                        dialog.fields[dialog.focus].value.push(c);
                    }
                    _ => {}
                }
                None
            }
        }
    }

    // ---- REST answers ----

    pub fn on_outcome(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Miner { wallet, result } => {
                if let Some(d) = self.detail.as_mut().filter(|d| d.wallet == wallet) {
                    match result {
                        Ok(view) => {
                            d.view = Some(view);
                            d.error = None;
                        }
                        Err(e) => d.error = Some(e),
                    }
                }
            }
            Outcome::SettingsLoaded { wallet, result } => {
                let Some(dialog) = self.dialog.as_mut() else {
                    return;
                };
                if dialog.kind != DialogKind::Settings || dialog.wallet() != wallet {
                    return;
                }
                match result {
                    Ok(s) => {
                        let threshold = &mut dialog.fields[Dialog::AMOUNT].value;
                        if threshold.is_empty() {
                            *threshold = s.threshold.to_decimal();
                        }
                    }
                    Err(e) => dialog.error = Some(format!("current settings: {e}")),
                }
            }
            Outcome::PayoutRequested(result) => {
                self.dialog = None;
                match result {
                    Ok(p) => {
                        let text = format!(
                            "payout #{} of {} to {} is {}",
                            p.id,
                            format::amount(&p.amount),
                            format::short_address(&p.miner, 25),
                            p.status.as_str()
                        );
                        self.payouts.insert(p.id, p);
                        self.set_status(Level::Info, text);
                    }
                    Err(e) => self.set_status(Level::Error, format!("payout refused: {e}")),
                }
            }
            Outcome::SettingsSaved(result) => {
                self.dialog = None;
                match result {
                    Ok(s) => self.set_status(
                        Level::Info,
                        format!(
                            "{} threshold of {} is now {}",
                            s.coin,
                            format::short_address(&s.miner, 25),
                            format::amount(&s.threshold)
                        ),
                    ),
                    Err(e) => self.set_status(Level::Error, format!("settings not saved: {e}")),
                }
            }
        }
    }
}

fn is_closed(status: PayoutStatus) -> bool {
    matches!(status, PayoutStatus::Completed | PayoutStatus::Failed)
}

fn block_rank(status: BlockStatus) -> u8 {
    match status {
        BlockStatus::Pending => 0,
        BlockStatus::Confirmed => 1,
        BlockStatus::Orphaned => 2,
    }
}

fn payout_rank(status: PayoutStatus) -> u8 {
    match status {
        PayoutStatus::Pending => 0,
        PayoutStatus::Processing => 1,
        PayoutStatus::Failed => 2,
        PayoutStatus::Completed => 3,
    }
}
