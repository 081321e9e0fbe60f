//! The profit monitor: asks every price and network source on `[intervals]
//! profit_monitor`, keeps each coin's last good values with their times, and serves
//! fresh ones to the router (switching) and the proxy (PPS credits).
//!
//! A source that is down or answers nonsense never stops the others or the node: its
//! error is kept (and logged once when it changes, not every tick), the coin keeps its
//! last good value, and that value turns stale past `profit.max_age`. Stale data is
//! shown in the API and the stream, and never used: [`ProfitMonitor::latest`],
//! [`ProfitMonitor::network_stats`] and every decision see fresh data only.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use defpool_core::api::{
    CoinAmount, CoinProfitability, NetworkView, PriceView, ProfitDecisionView, ProfitabilityReport,
    RoutedCoinView, RoutedPortView, SourceErrorView,
};
use defpool_core::profit::{
    self, Candidate, CoinProfit, Decision, MinerAlgorithms, NetworkStats, Price, Quote,
    SwitchPolicy,
};
use defpool_core::stream::{Event, ProfitabilityView};
use defpool_core::{Amount, CoinSpec, FeeRate};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::config::ProfitConfig;
use super::source::{NetworkSource, PriceSource, SourceError};
use crate::config::Config;
use crate::daemon::RpcError;
use crate::events::EventHub;

/// Decisions kept for the API, newest first.
const DECISIONS_KEPT: usize = 50;
/// Satoshi per BTC: the stream's `ProfitabilityView` carries revenue in satoshi.
const SAT_PER_BTC: f64 = 100_000_000.0;
/// Source name of BTC's own price.
const FIXED: &str = "fixed";

/// A cheap handle on the monitor, shared by the API, the router and the proxy.
#[derive(Clone)]
pub struct ProfitMonitor {
    inner: Arc<Inner>,
}

struct Inner {
    /// False when the node has no `[profit]` section: no coins, nothing runs.
    enabled: bool,
    settings: ProfitConfig,
    coins: Vec<CoinSources>,
    http: reqwest::Client,
    events: Option<EventHub>,
    /// Never held across an `.await`.
    state: Mutex<State>,
    /// Profit-switching ports and how to count their miners per coin.
    routers: Mutex<Vec<(String, MinerCounter)>>,
}

/// Counts a profit-switching port's miners per coin (`None` once the port is gone).
pub type MinerCounter = Box<dyn Fn() -> Option<Vec<(String, usize)>> + Send + Sync>;

/// What one coin is asked from.
struct CoinSources {
    spec: &'static CoinSpec,
    /// In order of preference; empty for BTC, whose price is fixed at 1.
    prices: Vec<PriceSource>,
    network: Option<NetworkSource>,
}

#[derive(Default)]
struct State {
    coins: BTreeMap<&'static str, CoinData>,
    decisions: VecDeque<ProfitDecisionView>,
    /// The table as last published on the stream, to publish only changes.
    published: Option<Vec<ProfitabilityView>>,
}

#[derive(Default)]
struct CoinData {
    quote: Option<Quote>,
    stats: Option<(NetworkStats, String)>,
    /// Per failing source: its message and since when (unix seconds).
    errors: BTreeMap<String, (String, i64)>,
    /// Whether the coin was stale at the last refresh, to log changes only.
    was_stale: Option<bool>,
}

/// One answer of a refresh: which coin, which query, the source's name, what it
/// said, and when (unix seconds).
type Answered = (usize, Query, String, Result<Answer, SourceError>, i64);

/// One query of one refresh.
#[derive(Clone, Copy)]
enum Query {
    Price(usize),
    Network,
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl ProfitMonitor {
    /// A monitor with nothing to watch (no `[profit]` section).
    pub fn disabled() -> ProfitMonitor {
        ProfitMonitor {
            inner: Arc::new(Inner {
                enabled: false,
                settings: ProfitConfig::default(),
                coins: Vec::new(),
                http: reqwest::Client::new(),
                events: None,
                state: Mutex::new(State::default()),
                routers: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Builds the sources of every covered coin from the (validated) config.
    pub fn from_config(config: &Config, events: Option<EventHub>) -> Result<Self, RpcError> {
        // Proxy mode credits shares by network difficulty and reward, so a node with
        // proxy coins watches their network figures even without a [profit] section.
        let proxy_coins: Vec<_> = config
            .coins
            .iter()
            .filter(|c| c.mode == crate::config::Mode::Proxy)
            .cloned()
            .collect();
        let (settings, watched) = match config.profit.clone() {
            Some(settings) => (settings, config.coins.clone()),
            None if !proxy_coins.is_empty() => (Default::default(), proxy_coins),
            None => return Ok(ProfitMonitor::disabled()),
        };
        let mut coins = Vec::new();
        for spec in settings.coins(&watched) {
            let prices = settings
                .prices
                .iter()
                .filter(|p| p.coin.eq_ignore_ascii_case(spec.symbol))
                .map(PriceSource::from_config)
                .collect();
            let entry = settings
                .network
                .iter()
                .find(|n| n.coin.eq_ignore_ascii_case(spec.symbol));
            let network = NetworkSource::for_coin(spec, config.coin(spec.symbol), entry)?;
            coins.push(CoinSources {
                spec,
                prices,
                network,
            });
        }
        let http = reqwest::Client::builder()
            .timeout(settings.request_timeout)
            .user_agent(concat!("defpool/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| RpcError::Unreachable {
                url: "profit sources".into(),
                message: e.to_string(),
                connect_failed: true,
            })?;
        Ok(ProfitMonitor {
            inner: Arc::new(Inner {
                enabled: true,
                settings,
                coins,
                http,
                events,
                state: Mutex::new(State::default()),
                routers: Mutex::new(Vec::new()),
            }),
        })
    }

    pub fn is_enabled(&self) -> bool {
        self.inner.enabled
    }

    /// The switcher's hysteresis from the config.
    pub fn policy(&self) -> SwitchPolicy {
        SwitchPolicy {
            margin_percent: self.inner.settings.margin_percent,
            min_time: self.inner.settings.min_time,
        }
    }

    /// Refreshes now and then every `period` until `stop`.
    pub async fn run(self, period: Duration, mut stop: watch::Receiver<bool>) {
        if !self.is_enabled() {
            return;
        }
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    // A refresh waits at most request_timeout; stopping cuts it short.
                    tokio::select! {
                        _ = self.refresh() => {}
                        _ = stop.changed() => return,
                    }
                }
                changed = stop.changed() => {
                    if changed.is_err() || *stop.borrow() {
                        return;
                    }
                }
            }
        }
    }

    /// Asks every source once, all at the same time, and folds the answers in.
    pub async fn refresh(&self) {
        let inner = &self.inner;
        let timeout = inner.settings.request_timeout;
        let mut set = JoinSet::new();
        for (c, coin) in inner.coins.iter().enumerate() {
            let queries = (0..coin.prices.len())
                .map(Query::Price)
                .chain(coin.network.is_some().then_some(Query::Network));
            for q in queries {
                let inner = self.inner.clone();
                set.spawn(async move {
                    let coin = &inner.coins[c];
                    let (name, result) = match q {
                        Query::Price(i) => {
                            let src = &coin.prices[i];
                            let r = tokio::time::timeout(timeout, src.fetch(&inner.http)).await;
                            (src.name(), r.map(|r| r.map(Answer::Price)))
                        }
                        Query::Network => {
                            let Some(src) = &coin.network else {
                                unreachable!("only queried when present")
                            };
                            let r = tokio::time::timeout(timeout, src.fetch(&inner.http)).await;
                            (src.name(), r.map(|r| r.map(|(d, w)| Answer::Network(d, w))))
                        }
                    };
                    let result = result.unwrap_or_else(|_| {
                        Err(SourceError::Unreachable {
                            url: name.clone(),
                            message: format!(
                                "no answer within {}",
                                humantime::format_duration(timeout)
                            ),
                        })
                    });
                    (c, q, name, result, now_secs())
                });
            }
        }
        let mut answers = Vec::new();
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok(a) => answers.push(a),
                Err(e) => tracing::error!(error = %e, "a profit source query panicked"),
            }
        }
        // Prices in each coin's order of preference: the first that answered wins.
        answers.sort_by_key(|(c, q, ..)| {
            (
                *c,
                match q {
                    Query::Price(i) => *i,
                    Query::Network => usize::MAX,
                },
            )
        });
        self.apply(answers, now_secs());
    }

    fn apply(&self, answers: Vec<Answered>, now: i64) {
        let inner = &self.inner;
        let Ok(mut state) = inner.state.lock() else {
            return;
        };
        let mut priced_this_round = vec![false; inner.coins.len()];
        for (c, _q, name, result, at) in answers {
            let symbol = inner.coins[c].spec.symbol;
            let data = state.coins.entry(symbol).or_default();
            match result {
                Ok(answer) => {
                    if let Some((message, _)) = data.errors.remove(&name) {
                        tracing::info!(coin = symbol, source = %name, was = %message, "profit source answers again");
                    }
                    match answer {
                        Answer::Price(price) => {
                            if !priced_this_round[c] {
                                priced_this_round[c] = true;
                                data.quote = Some(Quote {
                                    source: name,
                                    price_btc: price,
                                    at,
                                });
                            }
                        }
                        Answer::Network(difficulty, reward) => {
                            data.stats = Some((
                                NetworkStats {
                                    difficulty,
                                    block_reward_atomic: reward,
                                    at,
                                },
                                name,
                            ));
                        }
                    }
                }
                Err(e) => {
                    let message = e.to_string();
                    let changed = data.errors.get(&name).is_none_or(|(m, _)| *m != message);
                    if changed {
                        tracing::warn!(coin = symbol, source = %name, error = %message, "profit source failed; keeping its last good value until it is stale");
                        data.errors.insert(name, (message, at));
                    }
                }
            }
        }
        for coin in &inner.coins {
            let data = state.coins.entry(coin.spec.symbol).or_default();
            if coin.spec.symbol == "BTC" {
                data.quote = Some(Quote {
                    source: FIXED.into(),
                    price_btc: Price::ONE,
                    at: now,
                });
            }
            let stale = fresh_profit(coin.spec, data, now, inner.settings.max_age).is_none();
            if data.was_stale != Some(stale) {
                if stale {
                    // Not at the very first refresh of a coin that simply has no data yet.
                    if data.was_stale.is_some() || data.quote.is_some() || data.stats.is_some() {
                        tracing::warn!(coin = coin.spec.symbol, max_age = %humantime::format_duration(inner.settings.max_age), "profitability data is stale or missing: the coin is not used for switching or credits");
                    }
                } else {
                    tracing::info!(coin = coin.spec.symbol, "profitability data is fresh");
                }
                data.was_stale = Some(stale);
            }
        }
        let views = views_of(inner, &state, now);
        if state.published.as_ref() != Some(&views) {
            state.published = Some(views.clone());
            drop(state);
            if let Some(events) = &inner.events {
                events.publish(Event::Profitability { coins: views });
            }
        }
    }

    /// The coin's fresh profitability: `None` when its price or network figures are
    /// missing or stale.
    pub fn latest(&self, coin: &str) -> Option<CoinProfit> {
        let now = now_secs();
        let state = self.inner.state.lock().ok()?;
        let spec = CoinSpec::lookup(coin)?;
        fresh_profit(
            spec,
            state.coins.get(spec.symbol)?,
            now,
            self.inner.settings.max_age,
        )
    }

    /// The coin's fresh network difficulty and block reward, for PPS credits.
    pub fn network_stats(&self, coin: &str) -> Option<NetworkStats> {
        let now = now_secs();
        let state = self.inner.state.lock().ok()?;
        let spec = CoinSpec::lookup(coin)?;
        let (stats, _) = state.coins.get(spec.symbol)?.stats.as_ref()?;
        (!stats.is_stale(now, self.inner.settings.max_age)).then_some(*stats)
    }

    /// What a PPS share of `share_difficulty` on `coin` is worth to its miner now, with
    /// the network figures it was valued at; `None` while they are stale.
    pub fn pps_credit(
        &self,
        coin: &str,
        share_difficulty: f64,
        fee: FeeRate,
    ) -> Option<(Amount, NetworkStats)> {
        let stats = self.network_stats(coin)?;
        let credit = profit::pps_credit(
            share_difficulty,
            stats.difficulty,
            Amount::from_atomic(stats.block_reward_atomic),
            fee,
        )?;
        Some((credit, stats))
    }

    /// The monitor as proxy mode's PPS network source
    /// ([`crate::accounting::pps::NetworkSource`]): a coin's fresh network difficulty
    /// and block reward, `None` while they are stale or missing (shares then wait).
    pub fn pps_network_source(&self) -> crate::accounting::pps::NetworkSource {
        let monitor = self.clone();
        Arc::new(move |coin| {
            monitor
                .network_stats(coin)
                .map(|s| crate::store::NetworkAtShare {
                    difficulty: s.difficulty,
                    block_reward: Amount::from_atomic(s.block_reward_atomic),
                })
        })
    }

    /// Every coin with fresh data.
    pub fn candidates(&self) -> Vec<CoinProfit> {
        self.inner
            .coins
            .iter()
            .filter_map(|c| self.latest(c.spec.symbol))
            .collect()
    }

    /// Decides which coin `miner` should mine (see [`profit::decide`]) on fresh data
    /// and records the decision under `scope` (a port, miner or worker name).
    pub fn decide(
        &self,
        scope: &str,
        current: Option<(&str, i64)>,
        miner: &MinerAlgorithms,
    ) -> Decision {
        let fresh = self.candidates();
        let candidates: Vec<Candidate<'_>> = fresh
            .iter()
            .map(|p| Candidate {
                coin: &p.coin,
                algorithm: p.algorithm,
                revenue_per_hash_day: p.revenue_per_hash_day,
            })
            .collect();
        let decision = profit::decide(current, &candidates, miner, &self.policy(), now_secs());
        self.record_decision(scope, current.map(|c| c.0), &decision);
        decision
    }

    /// Keeps a decision for the API and the TUI: every switch (published as a
    /// `profit_switch` event and logged with its reason), and a scope's first decision.
    pub fn record_decision(&self, scope: &str, from: Option<&str>, decision: &Decision) {
        let Ok(mut state) = self.inner.state.lock() else {
            return;
        };
        let first = !state.decisions.iter().any(|d| d.scope == scope);
        if !(decision.switched || first) {
            return;
        }
        tracing::info!(scope, from = from.unwrap_or("-"), to = decision.choice.as_deref().unwrap_or("-"), switched = decision.switched, reason = %decision.reason, "profit decision");
        state.decisions.push_front(ProfitDecisionView {
            at: now_secs() * 1000,
            scope: scope.to_string(),
            from: from.map(str::to_string),
            to: decision.choice.clone(),
            switched: decision.switched,
            reason: decision.reason.clone(),
        });
        state.decisions.truncate(DECISIONS_KEPT);
        drop(state);
        if let (true, Some(to), Some(events)) = (
            decision.switched,
            decision.choice.clone(),
            &self.inner.events,
        ) {
            events.publish(Event::ProfitSwitch {
                scope: scope.to_string(),
                from: from.map(str::to_string),
                to,
                reason: decision.reason.clone(),
            });
        }
    }

    /// The table as the stream carries it (also in snapshots).
    pub fn views(&self) -> Vec<ProfitabilityView> {
        let now = now_secs();
        match self.inner.state.lock() {
            Ok(state) => views_of(&self.inner, &state, now),
            Err(_) => Vec::new(),
        }
    }

    /// Adds a profit-switching port to the report.
    pub fn register_port(&self, port: String, count: MinerCounter) {
        if let Ok(mut routers) = self.inner.routers.lock() {
            routers.push((port, count));
        }
    }

    /// Everything `GET /api/v1/profitability` shows.
    pub fn report(&self) -> ProfitabilityReport {
        let ports = match self.inner.routers.lock() {
            Ok(routers) => routers
                .iter()
                .filter_map(|(port, count)| {
                    Some(RoutedPortView {
                        port: port.clone(),
                        coins: count()?
                            .into_iter()
                            .map(|(coin, miners)| RoutedCoinView {
                                coin,
                                miners: miners as u64,
                            })
                            .collect(),
                    })
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        let inner = &self.inner;
        let now = now_secs();
        let max_age = inner.settings.max_age;
        let age = |at: i64| u64::try_from(now.saturating_sub(at)).unwrap_or(0);
        let (coins, decisions) = match inner.state.lock() {
            Ok(state) => {
                let coins = inner
                    .coins
                    .iter()
                    .map(|c| {
                        let empty = CoinData::default();
                        let data = state.coins.get(c.spec.symbol).unwrap_or(&empty);
                        let fresh = fresh_profit(c.spec, data, now, max_age);
                        CoinProfitability {
                            coin: c.spec.symbol.into(),
                            algorithm: algorithm_name(c.spec),
                            price: data.quote.as_ref().map(|q| PriceView {
                                btc: q.price_btc.to_string(),
                                source: q.source.clone(),
                                at: q.at * 1000,
                                age_secs: age(q.at),
                            }),
                            network: data.stats.as_ref().map(|(s, source)| NetworkView {
                                difficulty: s.difficulty,
                                reward: CoinAmount::new(
                                    c.spec.symbol,
                                    Amount::from_atomic(s.block_reward_atomic),
                                ),
                                source: source.clone(),
                                at: s.at * 1000,
                                age_secs: age(s.at),
                            }),
                            revenue_per_hash_day_btc: fresh
                                .as_ref()
                                .map(|p| p.revenue_per_hash_day),
                            stale: fresh.is_none(),
                            errors: data
                                .errors
                                .iter()
                                .map(|(source, (message, since))| SourceErrorView {
                                    source: source.clone(),
                                    message: message.clone(),
                                    since: since * 1000,
                                })
                                .collect(),
                        }
                    })
                    .collect();
                (coins, state.decisions.iter().cloned().collect())
            }
            Err(_) => (Vec::new(), Vec::new()),
        };
        ProfitabilityReport {
            enabled: inner.enabled,
            max_age_secs: max_age.as_secs(),
            margin_percent: inner.settings.margin_percent,
            min_time_secs: inner.settings.min_time.as_secs(),
            coins,
            decisions,
            ports,
        }
    }
}

/// What one query brought.
enum Answer {
    Price(Price),
    /// Difficulty (share-difficulty units) and block reward (atomic).
    Network(f64, u64),
}

fn algorithm_name(spec: &CoinSpec) -> String {
    serde_json::to_value(spec.algorithm)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The coin's profitability when both its inputs are fresh.
fn fresh_profit(
    spec: &CoinSpec,
    data: &CoinData,
    now: i64,
    max_age: Duration,
) -> Option<CoinProfit> {
    let quote = data.quote.as_ref().filter(|q| !q.is_stale(now, max_age))?;
    let (stats, _) = data
        .stats
        .as_ref()
        .filter(|(s, _)| !s.is_stale(now, max_age))?;
    CoinProfit::compute(spec, quote.clone(), *stats)
}

/// The stream's table: revenue in satoshi per (hash/s) per day (0 while stale), the
/// coin of the latest decision marked chosen with its reason.
fn views_of(inner: &Inner, state: &State, now: i64) -> Vec<ProfitabilityView> {
    let latest = state.decisions.front();
    inner
        .coins
        .iter()
        .map(|c| {
            let fresh = state
                .coins
                .get(c.spec.symbol)
                .and_then(|d| fresh_profit(c.spec, d, now, inner.settings.max_age));
            let chosen = latest.is_some_and(|d| d.to.as_deref() == Some(c.spec.symbol));
            ProfitabilityView {
                coin: c.spec.symbol.into(),
                revenue_per_hash_day: fresh
                    .as_ref()
                    .map_or(0.0, |p| p.revenue_per_hash_day * SAT_PER_BTC),
                chosen,
                reason: match (&fresh, chosen) {
                    (None, _) => Some("stale: no fresh price or network data".into()),
                    (Some(_), true) => latest.map(|d| d.reason.clone()),
                    (Some(_), false) => None,
                },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use defpool_core::coin::Algorithm;

    const XMR_ADDR: &str = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A";

    fn monitor(events: &EventHub) -> ProfitMonitor {
        let config = Config::from_toml_str(&format!(
            "[[coins]]\nsymbol = \"XMR\"\npool_address = \"{XMR_ADDR}\"\n[[coins.daemons]]\nurl = \"http://127.0.0.1:1\"\n[profit]\nmax_age = \"60s\"\n[[profit.prices]]\ncoin = \"XMR\"\nprovider = \"binance\"\n"
        ))
        .unwrap();
        ProfitMonitor::from_config(&config, Some(events.clone())).unwrap()
    }

    fn answers(at: i64) -> Vec<Answered> {
        vec![
            (
                0,
                Query::Price(0),
                "binance".into(),
                Ok(Answer::Price(Price::from_decimal("0.003").unwrap())),
                at,
            ),
            (
                0,
                Query::Network,
                "daemon".into(),
                Ok(Answer::Network(300e9, 600_000_000_000)),
                at,
            ),
        ]
    }

    #[tokio::test]
    async fn fresh_data_is_served_and_stale_data_never() {
        let events = EventHub::new();
        let mut rx = events.subscribe();
        let m = monitor(&events);
        let now = now_secs();
        m.apply(answers(now), now);
        let p = m.latest("xmr").expect("fresh");
        assert_eq!(p.quote.source, "binance");
        assert!((p.revenue_per_hash_day - 86_400.0 / 300e9 * 0.6 * 0.003).abs() < 1e-20);
        let network = (m.pps_network_source())("XMR").expect("fresh network");
        assert_eq!(network.block_reward.atomic(), 600_000_000_000);
        let (credit, _) = m.pps_credit("XMR", 3_000.0, FeeRate::ZERO).unwrap();
        assert_eq!(credit.atomic(), 6_000);
        match rx.recv().await.unwrap().event.event.clone() {
            Event::Profitability { coins } => {
                assert_eq!(coins[0].coin, "XMR");
                assert!(coins[0].revenue_per_hash_day > 0.0);
            }
            other => panic!("{other:?}"),
        }
        // The same table again publishes nothing.
        m.apply(Vec::new(), now);
        assert!(rx.try_recv().is_err());

        // Data read 61 s ago (max_age 60 s) is stale: kept for display, never served.
        let old = now - 61;
        m.apply(answers(old), now);
        assert!(m.latest("XMR").is_none());
        assert!(m.network_stats("XMR").is_none());
        assert!((m.pps_network_source())("XMR").is_none());
        assert!(m.pps_credit("XMR", 1.0, FeeRate::ZERO).is_none());
        let report = m.report();
        assert!(report.coins[0].stale);
        assert_eq!(report.coins[0].price.as_ref().unwrap().btc, "0.003");
        assert!(report.coins[0].revenue_per_hash_day_btc.is_none());
    }

    #[tokio::test]
    async fn decisions_are_recorded_and_switches_published() {
        let events = EventHub::new();
        let m = monitor(&events);
        let now = now_secs();
        m.apply(answers(now), now);
        let mut rx = events.subscribe();
        let miner = MinerAlgorithms::of([Algorithm::RandomX]);
        let d = m.decide("port 127.0.0.1:3333", Some(("LTC", now - 5)), &miner);
        assert_eq!(d.choice.as_deref(), Some("XMR"));
        assert!(d.switched, "LTC has no data: switch at once");
        match rx.recv().await.unwrap().event.event.clone() {
            Event::ProfitSwitch { from, to, .. } => {
                assert_eq!((from.as_deref(), to.as_str()), (Some("LTC"), "XMR"));
            }
            other => panic!("{other:?}"),
        }
        // Staying is recorded once per scope, not on every call.
        m.decide("port 127.0.0.1:3333", Some(("XMR", now)), &miner);
        assert_eq!(m.report().decisions.len(), 1);
        let views = m.views();
        assert!(views[0].chosen);
    }
}
