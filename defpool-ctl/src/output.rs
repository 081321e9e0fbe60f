//! Human output: aligned tables, decimal coin amounts, UTC times and hashrates.
//!
//! Every function here is pure (views in, text out) so the exact layout is pinned by
//! unit tests. Scripts should use `--json`, not parse this text.

use defpool_core::api::{
    AuditReport, BalanceView, BanList, BanView, BlockView, CoinAmount, ConfigReload,
    EffectiveConfig, Health, MinerBalances, MinerSummaryView, MinerView, Page, PayoutSettingsView,
    PayoutView, PoolStats, WorkerView,
};
use defpool_core::CoinSpec;

/// Spaces between table columns.
const GAP: &str = "  ";
/// Shown for an absent value.
const NONE: &str = "-";

/// How a column's cells line up: text left, numbers and amounts right.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// A table with a header row, columns as wide as their widest cell.
#[derive(Debug, Clone)]
pub struct Table {
    columns: Vec<(&'static str, Align)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(columns: &[(&'static str, Align)]) -> Table {
        Table {
            columns: columns.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; control characters in cells (from node-supplied text) become spaces
    /// so one row stays one line.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells.iter().map(|c| clean(c)).collect());
    }

    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.columns.iter().map(|(h, _)| width(h)).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(width(cell));
            }
        }
        let mut out = String::new();
        let header: Vec<&str> = self.columns.iter().map(|(h, _)| *h).collect();
        self.render_line(&mut out, &widths, &header);
        for row in &self.rows {
            let cells: Vec<&str> = row.iter().map(String::as_str).collect();
            self.render_line(&mut out, &widths, &cells);
        }
        out
    }

    fn render_line(&self, out: &mut String, widths: &[usize], cells: &[&str]) {
        let mut line = String::new();
        for (i, ((_, align), w)) in self.columns.iter().zip(widths).enumerate() {
            let cell = cells.get(i).copied().unwrap_or("");
            if i > 0 {
                line.push_str(GAP);
            }
            let pad = " ".repeat(w.saturating_sub(width(cell)));
            match align {
                Align::Left => {
                    line.push_str(cell);
                    line.push_str(&pad);
                }
                Align::Right => {
                    line.push_str(&pad);
                    line.push_str(cell);
                }
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

/// A two-column `label  value` list for one object.
pub fn details(pairs: &[(&str, String)]) -> String {
    let label_width = pairs.iter().map(|(l, _)| width(l)).max().unwrap_or(0);
    let mut out = String::new();
    for (label, value) in pairs {
        let line = format!("{label:<label_width$}{GAP}{}", clean(value));
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn width(s: &str) -> usize {
    s.chars().count()
}

fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// `1.25 XMR`; an amount of a coin this build does not know is shown in atomic units,
/// never as if it had some guessed number of decimals.
pub fn amount(a: &CoinAmount) -> String {
    match (CoinSpec::lookup(&a.coin), a.amount()) {
        (Some(_), Some(_)) => format!("{} {}", a.to_decimal(), a.coin),
        _ => format!("{} atomic {}", a.atomic, a.coin),
    }
}

fn opt_amount(a: Option<&CoinAmount>) -> String {
    a.map(amount).unwrap_or_else(|| NONE.to_string())
}

/// Unix milliseconds as UTC `YYYY-MM-DD HH:MM:SS` (proleptic Gregorian calendar).
pub fn time(unix_ms: i64) -> String {
    let secs = unix_ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

pub fn opt_time(unix_ms: Option<i64>) -> String {
    unix_ms.map(time).unwrap_or_else(|| NONE.to_string())
}

/// Days since 1970-01-01 to (year, month, day), after Howard Hinnant's
/// `civil_from_days`: shift to eras of 400 years starting on 0000-03-01 so the leap
/// day is the last day of the shifted year.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, 0..=146096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // year of era, 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of year from March 1st, 0..=365
    let mp = (5 * doy + 2) / 153; // month from March, 0..=11
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month as u32, day as u32)
}

/// Hashes per second with an SI prefix: `1.50 MH/s`.
pub fn hashrate(hps: f64) -> String {
    if !hps.is_finite() || hps < 0.0 {
        return NONE.to_string();
    }
    const UNITS: [&str; 7] = ["H/s", "kH/s", "MH/s", "GH/s", "TH/s", "PH/s", "EH/s"];
    let mut value = hps;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.2} {}", UNITS[unit])
    }
}

/// Seconds as `1d 2h 3m 4s`, starting at the largest non-zero unit.
pub fn duration(secs: u64) -> String {
    let parts = [
        (secs / 86_400, "d"),
        (secs % 86_400 / 3600, "h"),
        (secs % 3600 / 60, "m"),
        (secs % 60, "s"),
    ];
    let first = parts
        .iter()
        .position(|(v, _)| *v > 0)
        .unwrap_or(parts.len() - 1);
    parts[first..]
        .iter()
        .map(|(v, u)| format!("{v}{u}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// Long identifiers (95-character Monero addresses, 64-character hashes) cut in the
/// middle so a table fits a terminal; `--json` has them whole.
pub fn short(s: &str, head: usize, tail: usize) -> String {
    let n = width(s);
    if n <= head + tail + 1 {
        return s.to_string();
    }
    let start: String = s.chars().take(head).collect();
    let end: String = s.chars().skip(n - tail).collect();
    format!("{start}…{end}")
}

fn next_page_hint(out: &mut String, next_cursor: Option<&str>) {
    if let Some(cursor) = next_cursor {
        out.push_str(&format!("more: --cursor {cursor} (or --all)\n"));
    }
}

pub fn render_health(h: &Health) -> String {
    let mut out = details(&[
        ("status", h.status.clone()),
        ("version", h.version.clone()),
        ("uptime", duration(h.uptime_secs)),
    ]);
    if !h.components.is_empty() {
        let mut table = Table::new(&[
            ("COMPONENT", Align::Left),
            ("STATUS", Align::Left),
            ("DETAIL", Align::Left),
        ]);
        for c in &h.components {
            table.row(vec![
                c.name.clone(),
                c.status.clone(),
                c.detail.clone().unwrap_or_else(|| NONE.to_string()),
            ]);
        }
        out.push('\n');
        out.push_str(&table.render());
    }
    out
}

pub fn render_stats(s: &PoolStats) -> String {
    if s.coins.is_empty() {
        return "no coins configured\n".to_string();
    }
    let mut table = Table::new(&[
        ("COIN", Align::Left),
        ("MODE", Align::Left),
        ("SCHEME", Align::Left),
        ("FEE", Align::Right),
        ("MINERS", Align::Right),
        ("WORKERS", Align::Right),
        ("HASHRATE", Align::Right),
        ("BLOCKS P/C/O", Align::Right),
        ("LAST BLOCK", Align::Right),
        ("LAST BLOCK AT", Align::Left),
        ("PAID", Align::Right),
        ("WALLET", Align::Left),
    ]);
    for c in &s.coins {
        table.row(vec![
            c.coin.clone(),
            c.mode.clone(),
            c.scheme.clone(),
            format!("{}%", c.fee_percent),
            c.miners.to_string(),
            c.workers.to_string(),
            hashrate(c.hashrate),
            format!(
                "{}/{}/{}",
                c.blocks_pending, c.blocks_confirmed, c.blocks_orphaned
            ),
            c.last_block_height
                .map(|h| h.to_string())
                .unwrap_or_else(|| NONE.to_string()),
            opt_time(c.last_block_at),
            amount(&c.total_paid),
            if c.wallet_configured {
                "configured"
            } else {
                "not configured"
            }
            .to_string(),
        ]);
    }
    let mut out = table.render();
    out.push_str(&format!(
        "hashrate over the last {}; blocks pending/confirmed/orphaned\n",
        duration(s.hashrate_window_secs)
    ));
    out
}

/// Every miner's payouts: the payout table with a miner column.
pub fn render_all_payouts(page: &Page<PayoutView>) -> String {
    if page.items.is_empty() {
        return "no payouts\n".to_string();
    }
    let mut table = Table::new(&[
        ("ID", Align::Right),
        ("MINER", Align::Left),
        ("AMOUNT", Align::Right),
        ("STATUS", Align::Left),
        ("ORIGIN", Align::Left),
        ("ATTEMPTS", Align::Right),
        ("UPDATED", Align::Left),
        ("TX HASH / REASON", Align::Left),
    ]);
    for p in &page.items {
        table.row(vec![
            p.id.to_string(),
            short(&p.miner, 8, 6),
            amount(&p.amount),
            p.status.as_str().to_string(),
            p.origin.clone(),
            p.attempts.to_string(),
            time(p.updated_at),
            p.tx_hash
                .clone()
                .or_else(|| p.reason.clone())
                .unwrap_or_else(|| NONE.to_string()),
        ]);
    }
    let mut out = table.render();
    next_page_hint(&mut out, page.next_cursor.as_deref());
    out
}

pub fn render_miners(page: &Page<MinerSummaryView>) -> String {
    if page.items.is_empty() {
        return "no miners\n".to_string();
    }
    let mut table = Table::new(&[
        ("MINER", Align::Left),
        ("COIN", Align::Left),
        ("WORKERS", Align::Right),
        ("HASHRATE", Align::Right),
        ("LAST SHARE", Align::Left),
        ("BALANCE", Align::Right),
    ]);
    for m in &page.items {
        table.row(vec![
            short(&m.miner, 8, 6),
            m.coin.clone(),
            m.workers.to_string(),
            hashrate(m.hashrate),
            opt_time(m.last_share_at),
            amount(&m.balance),
        ]);
    }
    let mut out = table.render();
    next_page_hint(&mut out, page.next_cursor.as_deref());
    out
}

fn worker_table(workers: &[WorkerView]) -> String {
    if workers.is_empty() {
        return "no workers\n".to_string();
    }
    let mut table = Table::new(&[
        ("WORKER", Align::Left),
        ("HASHRATE", Align::Right),
        ("VALID", Align::Right),
        ("INVALID", Align::Right),
        ("LAST SHARE", Align::Left),
    ]);
    for w in workers {
        table.row(vec![
            w.name.clone(),
            hashrate(w.hashrate),
            w.valid_shares.to_string(),
            w.invalid_shares.to_string(),
            opt_time(w.last_share_at),
        ]);
    }
    table.render()
}

/// `workers WALLET`: the worker table of the miner view.
pub fn render_workers(m: &MinerView) -> String {
    format!(
        "miner  {}\nhashrate over the last {}\n\n{}",
        clean(&m.miner),
        duration(m.hashrate_window_secs),
        worker_table(&m.workers)
    )
}

pub fn render_bans(list: &BanList) -> String {
    if list.bans.is_empty() {
        return "no bans\n".to_string();
    }
    let mut table = Table::new(&[
        ("IP", Align::Left),
        ("EXPIRES", Align::Left),
        ("REMAINING", Align::Right),
    ]);
    for b in &list.bans {
        table.row(vec![
            b.ip.clone(),
            time(b.expires_at),
            duration(b.remaining_secs),
        ]);
    }
    table.render()
}

pub fn render_ban(b: &BanView) -> String {
    details(&[
        ("ip", b.ip.clone()),
        ("expires", time(b.expires_at)),
        ("remaining", duration(b.remaining_secs)),
    ])
}

/// The node's TOML as it runs, after a comment naming its file.
pub fn render_config(c: &EffectiveConfig) -> String {
    let source = c.source.as_deref().unwrap_or("built-in defaults");
    let mut out = format!(
        "# effective config of the node (from {source}; secrets redacted)\n# reloadable without a restart: {}\n",
        c.reloadable.join(", ")
    );
    out.push_str(&c.toml);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

pub fn render_reload(r: &ConfigReload) -> String {
    if r.changed.is_empty() {
        format!("reloaded {}: no change\n", clean(&r.source))
    } else {
        format!(
            "reloaded {}: applied {}\n",
            clean(&r.source),
            r.changed.join(", ")
        )
    }
}

pub fn render_miner(m: &MinerView) -> String {
    let mut out = details(&[
        ("miner", m.miner.clone()),
        ("coin", m.coin.clone()),
        (
            "hashrate",
            format!(
                "{} (last {})",
                hashrate(m.hashrate),
                duration(m.hashrate_window_secs)
            ),
        ),
        (
            "shares",
            format!("{} valid, {} invalid", m.valid_shares, m.invalid_shares),
        ),
        ("last share", opt_time(m.last_share_at)),
    ]);
    out.push('\n');
    out.push_str(&worker_table(&m.workers));
    out.push('\n');
    out.push_str(&balance_table(&m.balances));
    out
}

/// One row per coin: what can be paid now, what is still maturing, what is on its way
/// and what was paid.
pub fn balance_table(balances: &[BalanceView]) -> String {
    if balances.is_empty() {
        return "no balances\n".to_string();
    }
    let mut table = Table::new(&[
        ("COIN", Align::Left),
        ("BALANCE", Align::Right),
        ("IMMATURE", Align::Right),
        ("PENDING PAYOUTS", Align::Right),
        ("PAID", Align::Right),
        ("UPDATED", Align::Left),
    ]);
    for b in balances {
        table.row(vec![
            b.coin.clone(),
            amount(&b.balance),
            amount(&b.immature),
            amount(&b.pending_payouts),
            amount(&b.paid),
            time(b.updated_at),
        ]);
    }
    table.render()
}

pub fn render_balances(b: &MinerBalances) -> String {
    format!(
        "miner  {}\n\n{}",
        clean(&b.miner),
        balance_table(&b.balances)
    )
}

pub fn render_balance(b: &BalanceView) -> String {
    details(&[
        ("coin", b.coin.clone()),
        ("balance", amount(&b.balance)),
        ("immature", amount(&b.immature)),
        ("pending payouts", amount(&b.pending_payouts)),
        ("paid", amount(&b.paid)),
        ("updated", time(b.updated_at)),
    ])
}

pub fn payout_table(payouts: &[PayoutView]) -> String {
    if payouts.is_empty() {
        return "no payouts\n".to_string();
    }
    let mut table = Table::new(&[
        ("ID", Align::Right),
        ("AMOUNT", Align::Right),
        ("FEE", Align::Right),
        ("STATUS", Align::Left),
        ("ORIGIN", Align::Left),
        ("ATTEMPTS", Align::Right),
        ("CREATED", Align::Left),
        ("UPDATED", Align::Left),
        ("TX HASH / REASON", Align::Left),
    ]);
    for p in payouts {
        table.row(vec![
            p.id.to_string(),
            amount(&p.amount),
            opt_amount(p.fee.as_ref()),
            p.status.as_str().to_string(),
            p.origin.clone(),
            p.attempts.to_string(),
            time(p.created_at),
            time(p.updated_at),
            p.tx_hash
                .clone()
                .or_else(|| p.reason.clone())
                .unwrap_or_else(|| NONE.to_string()),
        ]);
    }
    table.render()
}

pub fn render_payouts(page: &Page<PayoutView>) -> String {
    let mut out = payout_table(&page.items);
    next_page_hint(&mut out, page.next_cursor.as_deref());
    out
}

/// One payout in full, as created by `payout request`.
pub fn render_payout(p: &PayoutView) -> String {
    let opt = |s: &Option<String>| s.clone().unwrap_or_else(|| NONE.to_string());
    details(&[
        ("id", p.id.to_string()),
        ("miner", p.miner.clone()),
        ("amount", amount(&p.amount)),
        ("fee", opt_amount(p.fee.as_ref())),
        ("status", p.status.as_str().to_string()),
        ("reason", opt(&p.reason)),
        ("tx hash", opt(&p.tx_hash)),
        ("origin", p.origin.clone()),
        ("attempts", p.attempts.to_string()),
        ("created", time(p.created_at)),
        ("updated", time(p.updated_at)),
    ])
}

pub fn render_settings(s: &PayoutSettingsView) -> String {
    details(&[
        ("miner", s.miner.clone()),
        ("coin", s.coin.clone()),
        ("threshold", amount(&s.threshold)),
        ("target coin", s.target_coin.clone()),
        ("auto exchange", yes_no(s.auto_exchange).to_string()),
        (
            "customized",
            if s.customized {
                "yes"
            } else {
                "no (pool defaults)"
            }
            .to_string(),
        ),
        ("updated", time(s.updated_at)),
    ])
}

pub fn block_table(blocks: &[BlockView]) -> String {
    if blocks.is_empty() {
        return "no blocks\n".to_string();
    }
    let mut table = Table::new(&[
        ("ID", Align::Right),
        ("COIN", Align::Left),
        ("HEIGHT", Align::Right),
        ("STATUS", Align::Left),
        ("CONFIRMATIONS", Align::Right),
        ("REWARD", Align::Right),
        ("FINDER", Align::Left),
        ("WORKER", Align::Left),
        ("SCHEME", Align::Left),
        ("FOUND", Align::Left),
        ("HASH", Align::Left),
    ]);
    for b in blocks {
        table.row(vec![
            b.id.to_string(),
            b.coin.clone(),
            b.height.to_string(),
            b.status.as_str().to_string(),
            format!("{}/{}", b.confirmations, b.maturity),
            amount(&b.reward),
            short(&b.finder, 8, 6),
            b.worker.clone(),
            b.scheme.clone(),
            time(b.found_at),
            short(&b.hash, 10, 6),
        ]);
    }
    table.render()
}

pub fn render_blocks(page: &Page<BlockView>) -> String {
    let mut out = block_table(&page.items);
    next_page_hint(&mut out, page.next_cursor.as_deref());
    out
}

pub fn render_audit(r: &AuditReport) -> String {
    let checked = format!(
        "{} balances, {} blocks, {} payouts checked",
        r.balances_checked, r.blocks_checked, r.payouts_checked
    );
    if r.ok && r.differences.is_empty() {
        return format!("audit clean: {checked}\n");
    }
    let mut out = String::new();
    if !r.differences.is_empty() {
        let mut table = Table::new(&[
            ("KIND", Align::Left),
            ("COIN", Align::Left),
            ("SUBJECT", Align::Left),
            ("EXPECTED", Align::Right),
            ("ACTUAL", Align::Right),
        ]);
        for d in &r.differences {
            let as_amount = |atomic: &str| {
                amount(&CoinAmount {
                    coin: d.coin.clone(),
                    atomic: atomic.to_string(),
                })
            };
            table.row(vec![
                d.kind.clone(),
                d.coin.clone(),
                d.subject.clone(),
                as_amount(&d.expected),
                as_amount(&d.actual),
            ]);
        }
        out.push_str(&table.render());
        out.push('\n');
    }
    let verdict = if r.ok { "audit passed" } else { "audit FAILED" };
    out.push_str(&format!(
        "{verdict}: {} difference{} ({checked})\n",
        r.differences.len(),
        if r.differences.len() == 1 { "" } else { "s" }
    ));
    out
}

pub fn render_proxy(r: &defpool_core::api::ProxyReport) -> String {
    if r.coins.is_empty() {
        return "no coin is in proxy mode on this node\n".to_string();
    }
    let mut out = String::new();
    for c in &r.coins {
        out.push_str(&format!(
            "{}: {} accepted, {} rejected, {} lost upstream; {} waiting for network data\n",
            c.coin, c.accepted, c.rejected, c.lost, c.uncredited
        ));
        out.push_str(&format!(
            "  credited {} + fees {} = expected {}; wallet received {}\n",
            amount(&c.credited),
            amount(&c.fees),
            amount(&c.expected),
            match (&c.received, &c.received_error) {
                (Some(a), _) => amount(a),
                (None, Some(e)) => format!("unknown ({e})"),
                (None, None) => "unknown".to_string(),
            }
        ));
        let mut table = Table::new(&[
            ("UPSTREAM", Align::Left),
            ("MINERS", Align::Right),
            ("HEIGHT", Align::Right),
            ("JOBS", Align::Right),
            ("SENT", Align::Right),
            ("ACCEPTED", Align::Right),
            ("REJECTED", Align::Right),
            ("LOST", Align::Right),
        ]);
        for u in &c.connections {
            table.row(vec![
                u.upstream
                    .clone()
                    .unwrap_or_else(|| "(reconnecting)".into()),
                u.miners.to_string(),
                u.height
                    .map(|h| h.to_string())
                    .unwrap_or_else(|| "-".into()),
                u.jobs.to_string(),
                u.submitted.to_string(),
                u.accepted.to_string(),
                u.rejected.to_string(),
                u.lost.to_string(),
            ]);
        }
        out.push_str(&table.render());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use defpool_core::api::{AuditDifference, BlockStatus, ComponentHealth, PayoutStatus};

    fn coin(coin: &str, atomic: &str) -> CoinAmount {
        CoinAmount {
            coin: coin.into(),
            atomic: atomic.into(),
        }
    }

    #[test]
    fn formats_unix_ms_as_utc() {
        assert_eq!(time(0), "1970-01-01 00:00:00");
        assert_eq!(time(1_234_567_890_000), "2009-02-13 23:31:30");
        assert_eq!(time(1_700_000_000_999), "2023-11-14 22:13:20");
        assert_eq!(time(951_782_400_000), "2000-02-29 00:00:00");
        assert_eq!(time(1_709_210_096_000), "2024-02-29 12:34:56");
        assert_eq!(time(253_402_300_799_000), "9999-12-31 23:59:59");
        assert_eq!(time(-1), "1969-12-31 23:59:59");
        assert_eq!(time(-86_400_000), "1969-12-31 00:00:00");
        assert_eq!(opt_time(None), "-");
    }

    #[test]
    fn civil_dates_are_consecutive_across_leap_and_century_years() {
        // Walk day by day from 1899-12-31 to 2400-01-01 and check the calendar rules.
        let days_in = |y: i64, m: u32| match m {
            2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        let start = -25_568; // 1899-12-31
        let (mut y, mut m, mut d) = civil_from_days(start);
        assert_eq!((y, m, d), (1899, 12, 31));
        for day in start + 1..=157_054 {
            d += 1;
            if d > days_in(y, m) {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
            assert_eq!(civil_from_days(day), (y, m, d), "day {day}");
        }
        assert_eq!((y, m, d), (2400, 1, 1));
    }

    #[test]
    fn amounts_are_decimal_coins_with_ticker() {
        assert_eq!(amount(&coin("XMR", "1250000000000")), "1.25 XMR");
        assert_eq!(amount(&coin("LTC", "1")), "0.00000001 LTC");
        assert_eq!(amount(&coin("BTC", "0")), "0 BTC");
        assert_eq!(amount(&coin("DOGE", "100")), "100 atomic DOGE");
        assert_eq!(amount(&coin("XMR", "garbage")), "garbage atomic XMR");
    }

    #[test]
    fn hashrates_and_durations_read_naturally() {
        assert_eq!(hashrate(0.0), "0 H/s");
        assert_eq!(hashrate(950.4), "950 H/s");
        assert_eq!(hashrate(1_500_000.0), "1.50 MH/s");
        assert_eq!(hashrate(2.5e21), "2500.00 EH/s");
        assert_eq!(hashrate(f64::NAN), "-");
        assert_eq!(duration(0), "0s");
        assert_eq!(duration(59), "59s");
        assert_eq!(duration(3600), "1h 0m 0s");
        assert_eq!(duration(93_784), "1d 2h 3m 4s");
    }

    #[test]
    fn tables_align_columns_and_trim_trailing_space() {
        let mut t = Table::new(&[
            ("NAME", Align::Left),
            ("N", Align::Right),
            ("NOTE", Align::Left),
        ]);
        t.row(vec!["a".into(), "1000".into(), String::new()]);
        t.row(vec!["longer".into(), "2".into(), "two\nlines".into()]);
        assert_eq!(
            t.render(),
            "NAME       N  NOTE\n\
             a       1000\n\
             longer     2  two lines\n"
        );
    }

    fn sample_balance() -> BalanceView {
        BalanceView {
            coin: "XMR".into(),
            balance: coin("XMR", "1250000000000"),
            immature: coin("XMR", "1"),
            pending_payouts: coin("XMR", "0"),
            paid: coin("XMR", "10000000000000"),
            updated_at: 1_700_000_000_000,
        }
    }

    #[test]
    fn balance_table_shows_decimal_amounts() {
        let ltc = BalanceView {
            coin: "LTC".into(),
            balance: coin("LTC", "50000000"),
            immature: coin("LTC", "0"),
            pending_payouts: coin("LTC", "12345678"),
            paid: coin("LTC", "0"),
            updated_at: 0,
        };
        assert_eq!(
            balance_table(&[sample_balance(), ltc]),
            "COIN   BALANCE            IMMATURE  PENDING PAYOUTS    PAID  UPDATED\n\
             XMR   1.25 XMR  0.000000000001 XMR            0 XMR  10 XMR  2023-11-14 22:13:20\n\
             LTC    0.5 LTC               0 LTC   0.12345678 LTC   0 LTC  1970-01-01 00:00:00\n"
        );
        assert_eq!(balance_table(&[]), "no balances\n");
    }

    #[test]
    fn single_balance_is_a_labelled_list() {
        assert_eq!(
            render_balance(&sample_balance()),
            "coin             XMR\n\
             balance          1.25 XMR\n\
             immature         0.000000000001 XMR\n\
             pending payouts  0 XMR\n\
             paid             10 XMR\n\
             updated          2023-11-14 22:13:20\n"
        );
    }

    fn sample_payout(id: i64, status: PayoutStatus) -> PayoutView {
        PayoutView {
            id,
            miner: "ltc1qminer".into(),
            coin: "LTC".into(),
            amount: coin("LTC", "150000000"),
            fee: None,
            status,
            reason: None,
            tx_hash: None,
            origin: "manual".into(),
            attempts: 0,
            confirmations: 0,
            created_at: 1_700_000_000_000,
            updated_at: 1_700_000_060_000,
        }
    }

    #[test]
    fn payout_table_shows_tx_hash_or_reason() {
        let mut done = sample_payout(12, PayoutStatus::Completed);
        done.fee = Some(coin("LTC", "2250"));
        done.tx_hash = Some("ab12".into());
        done.attempts = 1;
        let mut failed = sample_payout(7, PayoutStatus::Failed);
        failed.reason = Some("invalid address".into());
        failed.origin = "auto".into();
        failed.attempts = 3;
        let pending = sample_payout(13, PayoutStatus::Pending);
        let page = Page {
            items: vec![pending, done, failed],
            next_cursor: Some("c7".into()),
        };
        assert_eq!(
            render_payouts(&page),
            "ID   AMOUNT            FEE  STATUS     ORIGIN  ATTEMPTS  CREATED              UPDATED              TX HASH / REASON\n\
             13  1.5 LTC              -  pending    manual         0  2023-11-14 22:13:20  2023-11-14 22:14:20  -\n\
             12  1.5 LTC  0.0000225 LTC  completed  manual         1  2023-11-14 22:13:20  2023-11-14 22:14:20  ab12\n \
             7  1.5 LTC              -  failed     auto           3  2023-11-14 22:13:20  2023-11-14 22:14:20  invalid address\n\
             more: --cursor c7 (or --all)\n"
        );
        let empty = Page {
            items: vec![],
            next_cursor: None,
        };
        assert_eq!(render_payouts(&empty), "no payouts\n");
    }

    #[test]
    fn created_payout_is_shown_in_full() {
        let out = render_payout(&sample_payout(13, PayoutStatus::Pending));
        assert!(
            out.starts_with("id        13\nminer     ltc1qminer\namount    1.5 LTC\n"),
            "{out}"
        );
        assert!(out.contains("status    pending\n"), "{out}");
    }

    #[test]
    fn block_table_shortens_addresses_and_hashes() {
        let block = BlockView {
            id: 3,
            coin: "XMR".into(),
            height: 3_100_000,
            hash: "9f3a1b2c3d4e5f60718293a4b5c6d7e8f90123456789abcdef0123456789abcd".into(),
            reward: coin("XMR", "600000000000"),
            finder: "4AdUndXHHZ6cfufTMvppY6JwXNouMBzSkbLYfpAV5Usx3skxNgYeYTRj5UzqtReoS44qo9mtmXCqY45DJ852K5Jv2684Rge".into(),
            worker: "rig1".into(),
            mode: "pool".into(),
            scheme: "pplns".into(),
            status: BlockStatus::Pending,
            confirmations: 12,
            maturity: 60,
            network_difficulty: 3.5e11,
            found_at: 1_700_000_000_000,
            updated_at: 1_700_000_100_000,
        };
        assert_eq!(
            render_blocks(&Page { items: vec![block], next_cursor: None }),
            "ID  COIN   HEIGHT  STATUS   CONFIRMATIONS   REWARD  FINDER           WORKER  SCHEME  FOUND                HASH\n \
             3  XMR   3100000  pending          12/60  0.6 XMR  4AdUndXH…684Rge  rig1    pplns   2023-11-14 22:13:20  9f3a1b2c3d…89abcd\n"
        );
        assert_eq!(
            render_blocks(&Page {
                items: vec![],
                next_cursor: None
            }),
            "no blocks\n"
        );
    }

    #[test]
    fn health_lists_components() {
        let h = Health {
            status: "degraded".into(),
            version: "0.1.0".into(),
            uptime_secs: 3725,
            components: vec![
                ComponentHealth {
                    name: "database".into(),
                    status: "ok".into(),
                    detail: None,
                },
                ComponentHealth {
                    name: "daemon:XMR:http://127.0.0.1:18081".into(),
                    status: "down".into(),
                    detail: Some("connection refused".into()),
                },
            ],
        };
        assert_eq!(
            render_health(&h),
            "status   degraded\n\
             version  0.1.0\n\
             uptime   1h 2m 5s\n\
             \n\
             COMPONENT                          STATUS  DETAIL\n\
             database                           ok      -\n\
             daemon:XMR:http://127.0.0.1:18081  down    connection refused\n"
        );
    }

    #[test]
    fn audit_prints_a_clean_line_or_the_differences() {
        let mut report = AuditReport {
            ok: true,
            balances_checked: 10,
            blocks_checked: 4,
            payouts_checked: 7,
            differences: vec![],
        };
        assert_eq!(
            render_audit(&report),
            "audit clean: 10 balances, 4 blocks, 7 payouts checked\n"
        );
        report.ok = false;
        report.differences.push(AuditDifference {
            kind: "balance".into(),
            coin: "XMR".into(),
            subject: "4Adx".into(),
            expected: "1000000000000".into(),
            actual: "999999999999".into(),
        });
        assert_eq!(
            render_audit(&report),
            "KIND     COIN  SUBJECT  EXPECTED              ACTUAL\n\
             balance  XMR   4Adx        1 XMR  0.999999999999 XMR\n\
             \n\
             audit FAILED: 1 difference (10 balances, 4 blocks, 7 payouts checked)\n"
        );
    }

    #[test]
    fn miners_bans_and_reloads_render_as_tables_and_sentences() {
        let page = Page {
            items: vec![MinerSummaryView {
                miner: "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A".into(),
                coin: "XMR".into(),
                workers: 2,
                hashrate: 1500.0,
                last_share_at: Some(0),
                balance: coin("XMR", "2000000000000"),
                first_seen_at: 0,
            }],
            next_cursor: Some("7".into()),
        };
        assert_eq!(
            render_miners(&page),
            "MINER            COIN  WORKERS   HASHRATE  LAST SHARE           BALANCE\n\
             44AFFq5k…QBEP3A  XMR         2  1.50 kH/s  1970-01-01 00:00:00    2 XMR\n\
             more: --cursor 7 (or --all)\n"
        );
        let bans = BanList {
            bans: vec![BanView {
                ip: "10.1.2.3".into(),
                expires_at: 3_600_000,
                remaining_secs: 3600,
            }],
        };
        assert_eq!(
            render_bans(&bans),
            "IP        EXPIRES              REMAINING\n\
             10.1.2.3  1970-01-01 01:00:00   1h 0m 0s\n"
        );
        assert_eq!(render_bans(&BanList { bans: vec![] }), "no bans\n");
        let reload = ConfigReload {
            source: "/etc/defpool.toml".into(),
            changed: vec!["coins[XMR].min_payout".into()],
        };
        assert_eq!(
            render_reload(&reload),
            "reloaded /etc/defpool.toml: applied coins[XMR].min_payout\n"
        );
    }

    #[test]
    fn short_keeps_short_strings_whole() {
        assert_eq!(short("rig1", 8, 6), "rig1");
        assert_eq!(short("abcdefghijklmnop", 4, 4), "abcd…mnop");
        assert_eq!(short("abcdefghi", 4, 4), "abcdefghi");
    }
}
