//! Miners: every miner the stream has shown, sortable and filterable, and the drill-in
//! of one (workers and balances from the REST API, recent share windows from the
//! stream).

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState, Wrap};
use ratatui::Frame;

use super::{filter_suffix, header_style, panel, selected_style};
use crate::app::{App, MinerDetail, Screen};
use crate::format;

/// Width of every column but the miner's, with the spacing between them.
const FIXED: u16 = 4 + 3 + 10 + 6 + 5 + 4 + 6;

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    if let Some(d) = &app.detail {
        render_detail(app, d, frame, area);
        return;
    }
    let rows = app.miner_rows();
    let online = rows.iter().filter(|m| m.online(app.now)).count();
    let arrow = if app.sort_reversed { "↑" } else { "↓" };
    let title = format!(
        " Miners {online}/{} online · by {} {arrow}{} ",
        rows.len(),
        app.miner_sort.as_str(),
        filter_suffix(app, Screen::Miners)
    );
    if rows.is_empty() {
        let text = if app.miners.is_empty() {
            "No miner has connected or sent a share since the dashboard started."
        } else {
            "No miner matches the filter (Esc clears it)."
        };
        frame.render_widget(
            Paragraph::new(text)
                .wrap(Wrap { trim: true })
                .block(panel(title)),
            area,
        );
        return;
    }
    let miner_width = area.width.saturating_sub(2 + FIXED).max(9) as usize;
    let header =
        Row::new(["MINER", "COIN", "WRK", "HASHRATE", "ACC", "REJ", "LAST"]).style(header_style());
    let table_rows: Vec<Row> = rows
        .iter()
        .map(|m| {
            let coins: Vec<&str> = m.coins.iter().map(String::as_str).collect();
            let style = if m.online(app.now) {
                Style::new()
            } else {
                Style::new().fg(Color::DarkGray)
            };
            Row::new(vec![
                Cell::from(format::short_address(&m.miner, miner_width)),
                Cell::from(coins.join(",")),
                // Sessions opened before we connected are not known: no count then.
                Cell::from(if m.workers.is_empty() {
                    "-".to_string()
                } else {
                    m.workers.len().to_string()
                }),
                Cell::from(format::hashrate(m.hashrate(app.now))),
                Cell::from(format::compact(m.accepted as f64)),
                Cell::from(format::compact(m.rejected as f64)),
                Cell::from(format::age(app.now, m.last_share_at)),
            ])
            .style(style)
        })
        .collect();
    let widths = [
        Constraint::Fill(1),
        Constraint::Length(4),
        Constraint::Length(3),
        Constraint::Length(10),
        Constraint::Length(6),
        Constraint::Length(5),
        Constraint::Length(4),
    ];
    let table = Table::new(table_rows, widths)
        .header(header)
        .block(panel(title))
        .row_highlight_style(selected_style());
    let mut state = TableState::default().with_selected(Some(app.selection(Screen::Miners)));
    frame.render_stateful_widget(table, area, &mut state);
}

fn render_detail(app: &App, d: &MinerDetail, frame: &mut Frame, area: Rect) {
    let title = format!(" Miner {} ", format::short_address(&d.wallet, 40));
    let block = panel(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let row = app.miners.get(&d.wallet);
    let workers = d.view.as_ref().map_or(0, |v| v.workers.len()) as u16;
    let balances = d.view.as_ref().map_or(0, |v| v.balances.len()) as u16;
    let [info, workers_area, balances_area, recent_area] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Length(workers.max(1) + 1),
        Constraint::Length(balances.max(1) + 1),
        Constraint::Fill(1),
    ])
    .areas(inner);

    let mut lines = vec![Line::raw(format::ellipsize(
        &d.wallet,
        inner.width as usize,
    ))];
    match (&d.view, &d.error) {
        (_, Some(e)) => lines.push(Line::styled(
            format!("node: {e}"),
            Style::new().fg(Color::Red),
        )),
        (Some(v), None) => {
            lines.push(Line::raw(format!(
                "{} {} over {}s · valid {} invalid {} · last share {} ago",
                v.coin,
                format::hashrate(v.hashrate),
                v.hashrate_window_secs,
                v.valid_shares,
                v.invalid_shares,
                format::age(app.now, v.last_share_at)
            )));
        }
        (None, None) => lines.push(Line::styled(
            "loading from the node…",
            Style::new().fg(Color::DarkGray),
        )),
    }
    if let Some(r) = row {
        let sessions = if r.workers.is_empty() {
            String::new()
        } else {
            let names: Vec<&str> = r.workers.iter().map(String::as_str).collect();
            format!(" · open: {}", names.join(", "))
        };
        lines.push(Line::raw(format::ellipsize(
            &format!(
                "live: {} · {} ok {} rejected since connect{sessions}",
                format::hashrate(r.hashrate(app.now)),
                r.accepted,
                r.rejected
            ),
            inner.width as usize,
        )));
    }
    frame.render_widget(Paragraph::new(lines), info);

    let header = Row::new(["WORKER", "HASHRATE", "VALID", "INVALID", "LAST"]).style(header_style());
    let worker_rows: Vec<Row> = d
        .view
        .iter()
        .flat_map(|v| v.workers.iter())
        .map(|w| {
            Row::new(vec![
                w.name.clone(),
                format::hashrate(w.hashrate),
                w.valid_shares.to_string(),
                w.invalid_shares.to_string(),
                format::age(app.now, w.last_share_at),
            ])
        })
        .collect();
    frame.render_widget(
        Table::new(
            worker_rows,
            [
                Constraint::Fill(1),
                Constraint::Length(10),
                Constraint::Length(7),
                Constraint::Length(7),
                Constraint::Length(5),
            ],
        )
        .header(header),
        workers_area,
    );

    let header = Row::new(["COIN", "BALANCE", "IMMATURE", "PENDING", "PAID"]).style(header_style());
    let balance_rows: Vec<Row> = d
        .view
        .iter()
        .flat_map(|v| v.balances.iter())
        .map(|b| {
            Row::new(vec![
                b.coin.clone(),
                b.balance.to_decimal(),
                b.immature.to_decimal(),
                b.pending_payouts.to_decimal(),
                b.paid.to_decimal(),
            ])
        })
        .collect();
    frame.render_widget(
        Table::new(
            balance_rows,
            [
                Constraint::Length(5),
                Constraint::Fill(1),
                Constraint::Fill(1),
                Constraint::Fill(1),
                Constraint::Fill(1),
            ],
        )
        .header(header),
        balances_area,
    );

    let mut lines = vec![Line::styled("RECENT SHARES (live)", header_style())];
    match row {
        Some(r) if !r.recent.is_empty() => {
            for w in r.recent.iter().rev() {
                lines.push(Line::from(vec![
                    Span::raw(format!("{} {} ", format::clock(w.at), w.coin)),
                    Span::styled(format!("{} ok", w.accepted), Style::new().fg(Color::Green)),
                    Span::raw(" "),
                    Span::styled(format!("{} rej", w.rejected), Style::new().fg(Color::Red)),
                    Span::raw(format!("  diff {}", format::compact(w.accepted_difficulty))),
                ]));
            }
        }
        _ => lines.push(Line::styled(
            "no share since the dashboard started",
            Style::new().fg(Color::DarkGray),
        )),
    }
    frame.render_widget(Paragraph::new(lines), recent_area);
}
