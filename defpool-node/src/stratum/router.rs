//! Profit switching on `auto` ports: which coin each miner mines.
//!
//! A miner gets its first coin at login from the profit monitor's fresh data; then
//! the router decides again for every miner on each of its ticks
//! ([`defpool_core::profit::decide`]: the best coin the miner can mine, only past the
//! margin and after the minimum time on the current coin). A switch is handed to the
//! miner's session through its [`RouteSignal`]; the session moves to the new coin's
//! upstream and sends a clean job at that coin's difficulty. Every switch is logged
//! with its reason, kept for the API and the TUI and published on the live stream by
//! the monitor.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use defpool_core::profit::{self, Candidate, Decision, MinerAlgorithms};
use tokio::sync::{watch, Notify};

use super::PortContext;
use crate::profit::ProfitMonitor;

/// The coins of one `auto` port and the miners on it; `W` is the proxy work of the
/// port's dialect.
pub struct PortRouter<W> {
    /// The port's address, the scope of its decisions in logs and the API.
    listen: String,
    /// One context per coin the port may send miners to, in configured order.
    targets: Vec<Arc<PortContext<W>>>,
    monitor: ProfitMonitor,
    miners: Mutex<HashMap<u64, RoutedMiner>>,
}

/// What the router keeps about one logged-in miner.
struct RoutedMiner {
    /// `ADDRESS.WORKER`, for the decision log.
    label: String,
    algorithms: MinerAlgorithms,
    /// Index into `targets` of the coin the session mines now.
    coin: usize,
    /// Unix seconds since the miner is on `coin`.
    since: i64,
    signal: Arc<RouteSignal>,
}

/// Tells a session which coin the router wants it on.
pub struct RouteSignal {
    target: AtomicUsize,
    pub notify: Notify,
}

impl RouteSignal {
    /// Index of the coin the router wants now.
    pub fn target(&self) -> usize {
        self.target.load(Ordering::Acquire)
    }
}

/// The miner's place in the router; dropping it (the session ended) forgets the miner.
pub struct RouteGuard<W> {
    router: Arc<PortRouter<W>>,
    session: u64,
}

impl<W> Drop for RouteGuard<W> {
    fn drop(&mut self) {
        if let Ok(mut miners) = self.router.miners.lock() {
            miners.remove(&self.session);
        }
    }
}

/// A miner's first coin.
pub struct Admission<W> {
    pub coin: usize,
    pub signal: Arc<RouteSignal>,
    pub guard: RouteGuard<W>,
    /// Why this coin, for the login log line.
    pub reason: String,
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl<W: Send + Sync + 'static> PortRouter<W> {
    pub fn new(
        listen: String,
        targets: Vec<Arc<PortContext<W>>>,
        monitor: ProfitMonitor,
    ) -> Arc<PortRouter<W>> {
        let router = Arc::new(PortRouter {
            listen: listen.clone(),
            targets,
            monitor: monitor.clone(),
            miners: Mutex::new(HashMap::new()),
        });
        let weak = Arc::downgrade(&router);
        monitor.register_port(
            listen,
            Box::new(move || weak.upgrade().map(|r| r.miners_per_coin())),
        );
        router
    }

    pub fn target(&self, index: usize) -> Option<&Arc<PortContext<W>>> {
        self.targets.get(index)
    }

    fn symbol(&self, index: usize) -> &str {
        self.targets
            .get(index)
            .map(|t| t.coin.spec().symbol)
            .unwrap_or("-")
    }

    fn index_of(&self, symbol: &str) -> Option<usize> {
        self.targets
            .iter()
            .position(|t| t.coin.spec().symbol.eq_ignore_ascii_case(symbol))
    }

    /// The decision for one miner among this port's coins only (the monitor may know
    /// others).
    fn decide(&self, current: Option<(usize, i64)>, miner: &MinerAlgorithms, now: i64) -> Decision {
        let fresh: Vec<_> = self
            .monitor
            .candidates()
            .into_iter()
            .filter(|p| self.index_of(&p.coin).is_some())
            .collect();
        let candidates: Vec<Candidate<'_>> = fresh
            .iter()
            .map(|p| Candidate {
                coin: &p.coin,
                algorithm: p.algorithm,
                revenue_per_hash_day: p.revenue_per_hash_day,
            })
            .collect();
        let current = current.map(|(i, since)| (self.symbol(i), since));
        profit::decide(current, &candidates, miner, &self.monitor.policy(), now)
    }

    /// Places a miner that logged in: the most profitable coin it can mine, or when
    /// no coin has fresh data, the first configured coin it can mine. `None` when it
    /// can mine none of the port's coins.
    pub fn admit(
        self: &Arc<Self>,
        session: u64,
        label: String,
        algorithms: MinerAlgorithms,
    ) -> Option<Admission<W>> {
        let decision = self.decide(None, &algorithms, now_secs());
        let (coin, reason) = match decision.choice.as_deref().and_then(|c| self.index_of(c)) {
            Some(i) => (i, decision.reason.clone()),
            None => {
                let i = self
                    .targets
                    .iter()
                    .position(|t| algorithms.can_mine(t.coin.spec().algorithm))?;
                (
                    i,
                    format!(
                        "{}; starting on {}, the first coin of the port this miner can mine",
                        decision.reason,
                        self.symbol(i)
                    ),
                )
            }
        };
        let scope = format!("{} {label}", self.listen);
        self.monitor.record_decision(
            &scope,
            None,
            // Not a switch: kept as the miner's first decision, no switch event.
            &Decision {
                choice: Some(self.symbol(coin).to_string()),
                reason: reason.clone(),
                switched: false,
            },
        );
        let signal = Arc::new(RouteSignal {
            target: AtomicUsize::new(coin),
            notify: Notify::new(),
        });
        if let Ok(mut miners) = self.miners.lock() {
            miners.insert(
                session,
                RoutedMiner {
                    label,
                    algorithms,
                    coin,
                    since: now_secs(),
                    signal: signal.clone(),
                },
            );
        }
        Some(Admission {
            coin,
            signal,
            guard: RouteGuard {
                router: self.clone(),
                session,
            },
            reason,
        })
    }

    /// Names a miner for the decision log once it is known (a Bitcoin-dialect miner
    /// gets its coin at subscribe, before it authorizes).
    pub fn rename(&self, session: u64, label: String) {
        if let Ok(mut miners) = self.miners.lock() {
            if let Some(m) = miners.get_mut(&session) {
                m.label = label;
            }
        }
    }

    /// A session could not move to the coin it was sent to (no upstream slot or job):
    /// it stays where it is, and the router counts it there from now.
    pub fn stayed(&self, session: u64, coin: usize) {
        if let Ok(mut miners) = self.miners.lock() {
            if let Some(m) = miners.get_mut(&session) {
                m.coin = coin;
                m.since = now_secs();
                m.signal.target.store(coin, Ordering::Release);
            }
        }
    }

    /// Decides again for every miner; returns how many were told to switch.
    pub fn tick(&self, now: i64) -> usize {
        let Ok(mut miners) = self.miners.lock() else {
            return 0;
        };
        let mut switched = 0;
        for miner in miners.values_mut() {
            let decision = self.decide(Some((miner.coin, miner.since)), &miner.algorithms, now);
            if !decision.switched {
                continue;
            }
            let Some(to) = decision.choice.as_deref().and_then(|c| self.index_of(c)) else {
                continue;
            };
            let scope = format!("{} {}", self.listen, miner.label);
            self.monitor
                .record_decision(&scope, Some(self.symbol(miner.coin)), &decision);
            miner.coin = to;
            miner.since = now;
            miner.signal.target.store(to, Ordering::Release);
            miner.signal.notify.notify_one();
            switched += 1;
        }
        switched
    }

    /// Miners per coin on this port now, in configured coin order.
    pub fn miners_per_coin(&self) -> Vec<(String, usize)> {
        let mut counts = vec![0usize; self.targets.len()];
        if let Ok(miners) = self.miners.lock() {
            for m in miners.values() {
                if let Some(c) = counts.get_mut(m.coin) {
                    *c += 1;
                }
            }
        }
        (0..self.targets.len())
            .map(|i| (self.symbol(i).to_string(), counts[i]))
            .collect()
    }

    /// Decides again every `period` until `stop` flips.
    pub async fn run(self: Arc<Self>, period: Duration, mut stop: watch::Receiver<bool>) {
        let mut ticker = tokio::time::interval(period.max(Duration::from_millis(200)));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    let switched = self.tick(now_secs());
                    if switched > 0 {
                        tracing::info!(port = %self.listen, switched, per_coin = ?self.miners_per_coin(), "profit switch");
                    }
                }
                r = stop.changed() => {
                    if r.is_err() || *stop.borrow() {
                        return;
                    }
                }
            }
        }
    }
}
