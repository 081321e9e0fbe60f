//! How the node's stream folds into the state: snapshots replace it, events update it,
//! sequence gaps and resyncs are counted, and every event leaves a line for the Events
//! screen.

use defpool_core::api::{BlockView, PayoutStatus};
use defpool_core::stream::{CoinState, Event, Snapshot, StreamMessage, STREAM_VERSION};

use super::{
    is_closed, App, Level, MinerRow, ShareWindow, MAX_BLOCKS, MAX_DONE_PAYOUTS, MAX_MINER_WINDOWS,
    MAX_SWITCHES,
};
use crate::format;
use crate::history::{Ring, ShareRate, HISTORY_LEN};

impl App {
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
            Event::ProfitSwitch {
                scope,
                from,
                to,
                reason,
            } => {
                self.push_log(
                    at,
                    Level::Info,
                    format!(
                        "profit switch {scope} {} -> {to}: {reason}",
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
                self.switches.push_front((at, scope, from, to, reason));
            }
            Event::Profitability { coins } => {
                self.profitability = coins;
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
}
