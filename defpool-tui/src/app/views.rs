//! The lists the screens draw: filtered by the screen's filter text, in display order,
//! and the selection kept inside them.

use defpool_core::api::{BlockView, PayoutView};

use super::{block_rank, payout_rank, App, LogLine, MinerRow, MinerSort, Screen};

impl App {
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

    pub(super) fn row_count(&self, screen: Screen) -> usize {
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
    pub(super) fn pointed_miner(&self) -> (String, String) {
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
}
