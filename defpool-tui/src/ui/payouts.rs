//! Payouts: the queue by state (pending, processing, then the failed and completed
//! ones seen since the dashboard started), with the selected payout's details below.

use defpool_core::api::PayoutStatus;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::Line;
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState, Wrap};
use ratatui::Frame;

use super::{filter_suffix, header_style, panel, selected_style};
use crate::app::{App, Screen};
use crate::format;

/// Width of every column but the miner's, with the spacing between them.
const FIXED: u16 = 5 + 18 + 10 + 8 + 4 + 5;

fn status_style(status: PayoutStatus) -> Style {
    match status {
        PayoutStatus::Pending => Style::new().fg(Color::Yellow),
        PayoutStatus::Processing => Style::new().fg(Color::Cyan),
        PayoutStatus::Completed => Style::new().fg(Color::Green),
        PayoutStatus::Failed => Style::new().fg(Color::Red),
    }
}

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let rows = app.payout_rows();
    let count = |s: PayoutStatus| rows.iter().filter(|p| p.status == s).count();
    let title = format!(
        " Payouts: {} pending, {} processing, {} failed, {} completed{} ",
        count(PayoutStatus::Pending),
        count(PayoutStatus::Processing),
        count(PayoutStatus::Failed),
        count(PayoutStatus::Completed),
        filter_suffix(app, Screen::Payouts)
    );
    let [table_area, detail_area] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(5)]).areas(area);
    if rows.is_empty() {
        frame.render_widget(
            Paragraph::new("No payout in the queue. p requests one.").block(panel(title)),
            table_area,
        );
    } else {
        let miner_width = area.width.saturating_sub(2 + FIXED).max(9) as usize;
        let table_rows: Vec<Row> = rows
            .iter()
            .map(|p| {
                let progress = match (&p.tx_hash, p.status) {
                    (Some(_), _) => format!("{} conf", p.confirmations),
                    (None, PayoutStatus::Failed) => "not sent".to_string(),
                    (None, _) => "-".to_string(),
                };
                Row::new(vec![
                    Cell::from(format!("{:>5}", p.id)),
                    Cell::from(format::short_address(&p.miner, miner_width)),
                    Cell::from(format!("{:>18}", format::amount(&p.amount))),
                    Cell::from(p.status.as_str()).style(status_style(p.status)),
                    Cell::from(progress),
                    Cell::from(format::age(app.now, Some(p.updated_at))),
                ])
            })
            .collect();
        let header = Row::new(["   ID", "MINER", "            AMOUNT", "STATE", "TX", "AGE"])
            .style(header_style());
        let widths = [
            Constraint::Length(5),
            Constraint::Fill(1),
            Constraint::Length(18),
            Constraint::Length(10),
            Constraint::Length(8),
            Constraint::Length(4),
        ];
        let table = Table::new(table_rows, widths)
            .header(header)
            .block(panel(title))
            .row_highlight_style(selected_style());
        let mut state = TableState::default().with_selected(Some(app.selection(Screen::Payouts)));
        frame.render_stateful_widget(table, table_area, &mut state);
    }

    let width = detail_area.width.saturating_sub(2) as usize;
    let lines: Vec<Line> = match rows.get(app.selection(Screen::Payouts)) {
        Some(p) => {
            let mut first = format!(
                "#{} {} {} · {} attempt(s)",
                p.id,
                p.origin,
                p.status.as_str(),
                p.attempts
            );
            if let Some(fee) = &p.fee {
                first.push_str(&format!(" · fee {}", format::amount(fee)));
            }
            if let Some(r) = &p.reason {
                first.push_str(" · ");
                first.push_str(r);
            }
            // The whole address (it wraps): this is where an operator copies it from.
            vec![
                Line::raw(p.miner.clone()),
                Line::raw(format::ellipsize(&first, width)),
            ]
        }
        None => vec![Line::raw("")],
    };
    let tx = rows
        .get(app.selection(Screen::Payouts))
        .and_then(|p| p.tx_hash.clone())
        .map(|h| format!(" tx {} ", format::short_address(&h, 30)))
        .unwrap_or_else(|| " Selected ".to_string());
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(panel(tx)),
        detail_area,
    );
}
