//! The dashboard's state and every way it changes, without any I/O.
//!
//! [`App::apply`] folds the node's stream into it, [`App::on_key`] the operator's keys,
//! [`App::on_outcome`] the answers of REST calls, and [`App::tick`] the passing of time.
//! Each returns at most an [`Action`] for the I/O layer to carry out. Rendering
//! (`crate::ui`) only reads this state, so a recorded stream and a key sequence give the
//! same screen every time.
//!
//! By concern: `stream` folds the node's messages in, `keys` handles the keyboard,
//! `dialog` is the payout and settings form, `views` the filtered lists screens draw.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use defpool_core::api::{
    BlockStatus, BlockView, ComponentHealth, MinerView, PayoutRequest, PayoutSettingsUpdate,
    PayoutSettingsView, PayoutStatus, PayoutView, PoolStats,
};
use defpool_core::stream::{CoinState, MinersSummary, PortState, ProfitabilityView};

use crate::format;
use crate::history::{Ring, ShareRate, WorkWindow, HISTORY_LEN};

mod dialog;
mod keys;
mod stream;
mod views;

pub use dialog::{Dialog, DialogKind, DialogStage, Field};

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
    /// (when, scope, from, to, why), newest first.
    pub switches: VecDeque<(i64, String, Option<String>, String, String)>,
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
